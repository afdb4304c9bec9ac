"""The fault matrix (issue 6), a monitor killed with SIGKILL mid-batch: `blackmass simulate` and
`blackmass run` as processes; the second monitor resumes the lot from the checkpoint, noise-free
against the simulator's ground truth (a file of its own: it runs beside the fault demos).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import free_port, truth_lots
from tests.integration.fault_rig import caught_up, compare

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def _metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
        return r.read().decode()


def _feeding_mass(port: int) -> float:
    """kg fed so far into the lot in progress (0 when none or unreachable)."""
    try:
        text = _metrics(port)
    except OSError:
        return 0.0
    m = re.search(r'blackmass_batch_in_progress_mass_grams\{[^}]*stream="feed"[^}]*\} (\S+)', text)
    done = re.search(r"blackmass_batches_completed_total\{[^}]*\} (\S+)", text)
    return float(m.group(1)) / 1000 if m and done and float(done.group(1)) >= 2 else 0.0


def wait_for(cond: Callable[[], bool], what: str, limit_s: float = 120.0) -> None:
    """Poll until cond() holds; the limit only bounds a hang, it is not what the test measures."""
    deadline = time.monotonic() + limit_s
    while not cond():
        assert time.monotonic() < deadline, f"gave up waiting for: {what}"
        time.sleep(0.2)


def listening(endpoint: str) -> bool:
    host, port = endpoint.removeprefix("opc.tcp://").split("/")[0].split(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError:
        return False
    return True


def stored(data: Path) -> tuple[int, int]:
    """(lots resumed from a checkpoint, lots) in the running monitor's store, read-only."""
    db = data / "blackmass.db"
    if not db.exists():
        return (0, 0)
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as c:
        try:  # the flag's text is in the stored MessagePack as its UTF-8 bytes
            resumed, lots = c.execute(
                "SELECT COUNT(DISTINCT CASE WHEN instr(result_msgpack, CAST('resumed_from_checkpoint' AS BLOB)) > 0"
                " THEN batch_id END),"
                " COUNT(DISTINCT batch_id) FROM batch_versions"
            ).fetchone()
        except sqlite3.OperationalError:  # the schema is being written
            return (0, 0)
    return (resumed, lots)


def resumed_and_after(data: Path) -> bool:
    resumed, lots = stored(data)
    return resumed >= 1 and caught_up(lots, truth_lots(data))


def test_monitor_killed_mid_batch_resumes_it(tmp_path: Path) -> None:
    exe = [str(Path(sys.executable).parent / "blackmass")]
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}/blackmass"
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    common = ["--data-dir", str(tmp_path)]
    sim = subprocess.Popen(
        [*exe, "simulate", "--endpoint", endpoint, *common, "--speed", "1200", "--no-noise", "--seed", "42"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "sim.log").open("w"),
    )
    run = [*exe, "run", "--endpoint", endpoint, *common, "--port", str(port)]
    try:
        wait_for(lambda: listening(endpoint), "the simulator's OPC-UA port", 120)
        first = subprocess.Popen(run, cwd=ROOT, env=env, stderr=(tmp_path / "run1.log").open("w"))
        wait_for(lambda: _feeding_mass(port) >= 500, "two batches in and 500 kg into the third")
        into_lot = time.time_ns()
        checkpoint = tmp_path / "checkpoint.json"
        wait_for(lambda: checkpoint.exists() and checkpoint.stat().st_mtime_ns > into_lot, "a checkpoint of that lot")
        first.send_signal(signal.SIGKILL)
        first.wait()
        time.sleep(2)  # the outage itself (40 plant minutes down): any length will do, this is not a wait
        second = subprocess.Popen(run, cwd=ROOT, env=env, stderr=(tmp_path / "run2.log").open("w"))
        wait_for(lambda: resumed_and_after(tmp_path), "the resumed lot and the one after it stored", 120)
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=20)
    finally:
        sim.send_signal(signal.SIGTERM)
        sim.wait(timeout=20)
    report = compare(tmp_path)
    resumed = [b for b, r in report.items() if "resumed_from_checkpoint" in r["flags"]]
    assert resumed, (tmp_path / "run2.log").read_text()[-2000:]
    assert all(report[b]["state"] != "partial" for b in resumed)
    assert "collector_gap_backfilled" in report[resumed[0]]["flags"]
