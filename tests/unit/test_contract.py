"""The contract between processes is written once: record rows match the Parquet columns, every
HARNESS_* name lives in harness.contract.Env, every endpoint name has its path."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from harness.contract import AttemptRow, Env, OperationRow
from harness.endpoints import EMBEDDED_PATHS, ENDPOINT_NAMES
from harness.records import ATTEMPT_SCHEMA, OPERATION_SCHEMA, ShardWriter, read_records

PACKAGE = Path(__file__).resolve().parents[2] / "harness"
ENV_NAME = re.compile(r"^HARNESS_[A-Z_]+$")


def test_record_rows_are_the_parquet_columns() -> None:
    assert set(AttemptRow.__required_keys__) == set(ATTEMPT_SCHEMA.names)
    assert set(OperationRow.__required_keys__) == set(OPERATION_SCHEMA.names)


def test_a_misspelled_row_key_is_refused_not_written_as_a_null_column(tmp_path: Path) -> None:
    writer = ShardWriter(tmp_path, "operations", "local")
    row: dict[str, Any] = {name: None for name in OPERATION_SCHEMA.names}
    row["latency"] = row.pop("latency_ms")
    with pytest.raises(ValueError, match="latency, latency_ms"):  # refused where it is made
        writer.append(row)
    with pytest.raises(ValueError, match="extra"):  # a key too many, with all the schema's
        writer.append({**{name: None for name in OPERATION_SCHEMA.names}, "extra": 1})
    assert writer.flush() == 0
    assert not list(tmp_path.glob("*.parquet"))


def test_rows_read_back_as_written_whatever_the_order_of_their_keys(tmp_path: Path) -> None:
    attempt: AttemptRow = {
        "error": "HTTP 503", "bytes": 17, "latency_ms": 12.5, "outcome": "http_5xx", "status": 503, "attempt": 2,
        "method": "POST", "endpoint": "token", "step": "token", "flow": "client_credentials", "op_id": "ab12.1",
        "ts": 1_700_000_000.25, "phase": "brownout", "user": "local-u3", "node": "local",
    }  # fmt: skip
    operation: OperationRow = {
        "intended_ts": None, "node": "w1", "user": "w1-u1", "phase": "baseline", "backoff_ms": 250.0,
        "latency_ms": 300.5, "status": 200, "outcome": "ok", "attempts": 3, "step": "journey", "flow": "device_code",
        "op_id": "cd34", "ts": 1_700_000_001.5,
    }  # fmt: skip
    for kind, row in (("attempts", attempt), ("operations", operation)):
        writer = ShardWriter(tmp_path, kind, "local")
        writer.append(row)
        writer.append({**row, "ts": row["ts"] + 1})
        assert writer.flush() == 2
        assert read_records(tmp_path, kind).to_pylist() == [dict(row), {**row, "ts": row["ts"] + 1}]


def test_every_environment_variable_name_is_defined_once_in_the_contract() -> None:
    defined = {value for name, value in vars(Env).items() if name.isupper()}
    assert len(defined) == len([n for n in vars(Env) if n.isupper()]), "two names for one variable"
    elsewhere = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "contract.py" and path.parent == PACKAGE:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and ENV_NAME.match(node.value):
                elsewhere.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.value}")
    assert elsewhere == [], "use harness.contract.Env instead of a literal"


def test_every_endpoint_name_has_its_path_on_the_embedded_target() -> None:
    assert tuple(EMBEDDED_PATHS) == ENDPOINT_NAMES
    assert all(path.startswith("/") for path in EMBEDDED_PATHS.values())
