"""Many identities for an external provider: a users file named by an environment variable
(`target.users_file_env`, default HARNESS_USERS_FILE), one `username,password` a line. Simulated user `i`
signs in as line `i mod N` of the file, so N users spread over N identities as in production (sessions,
refresh-token families and device approvals are per identity).

The file is read where it lies, by each load process, and never copied into the run directory; the
orchestrator reads it too, to check it before anything starts and to put every password on the secret
scan's list. Blank lines and lines starting with `#` are skipped; a password may contain commas.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from harness.clients.oauth import UserCredentials


class UsersFileError(ValueError):
    """A users file that cannot be used; the message names the file and line."""


def parse_users(text: str, where: str) -> tuple[UserCredentials, ...]:
    users = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        username, sep, password = line.partition(",")
        if not sep or not username.strip() or not password:
            raise UsersFileError(f"{where}:{number}: expected username,password (the password never shown here)")
        users.append(UserCredentials(username.strip(), password))
    if not users:
        raise UsersFileError(f"{where}: no username,password line")
    return tuple(users)


@lru_cache(maxsize=4)
def read_users_file(path: str) -> tuple[UserCredentials, ...]:
    """Every identity in the file (read once per process)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsersFileError(f"{path}: cannot read the users file: {exc}") from None
    return parse_users(text, path)
