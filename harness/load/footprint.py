"""What a load process keeps must not grow with the length of the run (issue 20: a day-long soak).

Our own per-request state is bounded already (records leave for Parquet about once a second; tenacity and
the transports keep nothing per call). Locust's statistics are not: each request name's entry keeps a
{second: count} dict of requests and one of failures for the whole run, which Locust reads only for its
"current" rates over the last 12 seconds (and a worker ships and resets every few seconds, so only a local
or master process grows), and `stats.history`, the web UI's chart points, gets one row every 5 s. Measured
at full speed (20 users, about 550 requests/s, 30 request names): about 15 MB an hour, 7% of the process an
hour. Locust has no setting that bounds either, so `trim_stats` cuts them back every TRIM_EVERY_S: the
per-second counts to the last KEEP_SECONDS, the chart history to its last HISTORY_KEEP points. Totals,
response-time histograms (bounded by Locust's rounding) and errors (keyed by our outcome text) are kept;
Locust's final `--json-file` (logs/locust-stats.json: its request counts) has per-second counts of the last
minute only.

Without a web UI (`harness run`), Locust's "current" percentiles have no reader, yet each second it copies
every name's response-time histogram into a 20-second cache; those copies grow with the histograms' keys
(each new rounded response time), so a headless process goes without them (`without_current_percentiles`,
as Locust's own workers do), which also ends its chart-history greenlet.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import gevent

KEEP_SECONDS = 60  # Locust's current rates read the last 12 s; a minute leaves room for late reports
HISTORY_KEEP = 1440  # chart points of the web UI: the last two hours at Locust's one point per 5 s
TRIM_EVERY_S = 30.0


class _Entry(Protocol):
    num_reqs_per_sec: dict[int, int]
    num_fail_per_sec: dict[int, int]


def without_current_percentiles(stats: Any) -> None:
    """Switch Locust's per-second response-time cache off for every entry of `stats`, now and to come."""
    stats.use_response_times_cache = False
    for entry in [*stats.entries.values(), stats.total]:
        entry.use_response_times_cache = False
        entry.response_times_cache = None


def trim_stats(entries: Iterable[_Entry], history: list[Any], now: float) -> int:
    """Drop per-second counts older than KEEP_SECONDS and chart points past HISTORY_KEEP; returns how many
    items went."""
    cutoff = int(now) - KEEP_SECONDS
    dropped = 0
    for entry in entries:
        for per_second in (entry.num_reqs_per_sec, entry.num_fail_per_sec):
            old = [t for t in per_second if t < cutoff]
            for t in old:
                del per_second[t]
            dropped += len(old)
    if len(history) > HISTORY_KEEP:
        dropped += len(history) - HISTORY_KEEP
        del history[: len(history) - HISTORY_KEEP]
    return dropped


def keep_stats_bounded(stats: Any, clock: Any, every_s: float = TRIM_EVERY_S) -> None:
    """A greenlet's body: trim Locust's `RequestStats` every `every_s` until killed with the others."""
    while True:
        gevent.sleep(every_s)
        trim_stats([*stats.entries.values(), stats.total], stats.history, clock())
