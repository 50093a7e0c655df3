"""Every attempt the clients recorded is seen by the server side, and the other way round, per endpoint and
status for status, under faults, in a local run and with two Locust workers (and two target workers). The
local run's proxy hands the connections its toxic leaves alone to its native relay; the other's keeps
every connection in Python (`native_relay: false`): the counts must agree either way.

The target logs one line per request it served (logs/requests.jsonl, with the X-Harness-Op-Id the client
sent), so attempts are matched one by one on (op id, endpoint, status):
- what the clients recorded and the target did not serve is exactly what the proxy's http_error toxic
  answered itself, per endpoint (the journal says which endpoint each toxic was on);
- what the target served and the clients did not record is only the requests of users Locust stopped
  mid-request when the last phase ended: their op ids appear nowhere in the records, at most one per user;
- the target's lines without an op id are the orchestrator's own: its steady-state token probes and its
  readiness checks.
The proxy's request counter, summed over endpoints, closes the loop once more."""

from __future__ import annotations

import json
import re
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.analysis.proxy_counters import parse_toxic_counters
from harness.records import read_records
from harness.run.stack import STEADY_STATE_PROBES
from tests.helpers import harness_argv

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]
SCENARIO = Path(__file__).resolve().parents[1] / "fixtures" / "scenarios" / "fidelity" / "counts.yaml"
READINESS_CHECKS_VIA_PROXY = (1, 3)  # the orchestrator polls base_url/healthz until 200: once, normally
# Locust stops users mid-request when the last phase ends: the server answers a request whose greenlet is
# gone, so up to one attempt per user can be served and never recorded (a known gap, not a miscount)
IN_FLIGHT_AT_STOP = 3  # users in counts.yaml
Key = tuple[str, str, int]  # op id, endpoint, status


def _proxy_requests(text: str) -> int:
    found = re.findall(r'^harness_proxy_requests_total\{proxy="[^"]*"\} (\d+)', text, flags=re.MULTILINE)
    return sum(int(n) for n in found)


def _run(tmp_path: Path, workers: int) -> Path:
    scenario = SCENARIO
    if workers:  # two target workers as well: two processes append to one request log
        spec = yaml.safe_load(SCENARIO.read_text())
        spec["target"] = {**spec.get("target", {}), "kind": "embedded", "workers": workers}
        spec["proxy"] = {"kind": "embedded", "native_relay": False}
        scenario = tmp_path / "counts-workers.yaml"
        scenario.write_text(yaml.safe_dump(spec))
    out = tmp_path / "runs"
    argv = harness_argv("run", str(scenario), "--out", str(out), *(["--workers", str(workers)] if workers else []))
    done = subprocess.run(argv, capture_output=True, text=True, timeout=140)
    assert done.returncode == 0, done.stdout + done.stderr  # includes the secret scan of the run directory
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return run_dir


def _injected_by_endpoint(journal: dict[str, Any], metrics: str) -> Counter[str]:
    endpoint_of = {f["toxic"]: f["spec"]["endpoint"] for f in journal["faults"] if f.get("toxic")}
    injected: Counter[str] = Counter()
    for name, counters in parse_toxic_counters(metrics).items():
        injected[endpoint_of[name]] += counters.faults_injected
    return injected


@pytest.mark.parametrize("workers", [0, 2])
def test_client_records_and_server_log_agree_per_endpoint(workers: int, tmp_path: Path) -> None:
    run_dir = _run(tmp_path, workers)
    attempts = read_records(run_dir / "records", "attempts").to_pandas()
    attempts = attempts[attempts["method"] != "VERIFY"]  # local decisions, never on the wire
    served = [json.loads(line) for line in (run_dir / "logs" / "requests.jsonl").read_text().splitlines()]
    journal = json.loads((run_dir / "journal.json").read_text())
    metrics = (run_dir / "proxy-metrics.txt").read_text()
    probes = STEADY_STATE_PROBES * sum(1 for k in ("before", "after") if journal["steady_state"].get(k, {}).get("ok"))

    recorded: Counter[Key] = Counter(
        zip(attempts["op_id"], attempts["endpoint"], attempts["status"].astype(int), strict=True)
    )
    logged: Counter[Key] = Counter((s["op_id"], s["endpoint"], s["status"]) for s in served if s["op_id"])
    not_served, not_recorded = recorded - logged, logged - recorded

    # attempts that never reached the target are the proxy's injected answers, endpoint for endpoint
    assert {status for _, _, status in not_served} == {503}
    not_served_by_endpoint = Counter(endpoint for (_, endpoint, _), n in not_served.items() for _ in range(n))
    injected = _injected_by_endpoint(journal, metrics)
    assert not_served_by_endpoint == injected, (not_served_by_endpoint, injected)
    assert injected["token"] > 0  # the fault was live
    # requests served but not recorded were cut off at stop: their op ids are absent from the records
    assert not {op_id for op_id, _, _ in not_recorded} & set(attempts["op_id"])
    assert sum(not_recorded.values()) <= IN_FLIGHT_AT_STOP, not_recorded
    # the rest of the target's log is the orchestrator's own requests
    own = Counter(s["endpoint"] for s in served if not s["op_id"])
    assert own["token"] == probes and set(own) <= {"token", "health"}, own

    # the per-endpoint table the whole comparison comes down to
    client = Counter(attempts["endpoint"])
    server = Counter(s["endpoint"] for s in served if s["op_id"])
    cut_off = Counter(endpoint for (_, endpoint, _), n in not_recorded.items() for _ in range(n))
    for endpoint in client | server:
        assert client[endpoint] == server[endpoint] + injected[endpoint] - cut_off[endpoint], endpoint
    print(f"\nworkers={workers}: client {dict(client)}, target {dict(server)}, proxy injected {dict(injected)}, "
          f"cut off at stop {dict(cut_off)}, orchestrator's own {dict(own)}")  # fmt: skip

    # the proxy took the path the scenario asked for
    handovers = re.findall(r"^harness_proxy_native_handovers_total\{[^}]*\} (\d+)", metrics, flags=re.MULTILINE)
    assert handovers and (sum(map(int, handovers)) == 0) == bool(workers), handovers

    # every endpoint together, through the proxy's own counter
    extra = _proxy_requests(metrics) - len(attempts) - probes
    low, high = READINESS_CHECKS_VIA_PROXY
    assert low <= extra <= high + IN_FLIGHT_AT_STOP, f"proxy saw {extra} requests more than recorded"
    if workers:
        assert set(attempts["node"]) == {"w1", "w2"}
        assert len({s["request_id"] for s in served}) == len(served)
