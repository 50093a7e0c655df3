"""--listen with issue 15's proxies: every proxy of the run (the embedded target's, or one per origin of an
external provider) listens on the --listen address; an external provider without a proxy has nothing of
ours to listen, and is refused; --dry-run says where each listens. No socket, no process."""

from __future__ import annotations

from typing import Any

import pytest

from harness.errors import InputError
from harness.run.plan import describe_plan
from harness.run.proxies import RunProxies
from harness.run.start import check_listen_target
from harness.scenario.model import EmbeddedProxy, Scenario, ToxiproxyProxy

PHASES = [{"name": "p", "duration_s": 1}]
EXTERNAL = {"kind": "external", "issuer": "https://idp.example.com", "allow": ["idp.example.com"]}


class FakeApi:
    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []

    def create_proxy(self, name: str, **fields: Any) -> dict[str, Any]:
        self.created.append({"name": name, **fields})
        host = str(fields["listen"]).rsplit(":", 1)[0]
        return {"name": name, "listen": f"{host}:4{len(self.created):04d}"}


def test_every_proxy_listens_on_the_listen_address() -> None:
    proxies = RunProxies(ToxiproxyProxy(kind="toxiproxy", api="http://127.0.0.1:8474"), 0, "r", spawn=None,  # type: ignore[arg-type]
                         on_shared=lambda shared: None, listen="10.1.2.3")  # fmt: skip
    api = FakeApi()
    proxies.client, proxies.api_url = api, "http://127.0.0.1:8474"  # type: ignore[assignment]
    assert proxies.add("idp.example.com:443")[1] == "10.1.2.3:40001"
    assert proxies.add("static.example.com:443")[1] == "10.1.2.3:40002"
    assert [c["listen"] for c in api.created] == ["10.1.2.3:0", "10.1.2.3:0"]


def test_without_listen_proxies_stay_on_loopback() -> None:
    proxies = RunProxies(ToxiproxyProxy(kind="toxiproxy", api="http://127.0.0.1:8474"), 0, "r", spawn=None,  # type: ignore[arg-type]
                         on_shared=lambda shared: None)  # fmt: skip
    api = FakeApi()
    proxies.client, proxies.api_url = api, "http://127.0.0.1:8474"  # type: ignore[assignment]
    assert proxies.add("127.0.0.1:9000")[1].startswith("127.0.0.1:")


def test_our_proxy_process_is_allowed_to_listen_there() -> None:
    started: list[list[str]] = []

    def spawn(name: str, argv: list[str]) -> Any:
        started.append(argv)
        raise RuntimeError("not started in a unit test")

    proxies = RunProxies(EmbeddedProxy(kind="embedded"), 0, "r", spawn, lambda shared: None, listen="10.1.2.3")
    with pytest.raises(RuntimeError):
        proxies.open()
    argv = started[0]
    assert argv[argv.index("--allow-listen") + 1] == "10.1.2.3"


def test_a_scenario_can_keep_the_proxy_off_its_native_relay() -> None:
    started: list[list[str]] = []

    def spawn(name: str, argv: list[str]) -> Any:
        started.append(argv)
        raise RuntimeError("not started in a unit test")

    for native_relay in (True, False):
        with pytest.raises(RuntimeError):
            RunProxies(EmbeddedProxy(kind="embedded", native_relay=native_relay), 0, "r", spawn,
                       lambda shared: None).open()  # fmt: skip
    assert ["--no-native" in argv for argv in started] == [False, True]
    python_only = {"kind": "embedded", "native_relay": False}
    scenario = Scenario.model_validate({"name": "s", "phases": PHASES, "proxy": python_only})
    assert "every connection relayed in Python (native_relay: false)" in describe_plan(scenario)


def test_an_external_provider_needs_a_proxy_to_listen() -> None:
    bare = Scenario.model_validate({"name": "x", "phases": PHASES, "target": EXTERNAL, "proxy": {"kind": "none"}})
    with pytest.raises(InputError, match=r"--listen 10\.1\.2\.3: an external provider without a proxy"):
        check_listen_target(bare, "10.1.2.3")
    proxied = Scenario.model_validate({"name": "x", "phases": PHASES, "target": EXTERNAL})
    check_listen_target(proxied, "10.1.2.3")  # its proxies listen there


def test_dry_run_says_where_the_target_and_the_proxy_listen() -> None:
    scenario = Scenario.model_validate({"name": "s", "phases": PHASES, "target": {"kind": "embedded", "tls": True}})
    plan = describe_plan(scenario, None, "10.1.2.3")
    assert "target: embedded (started on 10.1.2.3 (--listen), a free port" in plan
    assert "proxy: embedded `harness proxy` listening on 10.1.2.3 (--listen)" in plan
    assert "started on 127.0.0.1" in describe_plan(scenario)
