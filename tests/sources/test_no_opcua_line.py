"""A line with no OPC-UA source (issue 22, docs/sources.md "A line with no OPC-UA source"): the whole
line through a real mosquitto as Sparkplug B from the simulator's edge node — lot id a String metric —
and once with its bagging scale over Modbus TCP beside it: lots equal the truth within 0.2 %, the last
lot closes on the sources' watermarks (and our clock after the bound) with no server clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.core.results import BatchResult
from monitor.runs.app import Monitor
from monitor.runs.demo import SimOptions
from tests.conftest import truth_lots
from tests.sources.demo_line import ROOT, run_line, truth, worst_error
from tests.sources.peers import mosquitto

pytestmark = pytest.mark.integration
LOTS = 2  # two lot edges and a last lot closed on the watermarks: what the line-clock rule needs
HANG_S = 150.0


async def demo(data: Path, broker: str, sources: tuple[str, ...]) -> tuple[Monitor, dict[str, BatchResult], dict]:
    opts = SimOptions(
        data_dir=data, sim_config=ROOT / "config/simulator.toml", seeds=ROOT / "seeds", speed=3600, seed=17,
        noise=False, lots=LOTS, assay_delay_h=0, sources=sources, broker=broker,
    )  # fmt: skip
    health: dict = {}

    def settled(monitor: Monitor, kept: dict[str, BatchResult]) -> bool:
        if truth_lots(data) < LOTS or len(kept) < LOTS:
            return False
        health.update(monitor.health())  # while it still runs
        return True

    monitor, kept = await run_line(opts, settled, HANG_S)
    return monitor, kept, health


async def test_a_line_all_sparkplug_gives_lots_equal_to_truth(tmp_path: Path) -> None:
    async with mosquitto(tmp_path) as port:
        monitor, kept, health = await demo(tmp_path / "data", f"mqtt://127.0.0.1:{port}", ("sparkplug",))
    rows = truth(tmp_path / "data")
    assert len(rows) >= LOTS and set(rows) <= set(kept)
    assert worst_error(rows, kept) < 0.002  # measured: 2.5e-7
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
