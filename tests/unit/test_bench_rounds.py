"""The bench's verdicts (bench/rounds.py): pass or fail only when the interval over rounds clears or misses
the goal, inconclusive otherwise, and more rounds run while any goal is inconclusive; a peer with several
configurations is judged, goal by goal, against the one at its best on that goal's metric; a goal once
decided stops, and only what undecided goals compare runs on."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from rounds import Goal, assess, paired, rotated, run_rounds, variant_medians

RATIO = Goal("r", "ours vs peer", "ours", "peer", "rps", "ratio", 1.0, "req/s")
ADDED = Goal("d", "p99 added", "ours", "direct", "p99_ms", "difference", 1.0, "ms")


def rounds_of(ours: list[float], peer: list[float]) -> list[dict[str, dict[str, float]]]:
    return [{"ours": {"rps": a}, "peer": {"rps": b}} for a, b in zip(ours, peer, strict=True)]


def test_a_ratio_whose_interval_clears_the_goal_passes_and_one_below_it_fails() -> None:
    assert assess(RATIO, rounds_of([110, 112, 108, 111, 109], [100] * 5)).verdict == "pass"
    assert assess(RATIO, rounds_of([90, 92, 88, 91, 89], [100] * 5)).verdict == "fail"


def test_one_round_decides_nothing() -> None:
    assert assess(RATIO, rounds_of([150], [100])).verdict == "inconclusive"


def test_rounds_that_straddle_the_goal_are_inconclusive() -> None:
    found = assess(RATIO, rounds_of([90, 112, 95, 108, 101], [100] * 5))
    assert found.verdict == "inconclusive" and found.low < 1.0 < found.high


def test_the_ratio_pairs_each_round_so_drift_that_moves_both_sides_cancels() -> None:
    found = assess(RATIO, rounds_of([55, 110, 220, 82.5, 165], [50, 100, 200, 75, 150]))
    assert found.estimate == pytest.approx(1.1) and found.verdict == "pass"


def test_a_difference_passes_only_when_its_whole_interval_is_under_the_limit() -> None:
    rounds = [{"ours": {"p99_ms": d + 0.3}, "direct": {"p99_ms": d}} for d in (1.0, 2.0, 1.5, 3.0, 2.5)]
    assert assess(ADDED, rounds).verdict == "pass"
    rounds = [{"ours": {"p99_ms": d + 4.0}, "direct": {"p99_ms": d}} for d in (1.0, 2.0, 1.5, 3.0, 2.5)]
    assert assess(ADDED, rounds).verdict == "fail"


def test_more_rounds_run_while_a_goal_is_inconclusive_up_to_the_bound() -> None:
    noisy: Iterator[float] = iter([0.8, 1.25] * 20)

    def one(variant: str, _: int) -> dict[str, float]:
        return {"rps": 100.0 * next(noisy)} if variant == "ours" else {"rps": 100.0}

    rounds, (found,) = run_rounds(one, ["ours", "peer"], [RATIO], min_rounds=5, max_rounds=7, log=lambda _: None)
    assert len(rounds) == 7 and found.verdict == "inconclusive"
    clear = run_rounds(lambda v, _: {"rps": 120.0 if v == "ours" else 100.0}, ["ours", "peer"], [RATIO],
                       min_rounds=5, max_rounds=9, log=lambda _: None)  # fmt: skip
    assert len(clear[0]) == 5 and clear[1][0].verdict == "pass"


def test_the_order_rotates() -> None:
    assert [rotated(["a", "b", "c"], i) for i in range(3)] == [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"]]


TOKEN = Goal("token", "ours vs the peer at its best", "ours", ("peer1", "peer2"), "rps", "ratio", 1.0, "req/s")


def configurations(ours: list[float], one: list[float], two: list[float]) -> list[dict[str, dict[str, float]]]:
    return [{"ours": {"rps": a}, "peer1": {"rps": b}, "peer2": {"rps": c}}
            for a, b, c in zip(ours, one, two, strict=True)]  # fmt: skip


def test_a_goal_with_two_configurations_of_the_peer_is_judged_against_the_one_with_the_higher_median() -> None:
    # peer1 wins the first round by a little, peer2 every other round: the choice is over all rounds, not one
    rounds = configurations([105] * 5, [101, 90, 91, 92, 90], [100, 100, 101, 99, 100])
    found = assess(TOKEN, rounds)
    assert found.peer == "peer2" and found.peer_median == 100
    assert found.estimate == pytest.approx(1.05, rel=1e-3) and found.verdict == "pass"
    assert assess(TOKEN, rounds[:1]).peer == "peer1"  # remade at every assessment: more rounds changed it
    # against the weaker configuration ours would have passed by more: the ratio is the strict one
    assert found.estimate < assess(Goal("x", "x", "ours", "peer1", "rps", "ratio", 1.0), rounds).estimate


def test_the_assessment_json_names_the_configuration_that_won_and_every_candidates_median() -> None:
    found = assess(TOKEN, configurations([105] * 3, [90, 91, 92], [100, 101, 99])).to_json()
    assert found["peer"] == "peer2" and found["ours"] == "ours"
    assert found["candidates"] == {"peer1": 91, "peer2": 100}
    single = assess(RATIO, rounds_of([110, 111], [100, 100])).to_json()
    assert single["peer"] == "peer" and single["candidates"] == {}


def test_a_configuration_that_wins_on_one_metric_and_loses_on_another_is_chosen_per_goal() -> None:
    # two threads: more req/s, but more CPU per request; each goal meets the peer at its best on its metric
    rounds = [{"ours": {"rps": 95, "cpu_us_per_req": 20}, "two": {"rps": 100, "cpu_us_per_req": 30},
               "one": {"rps": 90, "cpu_us_per_req": 16}} for _ in range(3)]  # fmt: skip
    rps = assess(Goal("rps", "req/s", "ours", ("one", "two"), "rps", "ratio", 1.0), rounds)
    cpu = assess(Goal("cpu", "CPU per request, peer / ours", "ours", ("one", "two"), "cpu_us_per_req", "ratio", 1.0,
                      lower_is_better=True), rounds)  # fmt: skip
    assert (rps.peer, rps.estimate) == ("two", pytest.approx(0.95))
    # less CPU is better: the peer that spends least per request, and the ratio is peer / ours (>= 1: ours cheaper)
    assert (cpu.peer, cpu.estimate, cpu.ours_median, cpu.peer_median) == ("one", pytest.approx(0.8), 20, 16)
    assert cpu.candidates == {"one": 16, "two": 30} and cpu.verdict == "fail"


def test_every_configuration_runs_in_every_round_and_the_goal_names_them_all() -> None:
    assert TOKEN.variants == ("ours", "peer1", "peer2") and RATIO.variants == ("ours", "peer")
    ran: dict[int, list[str]] = {}

    def one(variant: str, index: int) -> dict[str, float]:
        ran.setdefault(index, []).append(variant)
        return {"rps": {"ours": 100.0, "peer1": 90.0, "peer2": 95.0}[variant]}

    _, (found,) = run_rounds(one, TOKEN.variants, [TOKEN], min_rounds=3, max_rounds=3, log=lambda _: None)
    assert [sorted(r) for r in ran.values()] == [["ours", "peer1", "peer2"]] * 3
    assert len({tuple(r) for r in ran.values()}) == 3  # the order rotates over them
    assert found.peer == "peer2"


def test_a_difference_against_several_configurations_is_refused() -> None:
    with pytest.raises(ValueError, match="one reference"):
        Goal("d", "p99 added", "ours", ("a", "b"), "p99_ms", "difference", 1.0)


def test_paired_rounds_run_each_pair_back_to_back_with_either_side_first_as_often() -> None:
    pairs = [("ours", "peer"), ("ours2", "peer2")]
    orders = [paired(pairs, i) for i in range(4)]
    for order in orders:  # a pair's two runs are neighbours, so its ratio spans no other run
        assert sorted(order) == ["ours", "ours2", "peer", "peer2"]
        for a, b in pairs:
            assert abs(order.index(a) - order.index(b)) == 1
    assert sum(o.index("ours") < o.index("peer") for o in orders) == 2  # ours first in two rounds of four
    assert sum(o.index("ours2") < o.index("peer2") for o in orders) == 2
    assert sum(o[0] in pairs[0] for o in orders) == 2  # and each pair opens two rounds of four
    ran: list[str] = []

    def one(variant: str, _: int) -> dict[str, float]:
        ran.append(variant)
        return {"rps": 100.0}

    run_rounds(one, ["ours", "peer", "ours2", "peer2"], [RATIO], min_rounds=2, max_rounds=2, log=lambda _: None,
               order=lambda i: paired(pairs, i))  # fmt: skip
    assert ran == [*orders[0], *orders[1]]


CLEAR = Goal("clear", "ours vs peer, well above", "ours", "peer", "rps", "ratio", 1.0, "req/s")
CLOSE = Goal("close", "ours2 vs the peer at its best, noisy", "ours2", ("peer", "peer2"), "rps", "ratio", 1.0)


def test_a_decided_goal_stops_and_later_rounds_run_only_what_undecided_goals_compare() -> None:
    noisy: Iterator[float] = iter([0.8, 1.25] * 20)
    ran: dict[int, list[str]] = {}

    def one(variant: str, index: int) -> dict[str, float]:
        ran.setdefault(index, []).append(variant)
        return {"rps": {"ours": 120.0, "peer": 100.0, "peer2": 90.0, "floor": 80.0}.get(variant) or 100.0 * next(noisy)}

    rounds, (clear, close) = run_rounds(one, ["ours", "peer", "peer2", "ours2", "floor"], [CLEAR, CLOSE],
                                        min_rounds=5, max_rounds=9, log=lambda _: None)  # fmt: skip
    assert len(rounds) == 9
    assert [sorted(ran[i]) for i in range(5)] == [["floor", "ours", "ours2", "peer", "peer2"]] * 5
    # decided at round 5, the clear goal keeps that verdict; its ours (and the floor, compared by no goal)
    # run no more, while the close goal's three variants run on
    assert (clear.verdict, clear.rounds, clear.estimate) == ("pass", 5, pytest.approx(1.2))
    assert [sorted(ran[i]) for i in range(5, 9)] == [["ours2", "peer", "peer2"]] * 4
    assert (close.verdict, close.rounds, close.peer) == ("inconclusive", 9, "peer")


def test_a_goal_and_the_medians_read_only_the_rounds_that_ran_their_variants() -> None:
    rounds = [{"ours": {"rps": 110.0}, "peer": {"rps": 100.0}, "floor": {"rps": 50.0}}] * 5
    rounds += [{"ours": {"rps": 90.0}, "peer": {"rps": 100.0}}] * 6
    floor = Goal("floor", "ours vs floor", "ours", "floor", "rps", "ratio", 1.0)
    found = assess(floor, rounds)
    assert (found.rounds, found.estimate, found.ours_median) == (5, pytest.approx(2.2), 110.0)
    assert variant_medians(rounds) == {"ours": {"rps": 90.0}, "peer": {"rps": 100.0}, "floor": {"rps": 50.0}}
