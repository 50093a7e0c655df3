"""Every shipped scenario, end to end in its short form (`--duration-scale`): the verdict it is documented
to reach against the embedded target (scenarios/README.md), and for the scenarios that inject bad tokens
on purpose, that they were presented during the fault and refused.

`make test` runs all of them two at a time (HARNESS_SCENARIO_PARALLEL, default 2: the short forms are
mostly timed phases, so two share the machine's two cores; about 3 minutes); `make scenarios` runs them
one at a time, for figures measured without a neighbour."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pyarrow.compute as pc
import pytest

from harness.records import read_records
from harness.report import wording
from tests.helpers import harness_argv

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
PARALLEL = max(1, int(os.environ.get("HARNESS_SCENARIO_PARALLEL", "2")))
RUN_TIMEOUT_S = 170


@dataclass(frozen=True)
class Expected:
    scale: float
    failing: frozenset[str] = frozenset()  # the SLOs documented to fail (by design) in the short form
    bad_tokens_in: str | None = None  # a fault phase in which injected invalid tokens must be refused
    may_fail: frozenset[str] = field(default=frozenset())  # carry-over the short form cannot always avoid
    forged_in: tuple[tuple[str, str], ...] = ()  # (phase, forgery): the target's forged tokens, all refused
    # SLOs that leave out the records still in flight when their phase ended (`in_flight_at_end: exclude`:
    # begun in the phase's last moment, they met the next phase's harsher fault)
    in_flight_excluded: frozenset[str] = frozenset()
    # SLOs whose objective sits so close to the expected value that a short form's few hundred operations
    # cannot decide: they may fail only as the report's own "not conclusive" (interval across the objective)
    undecided_ok: frozenset[str] = frozenset()


EXPECTED: dict[str, Expected] = {
    "baseline": Expected(0.08),
    "token-latency": Expected(0.05),
    # 30% of attempts fail and four attempts are allowed: about 0.3^4 = 0.8% of operations fail, against a
    # 99% objective; the short form's ~140 brownout operations cannot tell 99.2% from 99%
    "idp-brownout": Expected(0.05, undecided_ok=frozenset({"brownout-availability"})),
    "throttling-storm": Expected(0.05, frozenset({"retry-amplification"})),
    "throttling-storm-backoff": Expected(0.05),
    "jwks-outage": Expected(0.07, frozenset({"rotated-outage-availability"}), "outage"),
    # refusals until each relying party's 10 s refetch guard expires can spill into the next short phase
    "key-rotation": Expected(0.07, frozenset({"abrupt-availability"}), "announced-rotation",
                             may_fail=frozenset({"after-rotation-availability"})),
    "device-login-slowdown": Expected(0.05, in_flight_excluded=frozenset({"never-too-fast"})),
    "credential-refresh-outage": Expected(0.1, frozenset({"outage-availability"})),
    "network-partition": Expected(0.2, frozenset({"partition-availability"})),
    "target-crash-restart": Expected(0.15),
    "slow-store": Expected(0.05, frozenset({"very-slow-availability"}),
                           in_flight_excluded=frozenset({"slow-availability", "slow-p99"})),
    "clock-skew": Expected(
        0.07, frozenset({"beyond-leeway-availability", "strict-rp-inside-leeway"}), "skew-beyond-leeway",
        in_flight_excluded=frozenset({"leeway-absorbs-small-skew"}),
    ),
    "soak": Expected(0.007),
    "forged-tokens": Expected(0.1, forged_in=(
        ("wrong-aud", "wrong_aud"), ("wrong-iss", "wrong_iss"), ("expired", "expired"), ("unknown-key", "unknown_key"),
        ("alg-none", "alg_none"), ("wrong-nonce", "wrong_nonce"), ("key-swap", "jwks_key_swap"))),
}


def test_every_shipped_scenario_has_an_expectation() -> None:
    shipped = {p.stem for p in SCENARIOS.glob("*.yaml")} - {"demo"}  # demo: tests/e2e/test_run.py's tour
    assert shipped == set(EXPECTED)


@dataclass(frozen=True)
class ShortRun:
    returncode: int
    output: str
    run_dir: Path | None


def _run_short_form(name: str, out: Path) -> ShortRun:
    argv = harness_argv("run", str(SCENARIOS / f"{name}.yaml"), "--duration-scale", str(EXPECTED[name].scale),
                        "--out", str(out))  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    run_dirs = [p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return ShortRun(result.returncode, result.stdout[-3000:] + result.stderr[-3000:], run_dirs[0] if run_dirs else None)


def _short_form_name(item: pytest.Function) -> str:
    name = item.callspec.params["name"]  # parametrized over the names in EXPECTED
    assert isinstance(name, str)
    return name


@pytest.fixture(scope="module")
def short_runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Future[ShortRun]]]:
    """The selected short forms, queued at once in test order on a pool of PARALLEL; each test waits for
    its own. Each run has its own ports, processes and output directory: neighbours share only the CPU."""
    names = [_short_form_name(item) for item in request.session.items
             if isinstance(item, pytest.Function)
             and item.originalname == "test_short_form_reaches_its_documented_verdict"]  # fmt: skip
    pool = ThreadPoolExecutor(max_workers=PARALLEL, thread_name_prefix="short-form")
    try:
        yield {name: pool.submit(_run_short_form, name, tmp_path_factory.mktemp(name)) for name in names}
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # a started run ends by itself (bounded by its timeout)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_short_form_reaches_its_documented_verdict(name: str, short_runs: dict[str, Future[ShortRun]]) -> None:
    expected = EXPECTED[name]
    run = short_runs[name].result(timeout=RUN_TIMEOUT_S * (len(EXPECTED) // PARALLEL + 1))
    output = run.output
    assert run.run_dir is not None, output
    run_dir = run.run_dir
    summary = json.loads((run_dir / "summary.json").read_text())
    failing = {s["name"] for s in summary["slos"] if s["verdict"] != "pass"}
    undecided = {s["name"] for s in summary["slos"] if s["name"] in expected.undecided_ok
                 and s["verdict"] != "pass" and s.get("crosses_threshold")}  # fmt: skip
    assert run.returncode == (1 if expected.failing or undecided else 0), output
    assert expected.failing <= failing <= expected.failing | expected.may_fail | undecided, output
    assert {s["name"]: s["verdict"] for s in summary["slos"]}["fail-closed"] == "pass"
    if expected.bad_tokens_in is not None:
        assert_bad_tokens_refused_during(run_dir, expected.bad_tokens_in)
    if expected.forged_in:
        assert_forgeries_refused(run_dir, expected.forged_in)
    assert_in_flight_counts_agree(run, summary, expected.in_flight_excluded)


def assert_in_flight_counts_agree(run: ShortRun, summary: dict[str, Any], excluded: frozenset[str]) -> None:
    """The SLOs documented to leave out records in flight at the end of their phase do, and each says how
    many in the same words in summary.json, the console's final lines, report.html and junit.xml."""
    assert run.run_dir is not None
    asked = {s["name"] for s in summary["slos"] if s.get("in_flight_at_end") == "exclude"}
    assert asked == excluded
    report = unescape((run.run_dir / "report.html").read_text())
    cases = {c.get("name"): c for c in ET.parse(run.run_dir / "junit.xml").getroot().iter("testcase")}
    for slo in (s for s in summary["slos"] if s["name"] in excluded):
        note = wording.in_flight(slo)
        assert isinstance(slo["excluded_in_flight"], int) and note.startswith(f"{slo['excluded_in_flight']} record")
        assert note in slo["message"] and f"{wording.slo_line(slo)}\n" in run.output, (note, run.output)
        assert note in report
        props = {p.get("name"): p.get("value") for p in cases[slo["name"]].iter("property")}
        assert props["excluded_in_flight"] == str(slo["excluded_in_flight"])


def assert_bad_tokens_refused_during(run_dir: Path, phase: str) -> None:
    """The invalid tokens of jwks_validation (tampered, alg=none, unknown kid, expired, wrong audience)
    were presented while the fault was on, and each was refused (`ok` for a bad token means refused)."""
    ops = read_records(run_dir / "records", "operations")
    in_phase = ops.filter(pc.equal(ops["phase"], phase))
    bad = in_phase.filter(pc.and_(pc.starts_with(in_phase["step"], "verify_"),
                                  pc.not_equal(in_phase["step"], "verify_revoked")))  # fmt: skip
    assert bad.num_rows > 0, f"no invalid token was presented during {phase}"
    outcomes = set(bad["outcome"].to_pylist())
    assert outcomes == {"ok"}, f"invalid tokens during {phase}: {outcomes}"


def assert_forgeries_refused(run_dir: Path, forged_in: tuple[tuple[str, str], ...]) -> None:
    """The tokens the target forged on purpose were presented in their phase (`*_forged_<forgery>` steps),
    and every forged token of the run was refused (`ok`)."""
    ops = read_records(run_dir / "records", "operations")
    forged = ops.filter(pc.match_substring(ops["step"], "_forged_"))
    assert set(forged["outcome"].to_pylist()) == {"ok"}, forged.group_by(["step", "outcome"]).aggregate([])
    for phase, forgery in forged_in:
        steps = set(forged.filter(pc.equal(forged["phase"], phase))["step"].to_pylist())
        assert any(step.endswith(f"_forged_{forgery}") for step in steps), (phase, forgery, steps)
