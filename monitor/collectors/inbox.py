"""The LIMS inbox folder: which files are read at all, where they go after, and that no file,
however bad, stops the watch.

A file is read only when `lstat` says it is a regular file with one link, owned by the inbox's
owner or by this process, and no larger than the limit; anything else (a symlink to a password
file, a FIFO, a device) is moved to rejected/ unread. Reason files are 0640 and carry our own
messages, never more of the file than a bounded, escaped excerpt (collectors/lims.py).
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Generic, TypeVar

from monitor.errors import InputError, StoreError

log = logging.getLogger(__name__)

T = TypeVar("T")
_HINT = "the LIMS export must write plain files (no links, pipes or devices) and rename them into place"
REASON_MODE = 0o640
MAX_ATTEMPTS = 10  # a file whose import failed on the store this often is rejected with the last error
_KINDS = (
    (stat.S_ISLNK, "symbolic link"),
    (stat.S_ISDIR, "directory"),
    (stat.S_ISFIFO, "named pipe (FIFO)"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
    (stat.S_ISSOCK, "socket"),
)


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "special file")


def regular_stat(path: Path, max_bytes: int | None = None, owners: frozenset[int] | None = None) -> os.stat_result:
    """`lstat` of a plain regular file (one link, an allowed owner, not too big), else InputError."""
    where = str(path)
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise InputError(where, f"cannot read: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(st.st_mode):
        raise InputError(where, f"is a {_kind(st.st_mode)}, not a regular file; refused unread", _HINT)
    if st.st_nlink != 1:
        raise InputError(where, f"has {st.st_nlink} hard links; refused unread", _HINT)
    if owners is not None and st.st_uid not in owners:
        raise InputError(where, f"is owned by uid {st.st_uid}, not by the inbox's owner; refused unread", _HINT)
    if max_bytes is not None and st.st_size > max_bytes:
        raise InputError(where, f"file is {st.st_size} bytes, more than the {max_bytes} allowed", "split the export")
    return st


def open_regular(path: Path, max_bytes: int) -> BinaryIO:
    """The file opened for reading, refused unread (InputError) unless it is a plain regular file."""
    where = str(path)
    st = regular_stat(path, max_bytes)
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # a FIFO swapped in never blocks
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise InputError(where, f"cannot read: {exc.strerror or exc}", _HINT) from exc
    now = os.fstat(fd)
    if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) or not stat.S_ISREG(now.st_mode):
        os.close(fd)
        raise InputError(where, "was replaced while being opened; refused unread", _HINT)
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb", buffering=0)


def _private_text(path: Path, text: str) -> None:
    """Write `text` to a new file of mode 0640, never through a link planted at `path`."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, REASON_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def _folder(inbox: Path, name: str) -> Path:
    target = inbox / name
    target.mkdir(mode=0o750, exist_ok=True)
    if not stat.S_ISDIR(os.lstat(target).st_mode):
        raise OSError(f"{target} is not a directory (a link?)")
    return target


def _safe_reason(exc: BaseException) -> str:
    """Our InputErrors whole; a foreign error by type and a bounded, escaped message."""
    if isinstance(exc, InputError):
        return str(exc)
    text = str(exc)[:300].encode("unicode_escape").decode("ascii")
    return f"import failed ({type(exc).__name__}): {text} (hint: the file is kept here; move it back to retry)"


class Inbox(Generic[T]):
    """One inbox folder and its importer; remembers store failures to retry them with backoff."""

    def __init__(
        self,
        folder: Path,
        importer: Callable[[Path], T],
        *,
        retry_s: float = 1.0,
        max_retry_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.folder, self.importer, self.clock = folder, importer, clock
        self.retry_s, self.max_retry_s = retry_s, max_retry_s
        self._waiting: dict[str, tuple[int, float]] = {}  # file name -> (failed attempts, retry not before)
        self._owners: frozenset[int] | None = None

    def owners(self) -> frozenset[int]:
        """Files are read when owned by this process's user or the inbox folder's owner."""
        if self._owners is None:
            self._owners = frozenset({os.geteuid(), os.stat(self.folder).st_uid})
        return self._owners

    def files(self) -> list[Path]:
        """Finished files: *.csv not starting with '.', oldest first (by lstat: links are not followed)."""
        found = []
        for p in self.folder.glob("*.csv"):
            try:
                found.append((os.lstat(p).st_mtime, p.name, p))
            except OSError:
                continue  # gone meanwhile
        return [p for _, name, p in sorted(found) if not name.startswith(".")]

    def once(self) -> list[T]:
        results: list[T] = []
        for found in self.files():
            path = self._safe_name(found)
            if path is None:
                continue
            attempts, not_before = self._waiting.get(path.name, (0, 0.0))
            if self.clock() < not_before:
                continue
            try:
                regular_stat(path, owners=self.owners())  # links, pipes, devices: refused unread
                results.append(self.importer(path))
            except StoreError as exc:  # the store, not the file: try again later
                self._store_failed(path, attempts + 1, exc)
            except Exception as exc:  # one file, whatever went wrong, never stops the watch
                self._move(path, "rejected", exc)
            else:
                self._move(path, "done", None)
        return results

    def _safe_name(self, path: Path) -> Path | None:
        """The file under a name fit for logs: one with control characters is renamed first."""
        if path.name.isprintable():
            return path
        safe = path.with_name(
            "renamed-" + hashlib.sha1(os.fsencode(path.name), usedforsecurity=False).hexdigest()[:16] + ".csv"
        )
        try:
            path.replace(safe)
        except OSError as exc:
            log.error("%s: cannot rename a file whose name holds control characters: %s", safe.parent, exc.strerror)
            return None
        log.warning("%s: a file whose name held control characters was renamed to %s", safe.parent, safe.name)
        return safe

    def _store_failed(self, path: Path, attempts: int, exc: StoreError) -> None:
        if attempts >= MAX_ATTEMPTS:
            self._move(path, "rejected", exc)
            return
        delay = min(self.retry_s * 2 ** (attempts - 1), self.max_retry_s)
        self._waiting[path.name] = (attempts, self.clock() + delay)
        log.error("assay file %s not imported yet (attempt %d), retrying in %.0f s: %s", path, attempts, delay, exc)

    def _move(self, path: Path, where: str, exc: BaseException | None) -> None:
        self._waiting.pop(path.name, None)
        try:
            target = _folder(self.folder, where)
            path.replace(target / path.name)  # a link is moved as a link: its target is never touched
            if exc is not None:
                reason = _safe_reason(exc)
                _private_text(target / f"{path.name}.reason.txt", reason + "\n")
                log.warning("assay file rejected: %s", reason)
        except OSError as err:  # a full disk, a read-only folder: say so and try again later
            self._waiting[path.name] = (0, self.clock() + self.max_retry_s)
            log.error("%s: cannot move it to %s/: %s (hint: free space or fix permissions)", path, where, err)


def inbox_once(inbox: Path, importer: Callable[[Path], T]) -> list[T]:
    """Import every finished file in the inbox; move it to done/ or rejected/ (with a reason file).

    Writers should write a temporary name (a leading '.' or not ending in .csv) and rename.
    """
    return Inbox(inbox, importer).once()


async def watch_inbox(
    inbox: Path, importer: Callable[[Path], T], on_results: Callable[[list[T]], None], every_s: float = 1.0
) -> None:
    """Poll the inbox folder forever; imports run in a thread, results come back on the loop.
    Nothing raised by a pass ends the watch: it is logged and the next pass comes."""
    import asyncio  # noqa: PLC0415 - only the service watches; `replay` and `assays import` need not load it

    box = Inbox(inbox, importer)
    while True:
        try:
            await asyncio.to_thread(inbox.mkdir, mode=0o750, parents=True, exist_ok=True)
            results = await asyncio.to_thread(box.once)
            if results:
                on_results(results)
        except Exception:
            log.exception("%s: inbox pass failed; the next one comes in %.0f s", inbox, every_s)
        await asyncio.sleep(every_s)
