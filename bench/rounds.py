"""Rounds of interleaved measurements, and what may be concluded from them.

A round measures every variant once (ours, the peer, the references), in an order that rotates from round
to round, so that drift on a shared machine hits every variant alike. A goal compares two variants of the
same round: a ratio (ours / peer, e.g. req/s) that must reach at least `goal`, or a difference (ours -
reference, e.g. p99 added over nginx direct) that must stay at most `goal`. Over the rounds the per-round
figures give an estimate (the geometric mean of ratios, the mean of differences) and a 95% bootstrap
interval of it (scipy.stats.bootstrap, percentile method, resampling the rounds).

A verdict is called only when the interval lies wholly on one side of the goal: `pass` or `fail`; an
interval that straddles it is `inconclusive`, and `run_rounds` adds rounds (at least `min_rounds`, at
most `max_rounds`) until every goal is decided or the bound is reached. Each goal is a sequential test of
its own: once decided (after `min_rounds`) it keeps the assessment that decided it, and later rounds run
only the variants that goals still undecided compare, so the rounds left to a close goal are short and
its two sides run close together in time (the round of one undecided goal against haproxy's two
configurations is 3 runs instead of 11).

Each peer is measured at its best configuration on the machine at hand: a goal's `peer` may name several
variants, the peer's candidate configurations (oidc-provider with 1 or 2 worker processes, haproxy with 1 or
2 threads). Every candidate runs in every round like any other variant, and each assessment judges the goal
against the candidate with the best median of that goal's metric over all rounds so far (the highest, or
the lowest where less is better), so more rounds can change the choice and a configuration may win one goal
and not another. The assessment names the one chosen and every candidate's median.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, TypeVar

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
MIN_ROUNDS = 5
# a bound only: a goal stops at its verdict, and only a close one's variants run on (3 or 4 runs a round)
MAX_ROUNDS = 16
RESAMPLES = 9999

T = TypeVar("T")
Round = dict[str, dict[str, float]]  # variant -> metric -> value, one round


@dataclass(frozen=True)
class Goal:
    key: str  # short name in the JSON (e.g. "token")
    what: str  # the table's label
    ours: str  # variant
    # variant compared against (the peer, or the reference of a difference), or the peer's candidate
    # configurations: the goal is judged against the one at its best on `metric`
    peer: str | tuple[str, ...]
    metric: str  # "rps", "per_cpu_s", "p99_ms"...
    kind: Literal["ratio", "difference"]
    goal: float  # ratio at least this; difference at most this
    unit: str = ""
    stretch: float | None = None  # shown beside the goal, never decides the verdict
    # a ratio of a metric where less is better (CPU per request): the ratio is peer / ours, so that the goal
    # is still "at least", and the best candidate is the one with the lowest median
    lower_is_better: bool = False

    def __post_init__(self) -> None:
        if self.kind == "difference" and (not isinstance(self.peer, str) or self.lower_is_better):
            # a difference is over a fixed reference (nginx direct): there is no "best" of it to pick
            raise ValueError(f"goal {self.key}: a difference is over one reference, got {self.peer!r}")

    @property
    def candidates(self) -> tuple[str, ...]:
        return (self.peer,) if isinstance(self.peer, str) else self.peer

    @property
    def variants(self) -> tuple[str, ...]:
        """Every variant the goal needs measured: ours and each candidate of the peer."""
        return (self.ours, *self.candidates)


@dataclass(frozen=True)
class Assessment:
    key: str
    what: str
    kind: str
    goal: float
    stretch: float | None
    unit: str
    metric: str
    estimate: float
    low: float
    high: float
    rounds: int
    verdict: str  # pass, fail, inconclusive
    ours: str  # the variants compared: ours and the peer (of several candidates, the one at its best)
    peer: str
    ours_median: float
    peer_median: float
    candidates: dict[str, float]  # each candidate's median of the metric; empty when the goal names one peer
    per_round: list[float]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def median(variant: str, metric: str, rounds: Sequence[Round]) -> float:
    return statistics.median(r[variant][metric] for r in rounds if variant in r)


def variant_medians(rounds: Sequence[Round]) -> dict[str, dict[str, float]]:
    """Each variant's median of each metric over the rounds that ran it (a variant no undecided goal
    needed any more was not run in the later rounds), in the order variants first ran."""
    metrics: dict[str, list[str]] = {}
    for r in rounds:
        for variant, figures in r.items():
            metrics.setdefault(variant, list(figures))
    return {v: {k: median(v, k, rounds) for k in keys} for v, keys in metrics.items()}


def comparable(goal: Goal, rounds: Sequence[Round]) -> list[Round]:
    """The rounds that ran every variant the goal compares."""
    return [r for r in rounds if all(v in r for v in goal.variants)]


def best_peer(goal: Goal, rounds: Sequence[Round]) -> tuple[str, dict[str, float]]:
    """The candidate at its best on the goal's metric over these rounds (the first of equals), and each
    candidate's median (empty when the goal names one peer)."""
    if isinstance(goal.peer, str):
        return goal.peer, {}
    medians = {c: median(c, goal.metric, rounds) for c in goal.peer}
    pick = min if goal.lower_is_better else max
    return pick(goal.peer, key=medians.__getitem__), medians


def per_round(goal: Goal, rounds: Sequence[Round], peer: str | None = None) -> list[float]:
    """Each round's figure against `peer` (default: the goal's peer at its best over these rounds)."""
    peer = peer if peer is not None else best_peer(goal, rounds)[0]
    values = []
    for r in rounds:
        ours, theirs = r[goal.ours][goal.metric], r[peer][goal.metric]
        if goal.kind == "difference":
            values.append(ours - theirs)
        else:
            values.append(theirs / ours if goal.lower_is_better else ours / theirs)
    return values


def interval(values: Sequence[float], kind: str, seed: int = 0) -> tuple[float, float, float]:
    """(estimate, low, high): for ratios the geometric mean and its interval (a mean of logs, so that
    1.1 and 1/1.1 weigh alike), for differences the mean."""
    data = np.log(np.asarray(values, dtype=float)) if kind == "ratio" else np.asarray(values, dtype=float)
    estimate = float(np.mean(data))
    if len(data) < 2 or float(np.ptp(data)) == 0.0:
        low = high = estimate
    else:
        result = stats.bootstrap((data,), np.mean, confidence_level=CONFIDENCE, n_resamples=RESAMPLES,
                                 method="percentile", rng=np.random.default_rng(seed))  # fmt: skip
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    if kind == "ratio":
        return math.exp(estimate), math.exp(low), math.exp(high)
    return estimate, low, high


def verdict(goal: Goal, low: float, high: float) -> str:
    if goal.kind == "ratio":
        return "pass" if low >= goal.goal else "fail" if high < goal.goal else "inconclusive"
    return "pass" if high <= goal.goal else "fail" if low > goal.goal else "inconclusive"


def assess(goal: Goal, rounds: Sequence[Round]) -> Assessment:
    """The goal over those of these rounds that ran its variants; against several candidates of the peer,
    the one at its best over them (chosen anew at every assessment: a later one, over more rounds, may
    choose another)."""
    rounds = comparable(goal, rounds)
    peer, candidates = best_peer(goal, rounds)
    values = per_round(goal, rounds, peer)
    estimate, low, high = interval(values, goal.kind)
    return Assessment(
        key=goal.key, what=goal.what, kind=goal.kind, goal=goal.goal, stretch=goal.stretch, unit=goal.unit,
        metric=goal.metric, estimate=estimate, low=low, high=high, rounds=len(values),
        verdict=verdict(goal, low, high) if len(values) >= 2 else "inconclusive",  # one round: no interval
        ours=goal.ours, peer=peer, ours_median=median(goal.ours, goal.metric, rounds),
        peer_median=candidates.get(peer, median(peer, goal.metric, rounds)), candidates=candidates,
        per_round=values,
    )  # fmt: skip


def rotated(items: Sequence[T], index: int) -> list[T]:
    """The round's order: the same cycle, started one place later each round."""
    shift = index % len(items)
    return [*items[shift:], *items[:shift]]


def paired(pairs: Sequence[tuple[str, str]], index: int) -> list[str]:
    """The round's order when the goals compare disjoint pairs: each pair's two variants back to back, so
    that a pair's ratio never spans the other pairs' runs; the pairs' order rotates every round and which
    side of a pair goes first flips every other round (AB, AB, BA, BA... over pairs of rounds)."""
    flip = (index // 2) % 2 == 1
    return [v for a, b in rotated(pairs, index) for v in ((b, a) if flip else (a, b))]


def run_rounds(
    one: Callable[[str, int], dict[str, float]],
    variants: Sequence[str],
    goals: Sequence[Goal],
    *,
    min_rounds: int = MIN_ROUNDS,
    max_rounds: int = MAX_ROUNDS,
    log: Callable[[str], None] = print,
    order: Callable[[int], list[str]] | None = None,
) -> tuple[list[Round], list[Assessment]]:
    """Rounds of `one(variant, round_index)` until each goal is decided (after at least `min_rounds`) or
    `max_rounds` were run. Until a first goal is decided a round runs every variant (references shown only
    for scale included); after that, only the variants of the goals still undecided. A decided goal keeps
    the assessment that decided it. Returns the rounds (a later one may lack variants) and the final
    assessments, in the goals' order. `order(index)` gives a round's order (default: `rotated`), of which
    the variants not needed any more are left out."""
    rounds: list[Round] = []
    decided: dict[str, Assessment] = {}
    assessments: list[Assessment] = []
    while len(rounds) < max(min_rounds, max_rounds):
        index = len(rounds)
        undecided = [g for g in goals if g.key not in decided]
        needed = set(variants) if not decided else {v for g in undecided for v in g.variants}
        this: Round = {}
        for variant in order(index) if order is not None else rotated(variants, index):
            if variant not in needed:
                continue
            this[variant] = one(variant, index)
            log(f"round {index + 1} {variant:<24} " + "  ".join(f"{k} {v:,.2f}" for k, v in this[variant].items()))
        rounds.append(this)
        if len(rounds) < min_rounds:
            continue
        latest = {}
        for goal in undecided:
            a = latest[goal.key] = assess(goal, rounds)
            against = f" (against {a.peer})" if a.candidates else ""
            log(f"  after {a.rounds} rounds: {a.what}{against}: {a.estimate:.3f} [{a.low:.3f}, {a.high:.3f}] "
                f"-> {a.verdict}")  # fmt: skip
            if a.verdict != "inconclusive":
                decided[goal.key] = a
        assessments = [decided.get(g.key) or latest[g.key] for g in goals]
        if len(decided) == len(goals):
            break
    return rounds, assessments
