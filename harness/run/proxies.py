"""The run's fault proxies: our own `harness proxy` process, or proxies of our own on a shared Toxiproxy
API, one per upstream origin (the embedded target's one, or each allowed origin of an external provider),
with TLS on the hops that need it (harness.proxy.tls). What was made is what the rollback removes.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from harness.errors import InfrastructureError
from harness.proxy.client import ToxiproxyClient
from harness.run.remote import url_host
from harness.run.rollback import ProxyInUse
from harness.run.services import ManagedProcess, free_port, python_module, wait_until_ready
from harness.scenario.model import EmbeddedProxy, ToxiproxyProxy

PROXY_NAME = "sso"
READY_TIMEOUT_S = 30.0

Spawn = Callable[[str, list[str]], ManagedProcess]


class RunProxies:
    def __init__(self, config: EmbeddedProxy | ToxiproxyProxy, seed: int, run_id: str, spawn: Spawn,
                 on_shared: Callable[[dict[str, Any]], None], listen: str | None = None):  # fmt: skip
        self.config, self.seed, self.run_id = config, seed, run_id
        self.listen = listen  # --listen: every proxy listens on this address of the machine, not loopback
        self._spawn, self._on_shared = spawn, on_shared
        self.api_url: str | None = None
        self.client: ToxiproxyClient | None = None
        self.process: ManagedProcess | None = None
        self.in_use: ProxyInUse | None = None
        self._prefix = PROXY_NAME
        self.made: list[dict[str, Any]] = []  # what each proxy is, for the journal

    def open(self) -> ToxiproxyClient:
        """Our proxy process ready, or the shared API answering; once."""
        if self.client is not None:
            return self.client
        if isinstance(self.config, EmbeddedProxy):
            api_url = f"http://127.0.0.1:{free_port()}"
            argv = python_module("harness", "proxy", "--port", api_url.rsplit(":", 1)[1], "--seed", str(self.seed))
            if not self.config.native_relay:
                argv.append("--no-native")
            if self.listen is not None:
                argv += ["--allow-listen", self.listen]  # its listeners there too; its API stays on loopback
            self.process = self._spawn("proxy", argv)
            wait_until_ready(self.process, f"{api_url}/version", READY_TIMEOUT_S)
        else:
            api_url = self.config.api.rstrip("/")
            # a shared proxy: names of our own, so that rollback touches nothing of anyone else's
            self._prefix = f"harness-{self.run_id}-{secrets.token_hex(3)}".lower()
        self.api_url, self.client = api_url, ToxiproxyClient(api_url)
        if self.process is None:
            try:
                self.client.get_proxies()
            except Exception as exc:
                raise InfrastructureError(f"the proxy API at {api_url} does not answer: {exc}") from exc
        return self.client

    def add(self, upstream: str, *, listen_tls: dict[str, str] | None = None,
            upstream_tls: dict[str, str] | None = None) -> tuple[str, str]:  # fmt: skip
        """A proxy to `upstream` on a free port of loopback (or of --listen): (its name, its listen address)."""
        client = self.open()
        name = self._prefix if self.in_use is None else f"{self._prefix}-{len(self.in_use.names) + 1}"
        # known to the rollback and registered before it exists: a signal or a crash during create_proxy
        # still finds it by its name, unique to the run
        if self.in_use is None:
            self.in_use = ProxyInUse(client, name, ours=self.process is not None, process=self.process)
        else:
            self.in_use.more += (name,)
        if self.process is None:
            self._on_shared({"api": self.api_url, "name": self.in_use.name, "names": list(self.in_use.names)})
        listen = f"{url_host(self.listen)}:0" if self.listen is not None else "127.0.0.1:0"
        created = client.create_proxy(name, upstream=upstream, listen=listen, listen_tls=listen_tls,
                                      upstream_tls=upstream_tls)  # fmt: skip
        for field, asked in (("listen_tls", listen_tls), ("upstream_tls", upstream_tls)):
            if asked is not None and field not in created:
                raise InfrastructureError(
                    f"the proxy at {self.api_url} ignored {field}: it does not speak TLS (a Toxiproxy?). An https "
                    "provider needs the harness's own proxy: proxy: {kind: embedded}, or `harness proxy` as the API"
                )
        self.made.append({"name": name, "listen": created["listen"], "upstream": upstream,
                          "tls": {k: created[k] for k in ("listen_tls", "upstream_tls") if k in created}})  # fmt: skip
        return name, str(created["listen"])
