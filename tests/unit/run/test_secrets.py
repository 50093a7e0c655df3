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


# what the embedded target hands out (harness/idp: grants.py, devices.py, portal.py, aws.py) and what any
# provider's bodies look like: none of these values is known to the orchestrator
OPAQUE = {
    "refresh token": ['{"refresh_token": "8xLmQ2vA9kTq1ZrW5sY7bN3c"}', "rt.Zk3m_Qw8-Vb2Lp9Xc4Rt7Yh1Jn6Ds0Fg5Ka2Wq8Ee3",
                      "grant_type=refresh_token&refresh_token=8xLmQ2vA9kTq1ZrW5sY7"],
    "device code": ['{"deviceCode": "Vb2Lp9Xc4Rt7Yh1Jn6Ds0Fg5"}', "dc.Zk3m_Qw8-Vb2Lp9Xc4Rt7Yh1Jn6Ds0Fg5Ka2Wq8Ee3"],
    "user code": ['{"userCode": "BCDF-GHJK"}', "/device?user_code=WXZB-QRST", "{'user_code': 'QRSTVWXZ'}"],
    "client secret": ['{"clientSecret": "cs.' + "k" * 64 + '"}', "client_secret=Zk3m_Qw8-Vb2Lp9X"],
    "AWS secret access key": ['{"secretAccessKey": "' + "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"[:40] + '"}',
                              "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"],
    "AWS session token": ['{"sessionToken": "harness-session/' + "Q" * 128 + '"}',
                          "aws_session_token=IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJH"],
}


def test_finds_opaque_credentials_by_name_and_by_the_targets_forms(tmp_path: Path) -> None:
    for n, samples in enumerate(OPAQUE.values()):
        for m, sample in enumerate(samples):
            (tmp_path / f"{n}-{m}.log").write_text(f"2026-12-05 12:00:00 DEBUG response body: {sample}\n")
    found = {(leak.path, leak.what) for leak in scan_run_dir(tmp_path, [])}
    for n, (kind, samples) in enumerate(OPAQUE.items()):
        for m in range(len(samples)):
            assert (f"{n}-{m}.log", f"something shaped like a {kind}") in found, (kind, samples[m])


def test_the_names_alone_are_not_leaks(tmp_path: Path) -> None:
    """Flow names, step names, metrics keyed by flow and a redacted value are what reports hold."""
    (tmp_path / "summary.json").write_text(
        '{"flows": {"refresh_token": {"availability": 0.99}}, "flow": "refresh_token", "step": "device_code",'
        ' "user_code": null, "client_secret_env": "IDP_CLIENT_SECRET", "sessionToken": "<redacted>"}')
    (tmp_path / "report.html").write_text("<td>refresh_token</td><td>user_code_sha256=3f2a1b</td>"
                                          "<td>aws_credentials_refresh</td>")
    assert scan_run_dir(tmp_path, []) == []
