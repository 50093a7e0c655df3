"""The master's roll of load workers: who said hello, who was let in, who was refused and why.

A worker says hello once connected (harness.contract.WorkerHello). The master refuses one that runs
another harness version or speaks another message version (its records would not be comparable, and
its messages might not be understood), one whose node name is not a safe file-name part (it names the
worker's shards) and one whose node name another worker already has. A local worker is in at once; a
remote one gets the run's setup first and is in when it says it is ready. Pure: harness.load.distributed
moves the messages and calls this.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from harness.contract import NODE_NAME, WIRE_VERSION, WorkerHello, WorkerJoined, WorkerRefused

Decision = Literal["join", "setup", "refuse"]


@dataclass
class Roll:
    version: str  # the master's harness version
    joined: dict[str, WorkerJoined] = field(default_factory=dict)  # Locust client id -> who
    waiting: dict[str, WorkerHello] = field(default_factory=dict)  # remote: setup sent, not ready yet
    refused: list[WorkerRefused] = field(default_factory=list)

    def hello(self, client_id: str, hello: WorkerHello, now: float) -> tuple[Decision, WorkerRefused | None]:
        """What to do with a worker that said hello: let it in, send it the setup, or refuse it."""
        reason = self._refusal(client_id, hello)
        if reason is not None:
            refused: WorkerRefused = {"kind": "worker_refused", "ts": now, "node": str(hello.get("node")),
                                      "host": str(hello.get("host")), "reason": reason}  # fmt: skip
            self.refused.append(refused)
            return "refuse", refused
        if hello["remote"]:
            self.waiting[client_id] = hello
            return "setup", None
        self._join(client_id, hello, now)
        return "join", None

    def ready(self, client_id: str, now: float) -> WorkerJoined | None:
        """A remote worker applied the setup: it is in."""
        hello = self.waiting.pop(client_id, None)
        return None if hello is None else self._join(client_id, hello, now)

    def declined(self, client_id: str, reason: str, now: float) -> WorkerRefused | None:
        """A remote worker could not take part (its own reason, e.g. credentials missing on its machine)."""
        hello = self.waiting.pop(client_id, None) or self.joined.pop(client_id, None)
        if hello is None:
            return None
        refused: WorkerRefused = {"kind": "worker_refused", "ts": now, "node": hello["node"], "host": hello["host"],
                                  "reason": reason}  # fmt: skip
        self.refused.append(refused)
        return refused

    def node_of(self, client_id: str) -> str:
        who = self.joined.get(client_id) or self.waiting.get(client_id)
        return who["node"] if who is not None else client_id

    def remote(self, client_id: str) -> bool:
        who = self.joined.get(client_id)
        return bool(who and who["remote"])

    @property
    def count(self) -> int:
        return len(self.joined)

    def describe(self) -> str:
        """Who is in, for messages: `w1 (host a, pid 12, 2 cores)`..."""
        return ", ".join(f"{w['node']} ({w['host']}, pid {w['pid']}, {w['cores']} cores)" for w in self.joined.values())

    def _refusal(self, client_id: str, hello: WorkerHello) -> str | None:
        if hello.get("wire") != WIRE_VERSION or hello.get("version") != self.version:
            return (
                f"it runs harness {hello.get('version')} (messages v{hello.get('wire')}), the master runs "
                f"{self.version} (messages v{WIRE_VERSION}); install the same version on every machine"
            )
        node = str(hello.get("node"))
        if not NODE_NAME.fullmatch(node):
            return f"its node name {node!r} is not 1-64 letters, digits, '.', '_' or '-' (it names its record files)"
        taken = [cid for cid, w in {**self.joined, **self.waiting}.items() if w["node"] == node and cid != client_id]
        if taken or node in ("master", "local"):
            return f"the node name {node} is taken by another worker; give each worker its own (--node)"
        return None

    def _join(self, client_id: str, hello: WorkerHello, now: float) -> WorkerJoined:
        joined: WorkerJoined = {
            "kind": "worker_joined", "ts": now, "node": hello["node"], "client_id": client_id, "host": hello["host"],
            "pid": int(hello["pid"]), "cores": int(hello["cores"]), "version": hello["version"],
            "remote": bool(hello["remote"]),
        }  # fmt: skip
        self.joined[client_id] = joined
        return joined
