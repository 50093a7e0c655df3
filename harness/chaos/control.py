"""The control channel between the fault timeline (in Locust) and the orchestrator (which owns the target
and the namespace): a tiny HTTP server on 127.0.0.1, a random port, and a random bearer token handed to
Locust by environment variable only (never logged, never in runtime.json).

    POST   /faults/<name>   body: the fault as in the scenario (validated again here) -> what was done
    DELETE /faults/<name>                                                               -> what was done
Errors: 401 without the token, 404 unknown route or fault, 400 bad fault, 409 the change failed.
"""

from __future__ import annotations

import hmac
import json
import secrets
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pydantic import ValidationError

from harness.chaos.command import Commands
from harness.chaos.netfaults import NetFaults
from harness.chaos.plugin import PluginFaults
from harness.chaos.process import ProcessFaults
from harness.contract import Env, HostEvent
from harness.faults import FAULT_ADAPTER, FaultModel, PluginFault
from harness.faults.base import NetworkFault, ProcessFault
from harness.faults.command import CommandFault

HostFault = ProcessFault | NetworkFault | CommandFault | PluginFault


class FaultRefused(Exception):
    """A fault that cannot be applied here (no namespace, kernel feature missing, ...)."""


class HostFaults:
    """Applies and removes process, network, command and plugin faults; every change is also written to the
    timeline."""

    def __init__(
        self,
        processes: ProcessFaults | None,
        network: NetFaults | None,
        emit: Callable[[HostEvent], None],
        clock: Callable[[], float],
        kernel: dict[str, bool] | None = None,
        commands: Commands | None = None,
        plugins: PluginFaults | None = None,
    ):
        self.processes, self.network, self.emit, self.clock = processes, network, emit, clock
        self.kernel = kernel or {}
        self.commands, self.plugins = commands, plugins
        self._types: dict[str, HostFault] = {}

    def apply(self, name: str, fault: HostFault) -> dict[str, Any]:
        asked = self.clock()
        if isinstance(fault, CommandFault):
            if self.commands is None:
                raise FaultRefused(f"{fault.type}: no command runner in this run")
            done = self.commands.apply(name, fault)
        elif isinstance(fault, PluginFault):
            if self.plugins is None:
                raise FaultRefused(f"{fault.type}: no plugin fault runner in this run")
            done = self.plugins.apply(name, fault)
        elif isinstance(fault, ProcessFault):
            if self.processes is None:
                raise FaultRefused(f"{fault.type}: no target process of ours in this run")
            done = self.processes.apply(name, fault)
        else:
            if self.network is None:
                raise FaultRefused(f"{fault.type}: the target does not run in a namespace (target.netns)")
            feature = fault.kernel_feature
            if not self.kernel.get(feature, False):
                raise FaultRefused(f"{fault.type}: this kernel has no {feature} (probed at start)")
            done = self.network.apply(name, fault)
        self._types[name] = fault
        self.emit({"kind": "host_fault_applied", "toxic": name, "type": fault.type, "asked_at": asked,
                   "ts": self.clock(), **done})  # fmt: skip
        return done

    def remove(self, name: str) -> dict[str, Any]:
        asked = self.clock()
        fault = self._types.pop(name)
        if isinstance(fault, CommandFault):
            assert self.commands is not None
            done = self.commands.remove(name)
        elif isinstance(fault, PluginFault):
            assert self.plugins is not None
            done = self.plugins.remove(name)
        elif isinstance(fault, ProcessFault):
            assert self.processes is not None
            done = self.processes.remove(name)
        else:
            assert self.network is not None
            done = self.network.remove(name)
        self.emit({"kind": "host_fault_removed", "toxic": name, "type": fault.type, "asked_at": asked,
                   "ts": self.clock(), **done})  # fmt: skip
        return done

    def active(self) -> list[str]:
        return list(self._types)


class ControlServer:
    """Serves HostFaults on 127.0.0.1 in a thread; `close()` stops it (idempotent)."""

    def __init__(self, faults: HostFaults):
        self.faults = faults
        self.token = secrets.token_urlsafe(32)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="chaos-control", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def env(self) -> dict[str, str]:
        return {Env.CHAOS_API: self.url, Env.CHAOS_TOKEN: self.token}

    def start(self) -> ControlServer:
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    def handle(self, method: str, path: str, auth: str, body: bytes) -> tuple[int, dict[str, Any]]:
        if not hmac.compare_digest(auth.encode(), f"Bearer {self.token}".encode()):
            return 401, {"error": "unauthorized"}
        prefix = "/faults/"
        name = path[len(prefix) :] if path.startswith(prefix) else ""
        if not name or "/" in name:
            return 404, {"error": "no such route"}
        with self._lock:  # one change at a time, in the order asked
            try:
                if method == "POST":
                    fault: FaultModel = FAULT_ADAPTER.validate_python(json.loads(body or b"{}"))
                    if not isinstance(fault, HostFault):
                        return 400, {"error": f"{fault.type} is a {fault.channel} fault, not a host one"}
                    return 200, self.faults.apply(name, fault)
                if method == "DELETE":
                    if name not in self.faults.active():
                        return 404, {"error": f"no active fault {name}"}
                    return 200, self.faults.remove(name)
            except (ValidationError, ValueError) as exc:
                return 400, {"error": str(exc)}
            except Exception as exc:
                return 409, {"error": f"{type(exc).__name__}: {exc}"}
        return 404, {"error": "no such route"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        control = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(length, 65536))
                status, payload = control.handle(self.command, self.path, self.headers.get("Authorization", ""), body)
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_POST = do_DELETE = do_GET = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass  # nothing to the orchestrator's stderr; the timeline has every change

        return Handler
