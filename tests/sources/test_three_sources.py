"""One line fed by three kinds of source at once — the shredder's OPC-UA server, the bagging scale over
Modbus TCP, the dryer's Sparkplug B edge node through a real mosquitto — gives lots equal to the
truth within 0.2 %; with the scale terminal gone, the other two go on and /healthz names it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from monitor.core.results import BatchResult
from monitor.runs.app import Monitor
from monitor.runs.demo import SimOptions
from tests.conftest import truth_lots, until
from tests.sources.demo_line import ROOT, run_line, truth, worst_error
from tests.sources.peers import mosquitto

pytestmark = pytest.mark.integration
LOTS = 3
HANG_S = 150.0


async def demo(
    data: Path, broker: str, faults: frozenset[str] = frozenset(), plant_faults: frozenset[str] = frozenset()
) -> tuple[Monitor, dict[str, BatchResult], dict[str, str]]:
    opts = SimOptions(
        data_dir=data, sim_config=ROOT / "config/simulator.toml", seeds=ROOT / "seeds", speed=2400, seed=17,
        noise=False, lots=LOTS, assay_delay_h=0, sources=("opcua", "modbus", "sparkplug"), broker=broker,
        source_faults=faults, faults=plant_faults,
    )  # fmt: skip
    seen: dict[str, str] = {}

    def settled(monitor: Monitor, kept: dict[str, BatchResult]) -> bool:
        """Every lot in, and (without faults) every source connected: a link that a busy machine made
        reconnect (an ack later than its timeout) is waited for, not caught at an unlucky instant."""
        if truth_lots(data) < LOTS or len(kept) < LOTS:
            return False
        states = monitor.health()["sources"]
        seen.clear()
        seen.update(states)  # while it still runs
        return bool(faults or plant_faults) or set(states.values()) == {"connected"}

    async def scale_named(monitors: list[Monitor], run: asyncio.Task[Monitor]) -> None:
        """The fault's whole point is what /healthz says while it lasts."""
        await until(lambda: bool(monitors))

        def named() -> bool:  # the scale named, the others connected (a busy machine may make one
            h = monitors[0].health()  # reconnect a moment: that is waited for, not caught)
            others = h["sources"]["opcua"] == h["sources"]["sparkplug"] == "connected"
            return "source modbus" in " ".join(h["problems"]) and others

        await until(lambda: run.done() or named())
        health = monitors[0].health()
        assert health["status"] == "degraded" and "source modbus" in " ".join(health["problems"]), health
        assert health["sources"]["opcua"] == health["sources"]["sparkplug"] == "connected", health

    meanwhile = scale_named if "source-down=modbus" in faults else None
    monitor, kept = await run_line(opts, settled, HANG_S, meanwhile)
    return monitor, kept, seen


async def test_three_sources_one_line_lots_equal_truth(tmp_path: Path) -> None:
    async with mosquitto(tmp_path) as port:
        monitor, kept, states = await demo(tmp_path / "data", f"mqtt://127.0.0.1:{port}")
    rows = truth(tmp_path / "data")
    assert len(rows) >= LOTS
    worst = worst_error(rows, kept)
    assert worst < 0.002, worst  # measured: 0.00002
    assert states == {"opcua": "connected", "modbus": "connected", "sparkplug": "connected"}
    assert all(c.health().samples.get("good", 0) > 0 for c in monitor.sources.values())


async def test_the_scale_terminal_gone_the_others_go_on(tmp_path: Path) -> None:
    async with mosquitto(tmp_path) as port:
        monitor, kept, _ = await demo(tmp_path / "data", f"mqtt://127.0.0.1:{port}", frozenset({"source-down=modbus"}))
    rows = truth(tmp_path / "data")
    for batch_id, t in rows.items():  # the feed (OPC-UA) is whole for every lot, the scale's outage or not
        assert kept[batch_id].feed_kg == pytest.approx(float(t["feed_kg"]), rel=0.002)
    assert monitor.sources["modbus"].reconnects >= 1
    # the scale's outage (from lot 2's start) is a gap nothing can fill: every lot whose black mass was
    # still being bagged then says so (lot 1 too: its last bags come up to 2,100 s after its end), and
    # the black mass it lost is short of the truth
    assert all("collector_gap" in r.flags for r in kept.values())
    assert any(r.mass("black_mass") < 0.9 * float(rows[b]["black_mass_kg"]) for b, r in kept.items())
    assert monitor.sources["sparkplug"].health().samples["good"] > 0


async def test_each_source_away_in_turn_loses_only_what_it_cannot_replay(tmp_path: Path) -> None:
    """One run, each source away in turn for OUTAGE_S (1,200 plant s, half a wall second at x2400):
    the OPC-UA server's network (the monitor reads the history back), the scale terminal (its bags
    meanwhile are gone: a gap, flagged), the monitor's link to the broker (the persistent session
    hands the dryer's QoS 1 data over). Feed (OPC-UA) and condensate (Sparkplug) equal the truth in
    every lot; black mass in every lot the scale's outage did not touch, and those it did say so."""
    outages = frozenset({"source-outage=modbus", "source-outage=sparkplug"})
    async with mosquitto(tmp_path) as port:
        broker = f"mqtt://127.0.0.1:{port}"
        monitor, kept, _ = await demo(tmp_path / "data", broker, outages, frozenset({"network-outage"}))
    rows = truth(tmp_path / "data")
    assert len(rows) >= LOTS
    for batch_id, t in rows.items():  # what a source can replay is whole
        r = kept[batch_id]
        assert r.feed_kg == pytest.approx(float(t["feed_kg"]), rel=0.002), batch_id
        assert r.mass("condensate") == pytest.approx(float(t["condensate_kg"]), rel=0.002), batch_id
    scale, link = monitor.sources["modbus"], monitor.sources["sparkplug"]
    assert scale.reconnects >= 1 and scale.health().gaps >= 1
    assert link.reconnects >= 1 and link.session_kept is True and link.gap_count == 0
    flagged = {b for b, r in kept.items() if "collector_gap" in r.flags}
    assert flagged and flagged != set(rows), flagged  # the scale's outage touched some lots, not all
    for batch_id in set(rows) - flagged:  # what it cannot replay is flagged; the rest is whole
        assert kept[batch_id].mass("black_mass") == pytest.approx(float(rows[batch_id]["black_mass_kg"]), rel=0.002)
