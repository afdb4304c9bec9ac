"""Secrets come as file paths only, in files only their owner can read (like libpq's .pgpass).

Used by the store password (store/url.py), the OPC-UA password (collectors/credentials.py) and the
passport signing key (passport/signing.py). Errors name the file and the mode, never the content.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from monitor.errors import InputError

_HINT = "chmod 600 the file (a container secret: mount it with defaultMode 0400)"


def looks_like_material(value: str) -> bool:
    """True for key or certificate text where a path was expected (PEM, base64 blobs)."""
    return "-----BEGIN" in value or "\n" in value or len(value) > 1024  # noqa: PLR2004 - longer than any sane path


def read_secret(path: Path, what: str) -> bytes:
    """The bytes of a secrets file; InputError when unreadable or readable by others than its owner
    (group read is allowed for a root-owned file, as libpq allows 0640 for root)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise InputError(str(path), f"cannot read the {what} file: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        mode = stat.S_IMODE(st.st_mode)
        too_open = mode & 0o077 if st.st_uid != 0 else mode & 0o037
        if not stat.S_ISREG(st.st_mode) or too_open:
            raise InputError(
                str(path),
                f"the {what} file has mode {mode:04o}: readable or writable by others; refused",
                _HINT,
            )
        return fh.read(1024 * 1024)
