"""The fault matrix (issue 6): each simulator fault, and a monitor killed with SIGKILL, noise-free
against the simulator's ground truth. Every completed batch is present once, feed and black-mass
masses are within 0.2 %, and the flags of the affected batch say what happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
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

from monitor.cli import main
from monitor.runs.app import Monitor
from monitor.runs.demo import SimOptions, run_demo
from tests.conftest import free_port, truth_lots, until

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration
FAULTY_LOT = "L1-00003"  # faults strike halfway through the third lot
TOLERANCE = 0.002
LOTS = 4  # a run ends when its monitor has stored this many lots: the faulty third and one after it
HANG_S = 180.0  # bounds a hang; the runs wait on lots stored, not on the clock


def compare(data: Path) -> dict[str, dict[str, str]]:
    """The report's batches; asserts none lost, none doubled, masses within 0.2 % of the truth."""
    assert main(["report", "--data-dir", str(data), "--format", "csv", "--out", str(data / "report.csv")]) == 0
    truth = {r["batch_id"]: r for r in csv.DictReader((data / "ground_truth.csv").open())}
    rows = list(csv.DictReader((data / "report.csv").open()))
    report = {r["batch_id"]: r for r in rows}
    assert len(rows) == len(report), "a batch was stored twice"
    assert len(truth) >= 4, f"the run was too short: {len(truth)} lots"
    newest = max(truth, key=lambda b: float(truth[b]["end"]))
    lost = [b for b in truth if b not in report]
    assert lost in ([], [newest]), f"lost batches {lost}"  # the newest may still be flushing when the run stops
    for b, t in truth.items():
        if b not in report:
            continue
        for col in ("feed_kg", "black_mass_kg"):
            err = abs(float(report[b][col]) - float(t[col])) / float(t[col])
            assert err <= TOLERANCE, f"{b} {col}: {report[b][col]} vs truth {t[col]} ({err:.4%})"
    return report


async def until_lots(data: Path, seen: set[str], run: asyncio.Task[Monitor], stop: asyncio.Event) -> None:
    """Set `stop` once LOTS lots are in the ground truth and the monitor has stored (`seen`, filled by the
    demo's on_batch) every one of them but the newest, which may still be flushing; a monitor that fell
    behind (a loaded machine, a reconnect backing off) is waited for."""
    await until(lambda: caught_up(len(seen), truth_lots(data)) or run.done())
    stop.set()


def caught_up(stored: int, truth: int) -> bool:
    return truth >= LOTS and stored >= max(LOTS, truth - 1)


@pytest.fixture(scope="module")
def fault_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Monitor]]:
    """One demo per fault, all at once (each is light at 1,200x; they share nothing but the CPU), each
    until its monitor has stored LOTS lots."""
    faults = ("server-restart", "network-outage", "totalizer-reset", "bad-quality")

    async def all_runs() -> dict[str, tuple[Path, Monitor]]:
        tasks = {}
        async with asyncio.TaskGroup() as tg:
            for f in faults:
                data = tmp_path_factory.mktemp(f)
                opts = SimOptions(
                    data_dir=data,
                    sim_config=ROOT / "config/simulator.toml",
                    seeds=ROOT / "seeds",
                    speed=1200,
                    seed=41,
                    noise=False,
                    assay_delay_h=0,
                    faults=frozenset({f}),
                )
                stop, seen = asyncio.Event(), set[str]()
                run = run_demo(
                    opts,
                    config=ROOT / "config/plant.toml",
                    port=free_port(),
                    duration=HANG_S,
                    on_batch=lambda r, seen=seen: seen.add(r.batch_id),
                    stop=stop,
                )
                tasks[f] = (data, tg.create_task(run))
                tg.create_task(until_lots(data, seen, tasks[f][1], stop))
        return {f: (data, t.result()) for f, (data, t) in tasks.items()}

    return asyncio.run(all_runs())


def test_server_restart_loses_nothing(fault_runs: dict[str, tuple[Path, Monitor]]) -> None:
    data, monitor = fault_runs["server-restart"]
    report = compare(data)
    assert "collector_gap_backfilled" in report[FAULTY_LOT]["flags"]
    assert monitor.collector.reconnects >= 1
    assert any(g.recovered and g.samples > 0 for g in monitor.collector.gaps)


def test_network_outage_loses_nothing(fault_runs: dict[str, tuple[Path, Monitor]]) -> None:
    data, monitor = fault_runs["network-outage"]
    report = compare(data)
    assert "collector_gap_backfilled" in report[FAULTY_LOT]["flags"]
    assert monitor.collector.reconnects >= 1
    unaffected = [b for b, r in report.items() if b < "L1-00002"]
    assert all("collector_gap" not in report[b]["flags"] for b in unaffected)


def test_totalizer_reset_is_counted_through(fault_runs: dict[str, tuple[Path, Monitor]]) -> None:
    data, _ = fault_runs["totalizer-reset"]
    report = compare(data)
    flags = report[FAULTY_LOT]["flags"].split(";")
    assert "feed:reset" in flags and "aluminium:reset" in flags
    assert all("reset" not in r["flags"] for b, r in report.items() if b != FAULTY_LOT)


def test_bad_quality_samples_are_refused_and_counted(fault_runs: dict[str, tuple[Path, Monitor]]) -> None:
    data, monitor = fault_runs["bad-quality"]
    report = compare(data)
    assert int(report[FAULTY_LOT]["rejected_samples"]) > 0
    assert "rejected_samples" in report[FAULTY_LOT]["flags"]
    reasons = {why for (_, why) in monitor.engine.stats.rejected}
    assert {"bad_quality", "uncertain_quality", "not_finite"} <= reasons
    assert monitor.engine.stats.duplicates > 0  # repeated samples were seen, and held once
    assert report["L1-00001"]["flags"] == ""  # before the fault: clean


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


def wait_for(cond: Callable[[], bool], what: str, limit_s: float = 60.0) -> None:
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
        try:
            resumed, lots = c.execute(
                "SELECT COUNT(DISTINCT CASE WHEN result_json LIKE '%resumed_from_checkpoint%' THEN batch_id END),"
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
