"""harness.run.soak: a run's length as --duration or --until, its live outputs from the command line, and
the disk estimate of --dry-run."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from harness.errors import EXIT_BAD_INPUT, InputError
from harness.run.plan import describe_plan
from harness.run.soak import (
    COMPACT_RECORD_B,
    RECORDS_PER_JOURNEY,
    SHARD_B,
    SHARD_RECORD_B,
    SoakOptions,
    journeys_estimate,
    parse_duration,
    parse_until,
)
from harness.scenario import load_scenario

DEMO = Path(__file__).resolve().parents[3] / "scenarios" / "demo.yaml"
NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(("text", "seconds"), [("24h", 86_400), ("90m", 5400), ("1h30m", 5400), ("45s", 45),
                                               ("2d", 172_800), ("3600", 3600), ("0.5h", 1800)])  # fmt: skip
def test_durations_read_as_an_sre_writes_them(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["24x", "h", "1h 30m", "-5", "0", "tomorrow"])
def test_a_bad_duration_is_input_error_naming_the_option(text: str) -> None:
    with pytest.raises(InputError, match="--duration") as info:
        parse_duration(text)
    assert info.value.exit_code == EXIT_BAD_INPUT


def test_until_is_the_time_left_to_a_utc_wall_clock_end() -> None:
    assert parse_until("2026-12-06T09:00Z", NOW) == 86_400
    assert parse_until("2026-12-05T11:00:00+01:00", NOW) == 3600  # an offset is honoured
    assert parse_until("2026-12-05T09:30", NOW) == 1800  # no zone: UTC


def test_until_in_the_past_or_unreadable_is_refused() -> None:
    with pytest.raises(InputError, match="in the past"):
        parse_until("2026-12-05T08:59Z", NOW)
    with pytest.raises(InputError, match="ISO 8601"):
        parse_until("next tuesday", NOW)


def test_duration_stretches_every_phase_by_one_factor_to_the_length_asked() -> None:
    scenario = load_scenario(DEMO)
    stretched, scale = SoakOptions(duration="24h").apply(scenario, 1.0)
    assert stretched.duration_s == pytest.approx(86_400)
    assert scale == pytest.approx(86_400 / scenario.duration_s)
    shares = [p.duration_s / scenario.duration_s for p in scenario.phases]
    assert [p.duration_s / 86_400 for p in stretched.phases] == pytest.approx(shares)


def test_one_run_length_option_at_a_time() -> None:
    scenario = load_scenario(DEMO)
    with pytest.raises(InputError, match="one of --duration, --until and --duration-scale"):
        SoakOptions(duration="1h", until="2099-01-01T00:00Z").apply(scenario, 1.0)
    with pytest.raises(InputError, match="--duration-scale"):
        SoakOptions(duration="1h").apply(scenario, 0.5)


def test_command_line_live_outputs_override_the_scenario() -> None:
    scenario = load_scenario(DEMO)
    live, _ = SoakOptions(metrics_port=0, partial_every="30m").apply(scenario, 1.0)
    assert live.live.metrics_port == 0 and live.live.partial_report_every_s == 1800
    with pytest.raises(InputError, match="--partial-every"):
        SoakOptions(partial_every="5s").apply(scenario, 1.0)
    with pytest.raises(InputError, match="--metrics-port"):
        SoakOptions(metrics_port=70_000).apply(scenario, 1.0)


def test_dry_run_estimates_the_disk_from_rate_and_duration() -> None:
    scenario = load_scenario(DEMO)
    day, _ = SoakOptions(duration="24h", partial_every="1h").apply(scenario, 1.0)
    hour, _ = SoakOptions(duration="1h").apply(scenario, 1.0)
    assert journeys_estimate(day) == pytest.approx(24 * journeys_estimate(hour))
    users, (low, high) = scenario.load.users, scenario.load.think_time_s
    if all(p.users is None for p in scenario.phases):  # closed loop: one journey per mean think time per user
        assert journeys_estimate(hour) == pytest.approx(users / ((low + high) / 2) * 3600)
    (line,) = [ln for ln in describe_plan(day).splitlines() if ln.startswith("disk:")]
    records = journeys_estimate(day) * RECORDS_PER_JOURNEY
    assert f"({records:,.0f} records)" in line
    assert f"{records * COMPACT_RECORD_B / 1e6:.3g} MB once compacted" in line
    shards_gb = (records * SHARD_RECORD_B + 2 * 86_400 * SHARD_B) / 1e9  # one process: 2 shards a second
    assert f"about {shards_gb:.3g} GB as shards" in line
    assert "24 partial reports (every 3600 s)" in line
    (two,) = [ln for ln in describe_plan(day, load_processes=2).splitlines() if ln.startswith("disk:")]
    assert f"about {(records * SHARD_RECORD_B + 4 * 86_400 * SHARD_B) / 1e9:.3g} GB as shards" in two


def test_open_loop_estimate_is_rate_times_duration() -> None:
    scenario = load_scenario(DEMO)
    phases = tuple(p.model_copy(update={"users": None, "rate_per_s": None}) for p in scenario.phases)
    load = scenario.load.model_copy(update={"arrival": "open", "rate_per_s": 1000.0})
    open_loop = scenario.model_copy(update={"load": load, "phases": phases})
    assert journeys_estimate(open_loop) == pytest.approx(1000.0 * scenario.duration_s)
