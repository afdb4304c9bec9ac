"""The fault matrix (issue 6): each simulator fault, noise-free against the simulator's ground truth.
Every completed batch is present once, feed and black-mass masses are within 0.2 %, and the flags of
the affected batch say what happened. A monitor killed with SIGKILL: test_monitor_killed.py.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from monitor.runs.app import Monitor
from monitor.runs.demo import SimOptions, run_demo
from tests.conftest import free_port, truth_lots, until
from tests.integration.fault_rig import caught_up, compare

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration
FAULTY_LOT = "L1-00003"  # faults strike halfway through the third lot
HANG_S = 180.0  # bounds a hang; the runs wait on lots stored, not on the clock


async def until_lots(data: Path, seen: set[str], run: asyncio.Task[Monitor], stop: asyncio.Event) -> None:
    """Set `stop` once LOTS (fault_rig) lots are in the ground truth and the monitor has stored (`seen`, filled by the
    demo's on_batch) every one of them but the newest, which may still be flushing; a monitor that fell
    behind (a loaded machine, a reconnect backing off) is waited for."""
    await until(lambda: caught_up(len(seen), truth_lots(data)) or run.done())
    stop.set()


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
