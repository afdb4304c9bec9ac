"""The line's other sources (beyond the primary OPC-UA server): one collector each, each under its own
supervisor in the app's TaskGroup, so that one failing never stops the others or the engine."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from monitor.collectors.cancelling import honour_cancel
from monitor.collectors.health import CollectorHealth, ConnState, Gap
from monitor.collectors.modbus import ModbusCollector
from monitor.collectors.opcua import OpcuaCollector
from monitor.collectors.settings import OpcuaSettings
from monitor.collectors.source_settings import ModbusSettings
from monitor.collectors.sparkplug import MqttCollector
from monitor.config import MonitorConfig
from monitor.core.batches import FeedWindow
from monitor.core.engine import Engine
from monitor.core.results import BatchResult
from monitor.core.samples import SOURCE_CLOCK, Quality, Sample
from monitor.core.watermarks import Watermarks, let_go, line_time, lot_needs, waiting_for

log = logging.getLogger(__name__)

RESTART_MIN_S, RESTART_MAX_S = 1.0, 60.0  # a collector that crashed is restarted after this (doubling)


class Collector(Protocol):
    source: str
    last_error: str | None

    def health(self) -> CollectorHealth: ...

    async def run(self) -> None: ...


def other_collectors(
    cfg: MonitorConfig,
    sink_of: Callable[[str], Callable[[list[Sample]], Any]],
    *,
    wall: Callable[[], float],
    clock: Callable[[], float],
    on_gap: Callable[[Gap], None],
    on_types: Callable[[Mapping[str, float]], None],
) -> dict[str, Collector]:
    """A collector for every source but the primary OPC-UA one."""
    out: dict[str, Collector] = {}
    for name, s in cfg.other_sources().items():
        sink = sink_of(name)
        if isinstance(s, OpcuaSettings):
            out[name] = OpcuaCollector(
                s, cfg.tag_addresses(name), sink, source=name, wall=wall, on_gap=on_gap, clock=clock, on_types=on_types
            )
        elif isinstance(s, ModbusSettings):
            out[name] = ModbusCollector(s, sink, source=name, wall=wall, clock=clock, on_gap=on_gap, on_types=on_types)
        else:
            out[name] = MqttCollector(s, sink, source=name, wall=wall, clock=clock, on_gap=on_gap)
    return out


def opcua_collector(
    cfg: MonitorConfig,
    sink: Callable[[list[Sample]], Any],
    kept: Mapping[str, Any],
    resumed_at: float | None,
    **wiring: Any,
) -> OpcuaCollector | None:
    """The primary OPC-UA source's collector (None: the line has none), with the clock alignment and tag
    clocks its checkpoint `kept`, reading back from `resumed_at` (what was missed while we were down)."""
    if cfg.opcua is None:
        return None
    c = OpcuaCollector(cfg.opcua, cfg.tag_addresses(), sink, source=cfg.opcua_name, **wiring)
    aligned = kept.get("clock_aligned_s")
    c.aligned = float(aligned) if aligned is not None else None  # a resumed lot keeps the alignment it began with
    c.judge.clocks.restore({str(t): float(o) for t, o in kept.get("tag_clocks", {}).items()})  # and tag clocks
    if resumed_at is not None:
        c.resume_from = resumed_at
    return c


def kept_state(c: OpcuaCollector | None) -> dict[str, Any]:
    """What the checkpoint keeps of the primary OPC-UA collector (nothing on a line without one)."""
    return {} if c is None else {"clock_aligned_s": c.aligned, "tag_clocks": dict(c.judge.clocks.offsets)}


def sink_to(queue: asyncio.Queue[tuple[str, list[Sample]]], source: str) -> Callable[[list[Sample]], Any]:
    """Where `source`'s collector hands its samples: the engine's queue, with the source's name (its watermark)."""

    def put(samples: list[Sample]) -> Any:
        return queue.put((source, samples))

    return put


def source_feeds(cfg: MonitorConfig) -> dict[str, str]:
    """Each source: "mass" when it feeds a lot id, an attribute, a mass stream or a bag id (its outage
    holds the lot alerts), else "process" (an analyser: its outage holds nothing else)."""
    spec = cfg.line
    mass = {spec.batch_id_tag, spec.chemistry_tag, spec.feed_form_tag, spec.supplier_tag}
    mass |= {t for s in spec.streams for t in (s.tag, s.bag_id_tag)}
    names = cfg.source_names()
    fed = {cfg.sources.source_of(t) if cfg.sources else cfg.opcua_name for t in cfg.all_tags() if t in mass}
    return {n: "mass" if n in fed else "process" for n in names}


async def supervise(collector: Collector) -> None:
    """Run one collector for ever: a crash (a bug, a library's surprise) is logged and the collector
    restarted after a doubling delay, instead of ending the app's TaskGroup with it."""
    delay = RESTART_MIN_S
    while True:
        try:
            await collector.run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            collector.last_error = f"collector crashed: {exc!r}"
            log.exception(
                "source %s: collector crashed; restarting in %.0f s (the other sources go on)", collector.source, delay
            )
        honour_cancel()
        await asyncio.sleep(delay)
        delay = min(delay * 2, RESTART_MAX_S)


def reported(collectors: Iterable[Collector]) -> tuple[CollectorHealth, ...]:
    """The other sources as /metrics shows them: each from its first sample or its first failure (a
    source still connecting is not yet "down"; one that never connects appears at 0 once it failed)."""
    healths = ((c, c.health()) for c in collectors)
    return tuple(h for c, h in healths if h.last_sample_wall is not None or c.last_error)


def source_problems(healths: Iterable[CollectorHealth], errors: Mapping[str, str | None]) -> list[str]:
    """What /healthz says of the other sources: one down (after a failure), its stale or Bad tags."""
    out = []
    for h in healths:
        if h.state is not ConnState.CONNECTED and errors.get(h.source):
            out.append(f"source {h.source}: {h.state.value} ({errors[h.source]})")
        out += [f"source {h.source}: tag {tag}: {why}" for tag, why in sorted(h.unresolved.items())]
    return out


def line_health(
    line: str, primary: OpcuaCollector | None, others: Mapping[str, Collector], completed: int, gate: SourceGate
) -> dict[str, Any]:
    """/healthz: degraded while a tag is unresolved, a clock is in doubt or another source is down.
    `collector`, `connected`, `collector_error`: the primary OPC-UA source, else the lot id's source."""
    h = primary.health() if primary is not None else None
    problems = [f"tag {tag}: {why}" for tag, why in sorted(h.unresolved.items())] + h.problems if h else []
    healths = {n: c.health() for n, c in others.items()}
    problems += source_problems(healths.values(), {n: c.last_error for n, c in others.items()})
    lead = h or healths[gate.lead]
    return {
        "status": "degraded" if problems else "ok",
        "problems": problems,
        "line": line,
        "collector": lead.state.value,
        "connected": lead.state is ConnState.CONNECTED,
        "batches_completed": completed,
        "collector_error": primary.last_error if primary is not None else others[gate.lead].last_error,
        "sources": {**({h.source: h.state.value} if h else {}), **{n: o.state.value for n, o in healths.items()}},
        "line_clock": gate.line_clock(),
    }


HOLD_SETTLES = 2.0  # a source with no news holds lots at most max(this many settle_s, stale_after_s)


class SourceGate:
    """The per-source watermarks of a line fed by several sources (monitor/core/watermarks.py): a lot
    is finalised only when every source feeding one of its streams has delivered past the stream's
    window end + settle, or has had no news for the bound (down, away, quiet). A source let go while
    not connected leaves an unrecovered gap on the lot (`on_gap`): never closed short in silence."""

    def __init__(
        self,
        cfg: MonitorConfig,
        now: float,
        on_gap: Callable[[float, float], None],
    ) -> None:
        self.spec, self.settle_s, self.on_gap = cfg.line, cfg.settle_s, on_gap
        self.lead = cfg.opcua_name  # the primary source (a line with no OPC-UA source: the lot id's)
        self.source_of = {t: cfg.sources.source_of(t) if cfg.sources else cfg.opcua_name for t in cfg.all_tags()}
        fed = {self.source_of[s.tag] for s in cfg.line.streams if s.tag and s.tag in self.source_of}
        self.clockless = cfg.opcua is None  # no server clock: the watermarks are the line's clock
        # one OPC-UA source: the engine's watermark and the server's clock are that source's
        self.active = len(cfg.source_names()) > 1 or self.clockless
        bound = max(HOLD_SETTLES * cfg.settle_s, cfg.line.stale_after_s)
        self.marks = Watermarks.of(sorted(fed), bound, now)
        self._clock = "server" if not self.clockless else "sources"
        self.ticking: set[str] = set()  # sources that send SOURCE_CLOCK ticks
        self.waiting: tuple[str, ...] = ()  # the sources the oldest pending lot waits for (logged on change)

    def delivered(self, source: str, samples: list[Sample], now: float) -> None:
        """A source that ticks (a Modbus poll) moves on its ticks alone: they say what it vouches for."""
        ticks = [s.ts for s in samples if s.tag == SOURCE_CLOCK]
        if ticks:
            self.ticking.add(source)
        stamps = ticks if source in self.ticking else [s.ts for s in samples if s.quality is not Quality.BAD]
        self.marks = self.marks.delivered(source, stamps, now)

    def states(self, states: Mapping[str, ConnState], now: float) -> None:
        for name, st in states.items():
            self.marks = self.marks.connection(name, st is ConnState.CONNECTED, now)

    def vouch(self, now: float) -> float | None:
        """On a line with no OPC-UA source, what stands in for the server's clock (docs/sources.md, "A line
        with no OPC-UA source"): the line's time, or our clock minus the bound when no source holds lots."""
        if not self.clockless:
            return None
        t = line_time(self.marks, now)
        self._clock = "ours" if t == math.inf else "sources"
        if t == math.inf:
            return now - self.marks.bound_s
        return t if math.isfinite(t) else None

    def line_clock(self) -> str:
        """What the line's time runs on (/healthz): "server", "sources" or "ours" (the bound passed)."""
        return self._clock

    def until(self, now: float) -> float:
        """The line's time for `Engine.poll` (+inf: not gated)."""
        return line_time(self.marks, now) if self.active else math.inf

    def gate(self, now: float) -> Callable[[FeedWindow], bool] | None:
        """What `Engine.poll` asks of each lot ready on its own rules (None: nothing to ask)."""
        if not self.active:
            return None

        def ready(w: FeedWindow) -> bool:
            assert w.end is not None
            need = lot_needs(self.spec, self.source_of, w.end, self.settle_s)
            waiting = waiting_for(self.marks, need, now)
            if waiting != self.waiting:
                self.waiting = waiting
                if waiting:
                    log.info("lot %s waits for source(s) %s", w.batch_id, ", ".join(waiting))
            if waiting:
                return False
            log.debug("lot %s may close: %s", w.batch_id, {n: self.marks.sources[n] for n in need})
            for gone in let_go(self.marks, need):
                log.warning(
                    "lot %s closes without source %s (away, no news for %.0f s): its span is a gap",
                    w.batch_id, gone.source, self.marks.bound_s,
                )  # fmt: skip
                self.on_gap(gone.mark if math.isfinite(gone.mark) else w.start, gone.need)
            return True

        return ready


def line_turn(gate: SourceGate, engine: Engine, now: float) -> list[BatchResult]:
    """One turn of the engine behind the gate: on a line with no OPC-UA source the line's time is vouched
    (the sources' watermarks count as a server's clock would; our clock standing in after the bound does
    not, so a lot it closes says `closed_on_our_clock`), then the lots that may close are polled."""
    if (t := gate.vouch(now)) is not None:
        engine.vouch(t, ours=gate.line_clock() == "ours")
    return engine.poll(gate.gate(now), gate.until(now))
