"""One monitor per data directory: the second refuses to start and names the first."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.runs.app import Monitor
from monitor.runs.lock import DataDirBusy, DataDirLock

ROOT = Path(__file__).resolve().parents[1]

HOLD = r"""
import sys, time
from pathlib import Path
from monitor.runs.lock import DataDirLock
DataDirLock(Path(sys.argv[1])).acquire()
print("held", flush=True)
sys.stdin.read()
"""


def test_a_second_monitor_on_the_same_data_dir_refuses_to_start(tmp_path: Path) -> None:
    cfg = load_config(ROOT / "config/plant.toml")
    first = Monitor(cfg, tmp_path, seeds=ROOT / "seeds")
    with pytest.raises(DataDirBusy) as err:
        Monitor(cfg, tmp_path, seeds=ROOT / "seeds")
    assert f"pid {os.getpid()}" in str(err.value) and "refused to start" in str(err.value)
    first.store.close()
    first.lock.release()
    again = Monitor(cfg, tmp_path, seeds=ROOT / "seeds")  # released: the next one starts
    again.store.close()
    again.lock.release()


def test_the_lock_names_another_process_and_dies_with_it(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        with pytest.raises(DataDirBusy, match=f"pid {proc.pid} on "):
            DataDirLock(tmp_path).acquire()
    finally:
        proc.kill()
        proc.wait()
    lock = DataDirLock(tmp_path)  # the holder died: no stale lock
    lock.acquire()
    lock.release()


def test_a_locked_sqlite_store_says_locked_not_cannot_rollback(tmp_path: Path) -> None:
    import sqlite3  # noqa: PLC0415

    from monitor.errors import StoreError  # noqa: PLC0415
    from monitor.store.batches import BatchStore  # noqa: PLC0415

    BatchStore(tmp_path / "blackmass.db").close()
    other = sqlite3.connect(tmp_path / "blackmass.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        with pytest.raises(StoreError, match="database is locked") as err:
            BatchStore(tmp_path / "blackmass.db", busy_timeout_s=0.05)  # its schema check needs the lock
        assert "rollback" not in str(err.value)
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_a_store_this_user_cannot_write_is_read_only_and_reportable(tmp_path: Path) -> None:
    from monitor.errors import StoreError  # noqa: PLC0415
    from monitor.reports.exports import load, render  # noqa: PLC0415
    from monitor.store.batches import BatchStore  # noqa: PLC0415
    from monitor.store.query import BatchQuery  # noqa: PLC0415
    from tests.test_store import result  # noqa: PLC0415

    store = BatchStore(tmp_path / "blackmass.db")
    store.save(result("L1-00001", feed=1000.0))
    store.save(result("L1-00002", feed=2000.0))
    store.close()
    ro = BatchStore(tmp_path / "blackmass.db", read_only=True)  # what a user without write access gets
    assert [r.feed_kg for r in ro.latest()] == [1000.0, 2000.0]
    csv = render(ro, load(ro, BatchQuery(), "csv"), "csv").decode()
    assert csv.count("\n") == 3 and "L1-00002" in csv
    with pytest.raises(StoreError, match="readonly"):
        ro.save(result("L1-00003", feed=3000.0))
    ro.close()
