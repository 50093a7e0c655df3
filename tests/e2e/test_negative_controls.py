"""Invariants that can fail: a negative control for every security invariant, end to end. Each fixture in
tests/fixtures/scenarios/negative/ is a short `harness run` in which one thing is wrong on purpose: a
relying party that skips one check (`testing: {lax_relying_party: [...]}`) facing the target's forgery
that check exists for, or a proxy replaying an acceptance after a revocation. Each must fail its
`fail-closed` SLO and exit 1, and the violation must be the forged (or revoked) token itself, accepted
during the fault: without these runs, the PASS of `scenarios/forged-tokens.yaml` would prove nothing.

`make test` runs them four at a time: each is 5 s of phases in about 15 s of start-up, load and report,
mostly waiting (about 40 s for all eight on two cores)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pyarrow.compute as pc
import pytest

from harness.records import read_records
from harness.scenario import load_scenario
from harness.scenario.catalog import shipped_scenarios
from tests.helpers import harness_argv

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

NEGATIVE = Path(__file__).resolve().parents[1] / "fixtures" / "scenarios" / "negative"
CONTROLS = sorted(p.stem for p in NEGATIVE.glob("*.yaml"))
RUN_TIMEOUT_S = 120
PARALLEL = 4


@dataclass(frozen=True)
class ControlRun:
    returncode: int
    output: str
    run_dir: Path | None


def _run(name: str, out: Path) -> ControlRun:
    argv = harness_argv("run", str(NEGATIVE / f"{name}.yaml"), "--out", str(out))
    result = subprocess.run(argv, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    run_dirs = [p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return ControlRun(result.returncode, result.stdout[-3000:] + result.stderr[-3000:],
                      run_dirs[0] if run_dirs else None)  # fmt: skip


@pytest.fixture(scope="module")
def control_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Future[ControlRun]]]:
    pool = ThreadPoolExecutor(max_workers=PARALLEL, thread_name_prefix="negative-control")
    try:
        yield {name: pool.submit(_run, name, tmp_path_factory.mktemp(name)) for name in CONTROLS}
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@pytest.mark.filterwarnings("ignore::harness.errors.ScenarioWarning")  # each says: TEST ONLY
def test_every_lax_check_and_the_replay_have_a_control() -> None:
    from typing import get_args

    from harness.scenario.model import LaxCheck

    lax = {check for name in CONTROLS if (t := load_scenario(NEGATIVE / f"{name}.yaml").testing) is not None
           for check in t.lax_relying_party}  # fmt: skip
    assert lax == set(get_args(LaxCheck))
    assert "replayed-revocation" in CONTROLS


def test_no_shipped_scenario_is_a_negative_control() -> None:
    assert all(scenario.testing is None for _, scenario in shipped_scenarios())


@pytest.mark.parametrize("name", CONTROLS)
def test_the_negative_control_fails_fail_closed_and_exits_1(name: str,
                                                            control_runs: dict[str, Future[ControlRun]]) -> None:
    run = control_runs[name].result(timeout=RUN_TIMEOUT_S * (len(CONTROLS) // PARALLEL + 1))
    assert run.returncode == 1, run.output
    assert run.run_dir is not None, run.output
    summary = json.loads((run.run_dir / "summary.json").read_text())
    verdicts = {s["name"]: s["verdict"] for s in summary["slos"]}
    assert verdicts["fail-closed"] == "fail" and verdicts["caught-forgeries"] == "fail", (verdicts, run.output)
    # the violation is the forged (or revoked) token itself, accepted while the fault was on
    accepted_step = (NEGATIVE / f"{name}.yaml").read_text().splitlines()[0].removeprefix("# accepts: ")
    ops = read_records(run.run_dir / "records", "operations")
    during = ops.filter(pc.and_(pc.equal(ops["phase"], "forged"), pc.equal(ops["step"], accepted_step)))
    assert "security_violation" in set(during["outcome"].to_pylist()), (accepted_step, run.output)
