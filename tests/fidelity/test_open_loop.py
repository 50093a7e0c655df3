"""Coordinated omission: against a server that stalls for 2 s, closed-loop p99 under-reports the stall
(each closed-loop user waits inside one slow request, so the stall yields one sample per user), while the
open-loop p99 (latency counted from when each request was due, harness.load.pacing) reflects it: about a
third of the requests due in the 6 s window were due during the stall, with waits spread from 0 to 2 s."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

import pandas as pd
import pytest
import requests

from harness.analysis.metrics import latency_percentile
from harness.clients import Caller, RetryPolicy
from harness.load.pacing import Pacer
from harness.scenario.model import Retry
from tests.fidelity.servers import MemorySink, ServerLog, logging_server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]
USERS, RATE_PER_S, RUN_S, STALL_AT_S, STALL_S = 2, 60.0, 6.0, 2.0, 2.0
POLICY = RetryPolicy(Retry.model_validate({"stop": {"after_attempt": 1}, "timeout_s": {"connect": 2, "read": 5}}))


def _run(url: str, make_user: Callable[[str, MemorySink, float, int], None]) -> pd.DataFrame:
    sink = MemorySink()
    end = time.time() + RUN_S
    threads = [threading.Thread(target=make_user, args=(url, sink, end, n)) for n in range(USERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=RUN_S + 10)
    return pd.DataFrame(sink.operations)


def _closed(url: str, sink: MemorySink, end: float, _: int) -> None:
    with requests.Session() as session:
        caller = Caller(session, POLICY, sink, user="c", node="fidelity", phase=lambda: "p")
        while time.time() < end:
            caller.call("fidelity", "token", "POST", f"{url}/token", endpoint="token")


def _open(url: str, sink: MemorySink, end: float, n: int) -> None:
    with requests.Session() as session:
        caller = Caller(session, POLICY, sink, user="o", node="fidelity", phase=lambda: "p")
        pacer = Pacer(lambda: (RATE_PER_S, USERS), random.Random(n))
        while pacer.due_ts < end:
            time.sleep(pacer.wait_s())
            caller.intended_ts = pacer.start()
            caller.call("fidelity", "token", "POST", f"{url}/token", endpoint="token")


def test_open_loop_p99_shows_the_stall_closed_loop_hides_it() -> None:
    found = {}
    for name, user in (("closed", _closed), ("open", _open)):
        log = ServerLog(stall_from=time.time() + STALL_AT_S, stall_s=STALL_S)
        with logging_server(log) as url:
            ops = _run(url, user)
        assert (ops["outcome"] == "ok").all()
        found[name] = {"n": len(ops), "p99": latency_percentile(ops, 99), "max": ops["latency_ms"].max()}
    closed, opened = found["closed"], found["open"]
    # both saw the stall ...
    assert closed["max"] >= 0.9 * STALL_S * 1000 and opened["max"] >= 0.9 * STALL_S * 1000, found
    # ... but closed loop recorded it as a couple of samples among thousands, open loop as ~a third of them
    assert closed["p99"] < 0.25 * STALL_S * 1000, found
    assert opened["p99"] >= 0.75 * STALL_S * 1000, found
