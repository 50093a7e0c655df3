"""Files only their owner may read: the store (private signing keys, hashes of every credential) and the
logs (security events). Created 0600 whatever the umask; an existing one that is looser, as earlier
versions left them, is tightened when it is ours."""

from __future__ import annotations

import os

PRIVATE_MODE = 0o600


def ensure_private(path: str) -> None:
    """Create `path` empty if missing, mode 0600; tighten it to 0600 if it exists, is ours and is looser."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE_MODE)
    try:
        tighten(fd)
    finally:
        os.close(fd)


def tighten(fd: int) -> None:
    st = os.fstat(fd)
    if st.st_mode & 0o077 and st.st_uid == os.geteuid():
        os.fchmod(fd, PRIVATE_MODE)
