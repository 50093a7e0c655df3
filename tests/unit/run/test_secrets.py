from __future__ import annotations

from pathlib import Path

from harness.records import ShardWriter
from harness.run.secrets import scan_run_dir

SECRET = "s3cr3t-client-value-0123456789"


def test_clean_directory(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "target.log").write_text("POST /token 200\n")
    assert scan_run_dir(tmp_path, [SECRET]) == []


def test_finds_a_value_in_a_log(tmp_path: Path) -> None:
    (tmp_path / "journal.json").write_text(f'{{"detail": "secret={SECRET}"}}')
    (leak,) = scan_run_dir(tmp_path, [SECRET])
    assert leak.path == "journal.json" and "secret value" in leak.what


def test_finds_shapes_without_knowing_the_value(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjbGllbnQifQ.c2lnbmF0dXJlLXZhbHVl")
    (tmp_path / "b.txt").write_text("-----BEGIN PRIVATE KEY-----\nMIIE...")
    (tmp_path / "c.txt").write_text('{"kty": "RSA", "d": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}')
    (tmp_path / "d.txt").write_text("Authorization: Bearer abcdefghijklmnop")
    found = {(leak.path, leak.what.split()[-1]) for leak in scan_run_dir(tmp_path, [])}
    assert {p for p, _ in found} == {"a.txt", "b.txt", "c.txt", "d.txt"}


def test_reads_compressed_parquet_values(tmp_path: Path) -> None:
    writer = ShardWriter(tmp_path / "records", "attempts", "local")
    writer.append({"ts": 1.0, "op_id": "x", "flow": "f", "step": "s", "endpoint": "token", "method": "POST",
                   "attempt": 1, "status": 500, "outcome": "http_5xx", "latency_ms": 1.0, "bytes": 0,
                   "phase": "p", "user": "u", "node": "n", "error": f"oops {SECRET}"})
    writer.flush()
    (shard,) = (tmp_path / "records").iterdir()
    assert [leak.path for leak in scan_run_dir(tmp_path, [SECRET])] == [f"records/{shard.name}"]
