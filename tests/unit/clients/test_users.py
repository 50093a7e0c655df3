"""Many identities for an external provider: a users file, one `username,password` a line, each simulated
user taking one; errors name file and line but never show a password."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from harness.clients.flows import external_user
from harness.clients.users import UsersFileError, parse_users, read_users_file
from harness.scenario.model import ExternalTarget

TARGET = ExternalTarget.model_validate({"kind": "external", "issuer": "http://127.0.0.1:9000"})


def test_lines_comments_and_a_password_with_commas() -> None:
    users = parse_users("# team A\nalice,pw,with,commas\n\n bob ,s3cret\r\n", "users.csv")
    assert [(u.username, u.password) for u in users] == [("alice", "pw,with,commas"), ("bob", "s3cret")]


@pytest.mark.parametrize(("text", "where"), [("alice\n", "users.csv:1"), ("a,b\n,pw-Hidden-1\n", "users.csv:2"),
                                             ("# only comments\n", "users.csv: no username")])
def test_bad_files_name_file_and_line_and_never_a_password(text: str, where: str) -> None:
    with pytest.raises(UsersFileError) as info:
        parse_users(text, "users.csv")
    assert where in str(info.value) and "Hidden" not in str(info.value)


def test_each_simulated_user_takes_one_line_in_turn(tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    path.write_text("u1,p1\nu2,p2\nu3,p3\n")
    env = {TARGET.users_file_env: str(path)}
    names = [external_user(TARGET, env, random.Random(0), i).username for i in range(5)]
    assert names == ["u1", "u2", "u3", "u1", "u2"]
    assert read_users_file(str(path)) is read_users_file(str(path))  # read once per process


def test_without_the_variable_the_single_configured_user_signs_in() -> None:
    env = {TARGET.username_env: "alice", TARGET.password_env: "pw"}
    assert external_user(TARGET, env, random.Random(0), 3).username == "alice"
