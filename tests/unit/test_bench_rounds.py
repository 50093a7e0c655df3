"""The bench's verdicts (bench/rounds.py): pass or fail only when the interval over rounds clears or misses
the goal, inconclusive otherwise, and more rounds run while any goal is inconclusive."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from rounds import Goal, assess, paired, pick_best, rotated, run_rounds

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


def test_the_order_rotates_and_the_fastest_configuration_is_picked() -> None:
    assert [rotated(["a", "b", "c"], i) for i in range(3)] == [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"]]
    best, figures = pick_best({"one": 55.0, "two": 50.0}.__getitem__, ["one", "two"], log=lambda _: None)
    assert best == "one" and figures == {"one": [55.0] * 3, "two": [50.0] * 3}


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
