"""`target: {kind: embedded, tls: true}`: the embedded target serves https with a certificate from the
run's CA, the proxy ends and restarts TLS, the clients (OIDC and AWS flows, the relying party) trust the
run's CA, HTTP faults still see the requests, and the report says TLS was on."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from harness.clients.caller import JOURNEY_STEP
from harness.records import read_records
from tests.helpers import harness_argv

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

SCENARIO = Path(__file__).resolve().parents[1] / "fixtures" / "scenarios" / "e2e" / "embedded-tls.yaml"


def test_every_hop_over_tls(tmp_path: Path) -> None:
    result = subprocess.run(harness_argv("run", str(SCENARIO), "--out", str(tmp_path)), capture_output=True,
                            text=True, timeout=150)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir() and not p.name.startswith(".")]
    journal = json.loads((run_dir / "journal.json").read_text())
    target = journal["services"]["target"]
    assert target["tls"] and target["url"].startswith("https://") and target["base_url"].startswith("https://")
    (proxy,) = journal["services"]["proxy"]["proxies"]
    assert set(proxy["tls"]) == {"listen_tls", "upstream_tls"}
    assert journal["steady_state"]["before"]["ok"] and journal["steady_state"]["after"]["ok"]
    ops = read_records(run_dir / "records", "operations").to_pandas()
    (fault,) = journal["faults"]
    ended = ops.ts + ops.latency_ms / 1000
    steady = ops[(ops.step == JOURNEY_STEP) & (ops.phase == "steady") & (ended < fault["apply_asked_at"])]
    assert set(steady.flow) == {"client_credentials", "authorization_code_pkce", "aws_device_login", "jwks_validation"}
    assert set(steady.outcome) == {"ok"}
    attempts = read_records(run_dir / "records", "attempts").to_pandas()
    brownout = attempts[(attempts.phase == "brownout") & (attempts.endpoint == "token")]
    assert (brownout.status == 503).any()  # the proxy saw the requests inside TLS
    report = (run_dir / "report.html").read_text()
    assert "TLS on every hop" in report
    texts = [p.read_bytes() for p in run_dir.rglob("*") if p.is_file()]
    assert not any(b"PRIVATE KEY" in t for t in texts)  # the run's CA and keys stayed in the scratch directory
    assert not Path(journal["services"]["proxy"]["proxies"][0]["tls"]["listen_tls"]["key"]).exists()  # removed
