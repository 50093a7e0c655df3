"""Every shipped scenario, end to end in its short form (`--duration-scale`): the verdict it is documented
to reach against the embedded target (scenarios/README.md), and for the scenarios that inject bad tokens
on purpose, that they were presented during the fault and refused.

`make test` runs a representative subset (about 2 minutes); `make scenarios` (HARNESS_SCENARIOS=all) runs
all of them, about 5 minutes on two cores."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.compute as pc
import pytest

from harness.records import read_records
from tests.helpers import harness_argv

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
ALL = os.environ.get("HARNESS_SCENARIOS") == "all"


@dataclass(frozen=True)
class Expected:
    scale: float
    failing: frozenset[str] = frozenset()  # the SLOs documented to fail (by design) in the short form
    bad_tokens_in: str | None = None  # a fault phase in which injected invalid tokens must be refused
    in_make_test: bool = False
    may_fail: frozenset[str] = field(default=frozenset())  # carry-over the short form cannot always avoid


EXPECTED: dict[str, Expected] = {
    "baseline": Expected(0.08, in_make_test=True),
    "token-latency": Expected(0.05),
    "idp-brownout": Expected(0.05, in_make_test=True),
    "throttling-storm": Expected(0.05, frozenset({"retry-amplification"}), in_make_test=True),
    "throttling-storm-backoff": Expected(0.05),
    "jwks-outage": Expected(0.07, frozenset({"rotated-outage-availability"}), "outage", in_make_test=True),
    # refusals until each relying party's 10 s refetch guard expires can spill into the next short phase
    "key-rotation": Expected(0.07, frozenset({"abrupt-availability"}), "announced-rotation", in_make_test=True,
                             may_fail=frozenset({"after-rotation-availability"})),
    "device-login-slowdown": Expected(0.05),
    "credential-refresh-outage": Expected(0.1, frozenset({"outage-availability"})),
    "network-partition": Expected(0.2, frozenset({"partition-availability"})),
    "target-crash-restart": Expected(0.15),
    "slow-store": Expected(0.05, frozenset({"very-slow-availability"}), in_make_test=True),
    "clock-skew": Expected(0.07, frozenset({"beyond-leeway-availability"}), "skew-beyond-leeway"),
    "soak": Expected(0.007),
}


def test_every_shipped_scenario_has_an_expectation() -> None:
    shipped = {p.stem for p in SCENARIOS.glob("*.yaml")} - {"demo"}  # demo: tests/e2e/test_run.py's tour
    assert shipped == set(EXPECTED)


# Only the scenarios this run is meant to execute are collected: the others are not skipped (a skip
# would read as "tried and passed over"), they belong to `make scenarios`.
SELECTED = sorted(name for name, expected in EXPECTED.items() if ALL or expected.in_make_test)


@pytest.mark.parametrize("name", SELECTED)
def test_short_form_reaches_its_documented_verdict(name: str, tmp_path: Path) -> None:
    expected = EXPECTED[name]
    scenario = SCENARIOS / f"{name}.yaml"
    result = subprocess.run(
        harness_argv("run", str(scenario), "--duration-scale", str(expected.scale), "--out", str(tmp_path)),
        capture_output=True, text=True, timeout=170,
    )  # fmt: skip
    output = result.stdout[-3000:] + result.stderr[-3000:]
    assert result.returncode == (1 if expected.failing else 0), output
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    summary = json.loads((run_dir / "summary.json").read_text())
    failing = {s["name"] for s in summary["slos"] if s["verdict"] != "pass"}
    assert expected.failing <= failing <= expected.failing | expected.may_fail, output
    assert {s["name"]: s["verdict"] for s in summary["slos"]}["fail-closed"] == "pass"
    if expected.bad_tokens_in is not None:
        assert_bad_tokens_refused_during(run_dir, expected.bad_tokens_in)


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
