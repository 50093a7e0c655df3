from __future__ import annotations

from harness.idp.passwords import PBKDF2_ITERATIONS, hash_password, password_matches


def test_hash_is_salted_and_records_its_cost() -> None:
    a, b = hash_password("pw-user0001"), hash_password("pw-user0001")
    assert a != b and a.startswith(f"pbkdf2_sha256${PBKDF2_ITERATIONS}$")
    assert "pw-user0001" not in a


def test_matching() -> None:
    stored = hash_password("pw-user0001")
    assert password_matches("pw-user0001", stored)
    assert not password_matches("pw-user0002", stored)
    assert not password_matches("pw-user0001", None)  # unknown user: same cost, never a match
    assert not password_matches("x", "garbage")
    assert not password_matches("\udcff", stored)
