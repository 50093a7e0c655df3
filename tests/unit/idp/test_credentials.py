from __future__ import annotations

from harness.idp.credentials import hash_secret, secret_matches


def test_only_the_right_secret_matches() -> None:
    stored = hash_secret("s3cret")
    assert len(stored) == 32
    assert secret_matches("s3cret", stored)
    assert not secret_matches("s3cret ", stored)
    assert not secret_matches("", stored)


def test_no_stored_hash_never_matches() -> None:
    assert not secret_matches("no such client", None)
