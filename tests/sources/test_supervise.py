"""Each source under its own supervisor: a collector that crashes is restarted and the others go on;
/metrics shows a source from its first sample or failure; /healthz names a source that is down."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from monitor.collectors.health import CollectorHealth, ConnState
from monitor.collectors.source_settings import ModbusSettings
from monitor.config import load_config
from monitor.config.sources import Sources
from monitor.core.batches import FeedWindow
from monitor.core.samples import SOURCE_CLOCK, Quality, Sample
from monitor.runs import sources
from monitor.runs.sources import reported, source_problems, supervise

ROOT = Path(__file__).resolve().parents[2]


class Flaky:
    """Crashes on its first two runs, then collects until cancelled."""

    def __init__(self, name: str, crashes: int) -> None:
        self.source, self.last_error, self.runs, self.crashes = name, None, 0, crashes
        self.running = asyncio.Event()
        self.state = ConnState.DISCONNECTED
        self.last_sample_wall: float | None = None

    def health(self) -> CollectorHealth:
        return CollectorHealth(self.source, self.state, self.runs, {}, self.last_sample_wall, 0, 1)

    async def run(self) -> None:
        self.runs += 1
        if self.runs <= self.crashes:
            raise RuntimeError(f"bug number {self.runs}")
        self.state = ConnState.CONNECTED
        self.running.set()
        await asyncio.Event().wait()


async def test_a_crashing_collector_is_restarted_and_the_others_go_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "RESTART_MIN_S", 0.01)
    bad, good = Flaky("bagging", crashes=2), Flaky("uns", crashes=0)
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(supervise(c)) for c in (bad, good)]  # type: ignore[arg-type]
        await asyncio.wait_for(good.running.wait(), 10)
        assert bad.last_error is not None and "bug number" in bad.last_error
        await asyncio.wait_for(bad.running.wait(), 10)
        for t in tasks:
            t.cancel()
    assert bad.runs == 3 and good.runs == 1


def test_a_source_shows_from_its_first_sample_or_failure_and_health_names_it_down() -> None:
    quiet, failed, live = Flaky("a", 0), Flaky("b", 0), Flaky("c", 0)
    failed.last_error, failed.state = "no connection to 10.0.1.30:502", ConnState.BACKOFF
    live.last_sample_wall, live.state = 1.0, ConnState.CONNECTED
    assert [h.source for h in reported([quiet, failed, live])] == ["b", "c"]  # type: ignore[list-item]
    problems = source_problems([failed.health(), live.health()], {"b": failed.last_error, "c": None})
    assert problems == ["source b: backoff (no connection to 10.0.1.30:502)"]


def test_lots_wait_for_each_source_feeding_them_but_not_for_ever() -> None:
    """The service's gate on the shipped line with its bags from a scale terminal: a lot waits for the
    scale's watermark past its black mass window + settle; the scale away is let go after the bound
    (max(2 x settle_s, stale_after_s)) with its span a gap; an analyser (no stream) holds nothing."""
    cfg = load_config(ROOT / "config/plant.toml")
    scale = ModbusSettings(host="127.0.0.1")
    srcs = Sources(
        primary="opcua",
        settings={"opcua": cfg.opcua, "scale": scale, "o2": scale},
        nodes={},
        assigned={"BlackMass.BagNetWeight": "scale"},
    )
    cfg = replace(cfg, sources=srcs, settle_s=1000.0)
    gaps: list[tuple[float, float]] = []
    gate = sources.SourceGate(cfg, 0.0, lambda a, b: gaps.append((a, b)))
    up, down = ConnState.CONNECTED, ConnState.BACKOFF
    lot = FeedWindow("L1", start=0.0, end=10_000.0)  # black mass: 10,000 + 2,100 + 1,000 settle
    gate.states({"opcua": up, "scale": up, "o2": down}, 0.0)
    gate.delivered("opcua", [Sample("Feed.Totalizer", 50_000.0, 1.0)], 100.0)
    gate.delivered("scale", [Sample(SOURCE_CLOCK, 11_000.0, None)], 100.0)  # a poll: not past 13,100
    ready = gate.gate(200.0)
    assert ready is not None and not ready(lot)
    gate.delivered("scale", [Sample("BlackMass.BagNetWeight", 13_101.0, 1.0, Quality.BAD)], 300.0)
    assert not gate.gate(300.0)(lot)  # type: ignore[misc]  # it ticks: its ticks alone move it
    gate.states({"opcua": up, "scale": down, "o2": down}, 400.0)  # the scale away from 400
    assert not gate.gate(400.0 + 1999.0)(lot)  # type: ignore[misc]  # bound 2,000 (2 x settle_s)
    assert gate.gate(400.0 + 2000.0)(lot) and gaps == [(11_000.0, 13_100.0)]  # type: ignore[misc]
    gate.states({"opcua": up, "scale": up, "o2": down}, 2500.0)
    assert not gate.gate(2600.0)(lot)  # type: ignore[misc]  # back: it holds again, for what it replays
    gate.delivered("scale", [Sample(SOURCE_CLOCK, 13_101.0, None)], 2700.0)
    assert gate.gate(2700.0)(lot) and len(gaps) == 1  # type: ignore[misc]
    one = replace(cfg, sources=None)
    assert sources.SourceGate(one, 0.0, lambda a, b: None).gate(0.0) is None  # one source: not gated
