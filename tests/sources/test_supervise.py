"""Each source under its own supervisor: a collector that crashes is restarted and the others go on;
/metrics shows a source from its first sample or failure; /healthz names a source that is down."""

from __future__ import annotations

import asyncio

import pytest

from monitor.collectors.health import CollectorHealth, ConnState
from monitor.runs import sources
from monitor.runs.sources import reported, source_problems, supervise


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


def test_lots_wait_for_a_mass_source_that_went_away_but_not_for_ever() -> None:
    hold = sources.SourceHold({"opcua": "mass", "scale": "mass", "o2": "process"}, settle_s=100.0)
    up, down = ConnState.CONNECTED, ConnState.BACKOFF
    assert not hold.holding({"opcua": up, "scale": ConnState.CONNECTING, "o2": up}, 0.0)  # never up: no wait
    assert not hold.holding({"opcua": up, "scale": up, "o2": down}, 10.0)  # an analyser away holds nothing
    assert hold.holding({"opcua": up, "scale": down, "o2": up}, 20.0)  # the scale away: lots wait
    assert hold.holding({"opcua": up, "scale": down, "o2": up}, 219.0)  # up to 2 x settle_s
    assert not hold.holding({"opcua": up, "scale": down, "o2": up}, 220.0)  # then they close, its gap flagged
    assert not hold.holding({"opcua": up, "scale": up, "o2": up}, 230.0)
    assert hold.holding({"opcua": down, "scale": up, "o2": up}, 240.0)  # a new outage: a new wait
