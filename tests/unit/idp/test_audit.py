from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.idp.audit import AuditLog, NullAudit, open_audit


def test_lines_reach_the_file_on_flush_and_close(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(str(path), clock=lambda: 1700000000.5)
    log.emit("token_issued", client_id="c1", jti="j1", scope="api")
    assert path.read_text() == ""  # buffered
    log.flush()
    log.emit("client_auth_failed", client_id="c2", reason="bad_secret")
    log.close()
    first, second = (json.loads(line) for line in path.read_text().splitlines())
    assert first["ts"] == 1700000000.5
    assert (first["event"], first["client_id"], first["jti"]) == ("token_issued", "c1", "j1")
    assert second["reason"] == "bad_secret" and isinstance(second["pid"], int)


def test_appends_to_an_existing_log(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    for n in range(2):
        log = AuditLog(str(path))
        log.emit("e", n=n)
        log.close()
    assert [json.loads(line)["n"] for line in path.read_text().splitlines()] == [0, 1]


@pytest.mark.parametrize("field", ["client_secret", "access_token", "refresh_token", "password", "code",
                                   "user_code", "device_code"])
def test_secrets_are_refused(tmp_path: Path, field: str) -> None:
    for sink in (AuditLog(str(tmp_path / "a.jsonl")), NullAudit()):
        with pytest.raises(ValueError, match=field):
            sink.emit("token_issued", **{field: "x"})
        sink.close()


def test_no_path_means_no_file() -> None:
    assert isinstance(open_audit(None), NullAudit)
