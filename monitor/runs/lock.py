"""One monitor per data directory: an exclusive `flock` on DATA_DIR/monitor.lock, held while it runs.

A second monitor on the same directory would write the same checkpoint and SQLite file and
count every lot twice; it refuses to start and names the first (pid, host, start time). The
lock dies with its process, so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import time
from pathlib import Path

from monitor.errors import MonitorError

log = logging.getLogger(__name__)

LOCK_FILE = "monitor.lock"


class DataDirBusy(MonitorError):
    """Another monitor holds the data directory."""


class DataDirLock:
    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode("utf-8", "replace").strip() or "a process that has not written its pid"
            os.close(fd)
            raise DataDirBusy(
                f"{self.path.parent}: expected a data directory no other monitor uses, got one held by {holder}; "
                "refused to start (hint: stop that monitor, or give this one its own --data-dir)"
            ) from None
        os.ftruncate(fd, 0)
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since {started}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock; the file stays for the next start
            self._fd = None
