"""A line with no OPC-UA source (issue 22, docs/sources.md "A line with no OPC-UA source"): the whole
line through a real mosquitto as Sparkplug B from the simulator's edge node — lot id a String metric —
and once with its bagging scale over Modbus TCP beside it: lots equal the truth within 0.2 %, the last
lot closes on the sources' watermarks (and our clock after the bound) with no server clock."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import pytest

from monitor.core.results import BatchResult
from monitor.runs.app import Monitor
from monitor.runs.demo import SimOptions, run_demo
from tests.conftest import free_port, truth_lots, until
from tests.sources.peers import mosquitto

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
LOTS = 2  # two lot edges and a last lot closed on the watermarks: what the line-clock rule needs
HANG_S = 150.0


async def demo(data: Path, broker: str, sources: tuple[str, ...]) -> tuple[Monitor, dict[str, BatchResult], dict]:
    opts = SimOptions(
        data_dir=data, sim_config=ROOT / "config/simulator.toml", seeds=ROOT / "seeds", speed=3600, seed=17,
        noise=False, lots=LOTS, assay_delay_h=0, sources=sources, broker=broker,
    )  # fmt: skip
    stop, kept = asyncio.Event(), dict[str, BatchResult]()
    monitors: list[Monitor] = []
    health: dict = {}

    async def enough() -> None:
        # or the demo ended (its HANG_S bound): the assertions then say what was missing, no hang
        await until(lambda: run.done() or (truth_lots(data) >= LOTS and len(kept) >= LOTS))
        health.update(monitors[0].health())  # while it still runs
        stop.set()

    async with asyncio.TaskGroup() as tg:
        run = tg.create_task(
            run_demo(
                opts,
                config=ROOT / "config/plant.toml",
                port=free_port(),
                duration=HANG_S,
                on_batch=lambda r: kept.__setitem__(r.batch_id, r),
                on_monitor=monitors.append,
                stop=stop,
            )
        )
        tg.create_task(enough())
    return run.result(), kept, health


def truth(data: Path) -> dict[str, dict[str, str]]:
    with (data / "ground_truth.csv").open() as fh:
        return {r["batch_id"]: r for r in csv.DictReader(fh)}


def worst_error(rows: dict[str, dict[str, str]], kept: dict[str, BatchResult]) -> float:
    worst = 0.0
    for batch_id, t in rows.items():
        r = kept[batch_id]  # the lot ids came through the broker: the truth's ids, as Strings
        for stream in ("feed", "black_mass", "condensate"):
            got = r.feed_kg if stream == "feed" else r.mass(stream)
            worst = max(worst, abs(got - float(t[f"{stream}_kg"])) / float(t[f"{stream}_kg"]))
        assert not r.flags, (batch_id, r.flags)
    return worst


async def test_a_line_all_sparkplug_gives_lots_equal_to_truth(tmp_path: Path) -> None:
    async with mosquitto(tmp_path) as port:
        monitor, kept, health = await demo(tmp_path / "data", f"mqtt://127.0.0.1:{port}", ("sparkplug",))
    rows = truth(tmp_path / "data")
    assert len(rows) >= LOTS and set(rows) <= set(kept)
    assert worst_error(rows, kept) < 0.002  # measured: WORST_SP
    assert monitor.collector is None and set(monitor.sources) == {"sparkplug"}
    assert health["sources"] == {"sparkplug": "connected"} and health["connected"] is True
    assert health["line_clock"] in ("sources", "ours") and health["status"] == "ok", health
    assert monitor.engine.server_vouched > 0.0  # the sources' watermarks vouched, as a server's clock would


async def test_a_line_of_modbus_and_sparkplug_gives_lots_equal_to_truth(tmp_path: Path) -> None:
    async with mosquitto(tmp_path) as port:
        monitor, kept, health = await demo(tmp_path / "data", f"mqtt://127.0.0.1:{port}", ("modbus", "sparkplug"))
    rows = truth(tmp_path / "data")
    assert len(rows) >= LOTS and set(rows) <= set(kept)
    assert worst_error(rows, kept) < 0.002
    assert set(monitor.sources) == {"modbus", "sparkplug"}
    assert health["sources"] == {"modbus": "connected", "sparkplug": "connected"}, health
