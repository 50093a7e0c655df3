"""The live view's numbers: per-second counts and latency histograms, small and mergeable.

Each load process adds its records here; a worker ships only `take()` (the delta since the last report,
lists of ints and strings, so msgpack carries it) to the master, which `merge`s it. The master (or the
single local process) answers the Resilience tab from the merged store. Raw records never travel: they
stay in each process's own shards. Latencies are kept as log buckets of 5% width, good enough for a live
p95; the report computes exact percentiles from the raw records afterwards.
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from harness.contract import AttemptRow, OperationRow

BUCKET_BASE = 1.05
BUCKET_MIN_MS = 0.01
KEEP_S = 120  # per-second rows older than this are dropped; per-phase totals are kept for the run

# delta key: (kind "a"|"o", second, phase, step, ok 0|1, latency bucket); value: [count, attempts]
DeltaKey = tuple[str, int, str, str, int, int]


def bucket_of(latency_ms: float) -> int:
    return int(math.log(max(latency_ms, BUCKET_MIN_MS) / BUCKET_MIN_MS, BUCKET_BASE))


def bucket_ms(bucket: int) -> float:
    """The upper edge of a bucket: a percentile read from buckets never understates."""
    return float(BUCKET_MIN_MS * BUCKET_BASE ** (bucket + 1))


def percentile(hist: Counter[int], q: float) -> float | None:
    total = sum(hist.values())
    if not total:
        return None
    rank, seen = math.ceil(q * total), 0
    for bucket in sorted(hist):
        seen += hist[bucket]
        if seen >= rank:
            return bucket_ms(bucket)
    return bucket_ms(max(hist))


@dataclass
class Tally:
    n: int = 0
    ok: int = 0
    attempts: int = 0

    def add(self, n: int, ok: int, attempts: int) -> None:
        self.n, self.ok, self.attempts = self.n + n, self.ok + ok, self.attempts + attempts

    @property
    def availability(self) -> float | None:
        return self.ok / self.n if self.n else None


@dataclass
class LiveStats:
    clock: Callable[[], float] = time.time
    _delta: dict[DeltaKey, list[int]] = field(default_factory=dict)
    # merged store
    by_phase: dict[tuple[str, str], Tally] = field(default_factory=lambda: defaultdict(Tally))
    by_second: dict[tuple[int, str, str], Tally] = field(default_factory=lambda: defaultdict(Tally))
    hist_by_second: dict[tuple[int, str], Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    hist_by_phase: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))

    # --- the sink side (called from Recorder, once per record; must stay cheap) --------------------

    def attempt(self, row: AttemptRow) -> None:
        self._add("a", row, 1)

    def operation(self, row: OperationRow) -> None:
        self._add("o", row, row["attempts"])

    def _add(self, kind: str, row: AttemptRow | OperationRow, attempts: int) -> None:
        ok = 1 if row["outcome"] == "ok" else 0
        bucket = bucket_of(row["latency_ms"]) if kind == "o" else -1
        key = (kind, int(row["ts"]), row["phase"], f"{row['flow']}.{row['step']}", ok, bucket)
        slot = self._delta.get(key)
        if slot is None:
            self._delta[key] = [1, attempts]
        else:
            slot[0] += 1
            slot[1] += attempts

    # --- shipping and merging ----------------------------------------------------------------------

    def take(self) -> list[list[Any]]:
        """The delta since the last take, as msgpack-safe rows; clears it."""
        delta, self._delta = self._delta, {}
        return [[*key, count, attempts] for key, (count, attempts) in delta.items()]

    def merge(self, rows: Iterable[list[Any]]) -> None:
        for kind, sec, phase, step, ok, bucket, count, attempts in rows:
            self.by_phase[(kind, phase)].add(count, ok * count, attempts)
            self.by_second[(sec, kind, step)].add(count, ok * count, attempts)
            if bucket >= 0:
                self.hist_by_second[(sec, step)][bucket] += count
                self.hist_by_phase[phase][bucket] += count

    def absorb_own(self) -> None:
        """In the master or a local process: what this process recorded itself joins the store."""
        self.merge(self.take())
        horizon = int(self.clock()) - KEEP_S
        for key in [k for k in self.by_second if k[0] < horizon]:
            del self.by_second[key]
        for hkey in [k for k in self.hist_by_second if k[0] < horizon]:
            del self.hist_by_second[hkey]

    # --- reading -----------------------------------------------------------------------------------

    def window(self, kind: str, window_s: float) -> dict[str, Tally]:
        """Per step over the last `window_s` whole seconds (the current second is still filling)."""
        now = int(self.clock())
        out: dict[str, Tally] = defaultdict(Tally)
        for (sec, k, step), tally in self.by_second.items():
            if k == kind and now - window_s <= sec < now:
                out[step].add(tally.n, tally.ok, tally.attempts)
        return dict(out)

    def window_p95_ms(self, window_s: float) -> dict[str, float | None]:
        now = int(self.clock())
        hists: dict[str, Counter[int]] = defaultdict(Counter)
        for (sec, step), hist in self.hist_by_second.items():
            if now - window_s <= sec < now:
                hists[step].update(hist)
        return {step: percentile(h, 0.95) for step, h in hists.items()}

    def phases_total(self, kind: str, phases: Iterable[str] | None) -> Tally:
        wanted = set(phases) if phases is not None else None
        total = Tally()
        for (k, phase), tally in self.by_phase.items():
            if k == kind and (wanted is None or phase in wanted):
                total.add(tally.n, tally.ok, tally.attempts)
        return total

    def phases_hist(self, phases: Iterable[str] | None) -> Counter[int]:
        wanted = set(phases) if phases is not None else None
        out: Counter[int] = Counter()
        for phase, hist in self.hist_by_phase.items():
            if wanted is None or phase in wanted:
                out.update(hist)
        return out
