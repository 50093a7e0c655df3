"""The fault proxy's counters, read back from the snapshot the orchestrator saves at the end of a run
(`proxy-metrics.txt`, the Prometheus text of the proxy's GET /metrics), so a report can put the fault
rate the proxy really injected beside the one the scenario configured."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

PROXY_METRICS_FILE = "proxy-metrics.txt"
_PREFIX = "harness_proxy_toxic_"
_FIELDS = {
    f"{_PREFIX}requests_matched_total": "requests_matched",
    f"{_PREFIX}faults_injected_total": "faults_injected",
    f"{_PREFIX}faults_skipped_total": "faults_skipped",
}
_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)\{(?P<labels>.*)\}\s+(?P<value>\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class ToxicCount:
    requests_matched: int = 0
    faults_injected: int = 0
    faults_skipped: int = 0

    @property
    def rate(self) -> float | None:
        """Faults injected per request matched (None: the toxic matched no HTTP request)."""
        return self.faults_injected / self.requests_matched if self.requests_matched else None


def parse_toxic_counters(text: str) -> dict[str, ToxicCount]:
    """Counters by toxic name (summed over proxies, should one name sit on several)."""
    found: dict[str, dict[str, int]] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line.strip())
        if not match or match["name"] not in _FIELDS:
            continue
        labels = dict(_LABEL.findall(match["labels"]))
        toxic = labels.get("toxic")
        if toxic is None:
            continue
        try:
            value = int(float(match["value"]))
        except ValueError:
            continue
        counts = found.setdefault(toxic, {})
        field = _FIELDS[match["name"]]
        counts[field] = counts.get(field, 0) + value
    return {name: ToxicCount(**counts) for name, counts in found.items()}


def read_toxic_counters(run_dir: Path) -> dict[str, ToxicCount] | None:
    """None when the run left no snapshot (the fault rate was then not measured)."""
    path = Path(run_dir) / PROXY_METRICS_FILE
    try:
        return parse_toxic_counters(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return None
