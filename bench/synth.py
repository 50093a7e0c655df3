"""Synthetic run directories at the per-record shape of a real run, for the report and compaction benchmarks
and the equivalence test (tests/integration/report/test_out_of_core.py).

    python bench/synth.py RUN_DIR --records 1000000 [--nodes 2] [--rate 10000] [--layout shards|compacted]

Shaped like `harness run` writes them: journeys of three flows (2 to 4 steps each), one operation record
per step and one per journey (`step: journey`), one attempt record per HTTP exchange; retries with backoff
in a brownout on the token endpoint (30% of attempts get 503), rare timeouts, resets and a rare security
violation; op ids, users, nodes and error strings as the clients write them. Each load process ("node")
closes one shard a second (`<kind>-<node>-<seq>.parquet`), holding the records that completed in that
second in completion order, so shards overlap in time as real ones do. Generation is vectorised and goes
a chunk of seconds at a time, so a 100M-record run is written in bounded memory.

`records` counts attempt and operation records together; the run has a journal (phases, one fault) and a
scenario with one SLO of every kind, so the report exercises every metric.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from harness.records import ATTEMPT_SCHEMA, OPERATION_SCHEMA

T0 = 1_764_300_000.0
PHASES = (("baseline", 0.3), ("brownout", 0.3), ("recovery", 0.3), ("cooldown", 0.1))
FLOWS = {
    "client_credentials": ("token", "introspect"),
    "refresh_token": ("token", "refresh", "userinfo"),
    "aws_device_login": ("register", "device", "token", "credentials"),
}
FLOW_WEIGHTS = (0.5, 0.3, 0.2)
ENDPOINTS = {"token": "token", "introspect": "introspection", "refresh": "token", "userinfo": "userinfo",
             "register": "register_client", "device": "device_authorization",
             "credentials": "role_credentials"}  # fmt: skip
RECORDS_PER_JOURNEY = 6.4  # measured on this generator: steps + journey row + attempts
CHUNK_S = 20
USERS_PER_NODE = 50

SCENARIO = """name: synthetic
description: Synthetic records at the shape of a real run (bench/synth.py).
seed: 1
flows:
  - {{flow: client_credentials, weight: 5}}
  - {{flow: refresh_token, weight: 3}}
  - {{flow: aws_device_login, weight: 2}}
phases:
  - {{name: baseline, duration_s: {p0}}}
  - name: brownout
    duration_s: {p1}
    faults: [{{type: http_error, endpoint: token, status: 503, probability: 0.3}}]
  - {{name: recovery, duration_s: {p2}}}
  - {{name: cooldown, duration_s: {p3}}}
slos:
  - {{name: availability, metric: availability, scope: operation, phases: [baseline, recovery], at_least: 0.99}}
  - {{name: brownout-attempts, metric: error_rate, scope: attempt, phases: [brownout], at_most: 0.2}}
  - {{name: p99, metric: latency_p99_ms, phases: [baseline], at_most: 300}}
  - {{name: token-max, metric: latency_max_ms, scope: attempt, steps: [token], at_most: 6000}}
  - {{name: aws-p95, metric: latency_p95_ms, flows: [aws_device_login], phases: [brownout], at_most: 2000}}
  - {{name: recovery, metric: time_to_recover_s, at_most: 10}}
  - {{name: amplification, metric: attempts_per_operation, phases: [brownout], at_most: 1.5}}
  - {{name: throughput, metric: throughput_ops, phases: [baseline], at_least: 1}}
  - {{name: fail-closed, metric: unauthorized_accepted, at_most: 0}}
"""


@dataclass(frozen=True)
class Shape:
    records: int
    nodes: int = 2
    rate: float = 10_000.0  # records a second, all nodes together
    seed: int = 0
    open_loop: bool = False  # operations carry an intended start (open-loop arrivals)
    tie_ms: bool = False  # ts rounded to the millisecond: many equal timestamps (ordering of ties)

    @property
    def duration_s(self) -> float:
        return max(self.records / self.rate, 10.0)


def synthesise(run_dir: str | Path, shape: Shape) -> dict[str, int]:
    """Write the run directory; returns how many records of each kind it holds."""
    run_dir = Path(run_dir)
    records_dir = run_dir / "records"
    records_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(shape.seed)
    edges = T0 + np.cumsum([0.0] + [share * shape.duration_s for _, share in PHASES])
    writers = {(kind, node): _Shards(records_dir, kind, f"w{node + 1}") for kind in ("attempts", "operations")
               for node in range(shape.nodes)}  # fmt: skip
    per_node_s = shape.rate / RECORDS_PER_JOURNEY / shape.nodes
    written = {"attempts": 0, "operations": 0}
    total_target = shape.records
    start = 0.0
    while start < shape.duration_s * 0.98 and sum(written.values()) < total_target:
        for node in range(shape.nodes):
            n = max(int(rng.poisson(per_node_s * CHUNK_S)), 1)
            ops, att = _journeys(rng, shape, node, n, T0 + start, edges)
            for kind, table in (("operations", ops), ("attempts", att)):
                written[kind] += writers[(kind, node)].add(table, until=T0 + start + CHUNK_S)
        start += CHUNK_S
    for shards in writers.values():
        written[shards.kind] += shards.add(None, until=np.inf)
    _write_meta(run_dir, shape, edges)
    return written


def _journeys(
    rng: np.random.Generator, shape: Shape, node: int, n: int, chunk_start: float, edges: np.ndarray
) -> tuple[pa.Table, pa.Table]:
    """n journeys starting in one chunk of one node: (operation rows, attempt rows), each with `_done`."""
    flow_names = np.array(list(FLOWS))
    flow = rng.choice(len(FLOWS), n, p=FLOW_WEIGHTS)
    steps_of = np.array([len(s) for s in FLOWS.values()])
    width = steps_of.max()
    step_table = np.array([list(s) + [""] * (width - len(s)) for s in FLOWS.values()])
    start = chunk_start + np.sort(rng.uniform(0, CHUNK_S, n))
    intended = start - rng.exponential(0.002, n) if shape.open_loop else None

    # step operations
    k = steps_of[flow]
    journey = np.repeat(np.arange(n), k)
    step_no = np.arange(journey.size) - np.repeat(np.cumsum(k) - k, k)
    step = step_table[flow[journey], step_no]
    phase_at = np.clip(np.searchsorted(edges, start, side="right") - 1, 0, len(PHASES) - 1)
    brownout = (phase_at[journey] == 1) & (step == "token")
    p_fail = np.where(brownout, 0.3, 0.002)
    fails = rng.geometric(1.0 - p_fail) - 1  # failed attempts before the first success
    attempts = np.minimum(fails + 1, 4).astype(np.int32)
    gave_up = fails >= 4
    violation = rng.random(journey.size) < 2e-6

    # attempts of each step operation
    owner = np.repeat(np.arange(journey.size), attempts)
    number = np.arange(owner.size) - np.repeat(np.cumsum(attempts) - attempts, attempts) + 1
    last = number == attempts[owner]
    failed_attempt = ~last | gave_up[owner]
    kind_of_failure = rng.random(owner.size)
    timeout = failed_attempt & ~brownout[owner] & (kind_of_failure < 0.2)
    reset = failed_attempt & ~brownout[owner] & (kind_of_failure >= 0.2) & (kind_of_failure < 0.4)
    att_latency = rng.lognormal(np.where(step[owner] == "token", 2.2, 1.4), 0.55, owner.size)
    att_latency = np.where(timeout, 5000.0 + rng.random(owner.size), att_latency)
    backoff = np.where(last, 0.0, 100.0 * 2.0 ** (number - 1) * rng.uniform(0.5, 1.0, owner.size))
    spent = att_latency + backoff
    op_latency = _sums(spent, owner, journey.size)
    op_backoff = _sums(backoff, owner, journey.size)
    op_ts = start[journey] + (_running(op_latency, k) - op_latency) / 1000.0 + step_no * 0.0005
    att_ts = op_ts[owner] + (_running(spent, attempts) - spent) / 1000.0

    att_outcome = np.where(failed_attempt, np.where(timeout, "timeout", np.where(reset, "reset", "http_5xx")), "ok")
    att_outcome = np.where(last & violation[owner], "security_violation", att_outcome)
    att_status = np.where(failed_attempt, np.where(timeout | reset, 0, 503), 200).astype(np.int32)
    op_outcome = att_outcome[np.cumsum(attempts) - 1]
    op_status = att_status[np.cumsum(attempts) - 1]

    # whole journeys
    j_latency = _sums(op_latency, journey, n)
    j_attempts = _sums(attempts, journey, n).astype(np.int32)
    bad = op_outcome != "ok"
    first_bad = np.full(n, journey.size)
    np.minimum.at(first_bad, journey[bad], np.flatnonzero(bad))
    j_outcome = np.where(first_bad < journey.size, op_outcome[np.minimum(first_bad, journey.size - 1)], "ok")

    jid = pc.cast(pa.array(rng.integers(10**12, 10**14, n, dtype=np.int64)), pa.string())
    step_id = pc.binary_join_element_wise(pc.take(jid, pa.array(journey)), pc.cast(pa.array(step_no + 1), pa.string()), ".")  # noqa: E501
    node_name = f"w{node + 1}"
    user_of_journey = rng.integers(0, USERS_PER_NODE, n)
    users = np.array([f"{node_name}-u{i}" for i in range(USERS_PER_NODE)])

    def ts(values: np.ndarray) -> np.ndarray:
        return np.round(values, 3) if shape.tie_ms else values

    def phase(values: np.ndarray) -> np.ndarray:
        return np.array([p for p, _ in PHASES])[np.clip(np.searchsorted(edges, values, side="right") - 1, 0, 3)]

    step_ops_ts, j_ts = ts(op_ts), ts(start)
    op_intended = None if intended is None else intended[journey]
    extra_wait: np.ndarray = np.zeros(n) if intended is None else (start - intended) * 1000.0
    ops = pa.table(
        {
            "ts": np.concatenate([j_ts, step_ops_ts]),
            "op_id": pa.concat_arrays([jid, step_id]),
            "flow": np.concatenate([flow_names[flow], flow_names[flow[journey]]]),
            "step": np.concatenate([np.full(n, "journey"), step]),
            "attempts": np.concatenate([j_attempts, attempts]),
            "outcome": np.concatenate([j_outcome, op_outcome]),
            "status": np.concatenate([np.zeros(n, np.int32), op_status]),
            "latency_ms": np.concatenate([j_latency + extra_wait, op_latency + extra_wait[journey]]),
            "backoff_ms": np.concatenate([_sums(op_backoff, journey, n), op_backoff]),
            "phase": np.concatenate([phase(j_ts), phase(step_ops_ts)]),
            "user": np.concatenate([users[user_of_journey], users[user_of_journey[journey]]]),
            "node": np.full(n + journey.size, node_name),
            "intended_ts": pa.nulls(n + journey.size, pa.float64()) if intended is None
            else np.concatenate([intended, op_intended]),
        },
        schema=OPERATION_SCHEMA,
    )  # fmt: skip
    ops = ops.append_column("_done", pa.array(ops.column("ts").to_numpy() + ops.column("latency_ms").to_numpy() / 1e3))
    att_ts_r = ts(att_ts)
    att = pa.table(
        {
            "ts": att_ts_r,
            "op_id": pc.take(step_id, pa.array(owner)),
            "flow": flow_names[flow[journey[owner]]],
            "step": step[owner],
            "endpoint": _lookup(ENDPOINTS, step[owner]),
            "method": np.where(step[owner] == "userinfo", "GET", "POST"),
            "attempt": number.astype(np.int32),
            "status": att_status,
            "outcome": att_outcome,
            "latency_ms": att_latency,
            "bytes": np.where(att_status == 200, np.where(step[owner] == "token", 781, 226), 0).astype(np.int64),
            "phase": phase(att_ts_r),
            "user": users[user_of_journey[journey[owner]]],
            "node": np.full(owner.size, node_name),
            "error": np.where(att_outcome == "ok", "", np.where(timeout, "ReadTimeout", np.where(reset, "ConnectionResetError", "HTTP 503 temporarily_unavailable"))),  # noqa: E501
        },
        schema=ATTEMPT_SCHEMA,
    )  # fmt: skip
    att = att.append_column("_done", pa.array(att_ts + att_latency / 1e3))
    return ops, att


def _lookup(mapping: dict[str, str], keys: np.ndarray) -> np.ndarray:
    names = np.array(sorted(mapping))
    return np.array([mapping[name] for name in names])[np.searchsorted(names, keys)]


def _running(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Running sum of `values` within consecutive groups of `counts` items (the current item included)."""
    totals = np.add.reduceat(values, np.concatenate([[0], np.cumsum(counts)[:-1]])) if values.size else values
    running: np.ndarray = np.cumsum(values) - np.repeat(np.cumsum(totals) - totals, counts)
    return running


def _sums(values: np.ndarray, owner: np.ndarray, size: int) -> np.ndarray:
    return np.bincount(owner, weights=values, minlength=size)


class _Shards:
    """One node's shards of one kind: rows held until the second they completed in is over."""

    def __init__(self, directory: Path, kind: str, node: str):
        self.directory, self.kind, self.node = directory, kind, node
        self.pending: pa.Table | None = None
        self.seq = 0

    def add(self, table: pa.Table | None, until: float) -> int:
        parts = [t for t in (self.pending, table) if t is not None]
        if not parts:
            return 0
        rows = pa.concat_tables(parts)
        done = rows.column("_done").to_numpy()
        order = np.argsort(done, kind="stable")
        rows, done = rows.take(order), done[order]
        cut = int(np.searchsorted(done, np.floor(until) if np.isfinite(until) else np.inf))
        ready, self.pending = rows.slice(0, cut), rows.slice(cut) if cut < rows.num_rows else None
        seconds = np.floor(done[:cut])
        bounds = np.flatnonzero(np.diff(seconds)) + 1
        written = 0
        for a, b in zip(np.concatenate([[0], bounds]), np.concatenate([bounds, [cut]]), strict=True):
            if b <= a:
                continue
            self.seq += 1
            part = ready.slice(int(a), int(b - a)).drop_columns(["_done"])
            pq.write_table(part, self.directory / f"{self.kind}-{self.node}-{self.seq:06d}.parquet", compression="zstd")
            written += part.num_rows
        return written


def _write_meta(run_dir: Path, shape: Shape, edges: np.ndarray) -> None:
    lengths = [round(share * shape.duration_s, 3) for _, share in PHASES]
    (run_dir / "scenario.yaml").write_text(SCENARIO.format(p0=lengths[0], p1=lengths[1], p2=lengths[2], p3=lengths[3]))
    journal = {
        "schema_version": 1, "run_id": run_dir.name, "status": "completed", "exit_code": 0,
        "scenario": {"name": "synthetic"}, "started_at": T0 - 1, "ended_at": float(edges[-1]) + 5, "test_start": T0,
        "phases": [{"name": name, "asked_start": float(edges[i]), "start": float(edges[i]), "end": float(edges[i + 1])}
                   for i, (name, _) in enumerate(PHASES)],
        "faults": [{"id": "brownout.0", "phase": "brownout", "type": "http_error", "toxic": "harness-brownout-0",
                    "spec": {"type": "http_error", "endpoint": "token", "status": 503, "probability": 0.3},
                    "apply_asked_at": float(edges[1]), "applied_at": float(edges[1]) + 0.004,
                    "remove_asked_at": float(edges[2]), "removed_at": float(edges[2]) + 0.003, "error": None}],
        "events": [], "rollback": [],
    }  # fmt: skip
    (run_dir / "journal.json").write_text(json.dumps(journal))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--rate", type=float, default=10_000.0, help="records a second, all nodes together")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--open-loop", action="store_true")
    parser.add_argument("--layout", choices=("shards", "compacted"), default="shards")
    args = parser.parse_args()
    shape = Shape(args.records, args.nodes, args.rate, args.seed, args.open_loop)
    print(json.dumps(synthesise(args.run_dir, shape)))
    if args.layout == "compacted":
        from harness.analysis.compact import compact

        compact(args.run_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
