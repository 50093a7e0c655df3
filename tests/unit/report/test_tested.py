"""The report says what was tested (load, flow mix, the whole retry policy, timeouts, seed, scale, target
and proxy, plan, host and versions, question and hypothesis), names every interval and test method, and
prints p-values as `< 0.001` rather than 0."""

from __future__ import annotations

import json
from pathlib import Path

from harness.report.build import build_report
from tests.unit.analysis.synthetic import write_run
from tests.unit.report.test_html import parse


def scaled_run(tmp_path: Path) -> Path:
    """The synthetic run as if `harness run --duration-scale 0.5` on a host made it."""
    run_dir = write_run(tmp_path)
    journal = json.loads((run_dir / "journal.json").read_text())
    journal["scenario"]["duration_scale"] = 0.5
    journal["host"] = "sre-box"
    journal["versions"] = {"sso-resilience-harness": "0.1.0", "python": "3.11.7", "locust": "2.47.0"}
    journal["services"] = {"target": {"url": "http://127.0.0.1:9", "base_url": "http://127.0.0.1:8"},
                           "proxy": {"kind": "embedded", "listen": "127.0.0.1:8"}}  # fmt: skip
    (run_dir / "journal.json").write_text(json.dumps(journal))
    text = (run_dir / "scenario.yaml").read_text()
    text = text.replace("seed: 7", "seed: 7\nquestion: Does the service come back after a brownout?\n"
                        "hypothesis: Availability returns to baseline within 10 s.")  # fmt: skip
    (run_dir / "scenario.yaml").write_text(text)
    return run_dir


def test_what_was_tested_is_on_the_page(tmp_path: Path) -> None:
    result = build_report(scaled_run(tmp_path))
    html = result.report_html.read_text(encoding="utf-8")
    page = parse(html)
    tested = dict(page.tables["tested"][1:])
    assert tested["load"] == "10 users (spawn 10/s), closed loop: think time 0.5-1.5 s between journeys"
    assert tested["flow mix"] == "client_credentials 100%"
    assert tested["retry: stop"] == "after 3 attempts"
    assert tested["retry: wait"] == "exponential with full jitter: 0.1 s, x2 each retry, at most 5 s"
    assert tested["retry: on"] == "connect_error, timeout, reset, http_5xx, http_429"
    assert tested["retry: Retry-After"] == "honoured, at most 30 s"
    assert (tested["retry: circuit breaker"], tested["retry: budget"]) == ("none", "none")
    assert tested["timeouts"] == "connect 2 s, read 5 s"
    assert tested["seed"] == "7"
    assert tested["duration"] == "35 s planned (--duration-scale 0.5: the scenario file's phases add up to 70 s)"
    assert tested["target"].startswith("the embedded SSO target at http://127.0.0.1:8: 1 worker(s), RS256")
    assert "plain HTTP, no TLS" in tested["target"]
    assert tested["proxy"] == "the harness's own fault proxy (Toxiproxy API), clients connect to 127.0.0.1:8"
    assert tested["ran on"] == "host sre-box, harness 0.1.0"
    assert "locust 2.47.0" in tested["versions"]
    assert "Does the service come back after a brownout?" in html and "within 10 s." in html
    assert [r[0] for r in page.tables["plan"][1:]] == ["baseline", "brownout", "recovery", "cooldown"]
    assert 'id="scaled"' in html and "Durations scaled by 0.5" in html


def test_methods_are_named_and_p_values_never_read_zero(built) -> None:
    html = built.report_html.read_text(encoding="utf-8")
    page = parse(html)
    for name in ("Wilson score interval", "Newcombe hybrid score", "Fisher", "order statistics", "Student t",
                 "Mann-Whitney", "percentile bootstrap"):  # fmt: skip
        assert name in html, name
    vs = {r[0]: r for r in page.tables["vs-baseline-brownout"][1:]}
    assert vs["availability (operation)"][3] == "Newcombe 95%"
    assert vs["availability (operation)"][4] == "< 0.001"  # 45 failures against none
    assert vs["p50 latency (ms)"][3] == "bootstrap 95%"
    assert vs["p99 latency (ms)"][2].startswith("too few samples for an interval")
    assert "p 0" not in html and ">0<" not in "".join(r[4] for r in page.tables["vs-baseline-brownout"][1:])
