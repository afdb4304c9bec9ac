"""The line's other sources (beyond the primary OPC-UA server): one collector each, each under its own
supervisor in the app's TaskGroup, so that one failing never stops the others or the engine."""

from __future__ import annotations

import asyncio
import logging
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
from monitor.core.samples import Sample

log = logging.getLogger(__name__)

RESTART_MIN_S, RESTART_MAX_S = 1.0, 60.0  # a collector that crashed is restarted after this (doubling)


class Collector(Protocol):
    source: str
    last_error: str | None

    def health(self) -> CollectorHealth: ...

    async def run(self) -> None: ...


def other_collectors(
    cfg: MonitorConfig,
    sink: Callable[[list[Sample]], Any],
    *,
    wall: Callable[[], float],
    clock: Callable[[], float],
    on_gap: Callable[[Gap], None],
    on_types: Callable[[Mapping[str, float]], None],
) -> dict[str, Collector]:
    """A collector for every source but the primary OPC-UA one."""
    out: dict[str, Collector] = {}
    for name, s in cfg.other_sources().items():
        if isinstance(s, OpcuaSettings):
            out[name] = OpcuaCollector(
                s, cfg.tag_addresses(name), sink, source=name, wall=wall, on_gap=on_gap, clock=clock, on_types=on_types
            )
        elif isinstance(s, ModbusSettings):
            out[name] = ModbusCollector(s, sink, source=name, wall=wall, clock=clock, on_gap=on_gap, on_types=on_types)
        else:
            out[name] = MqttCollector(s, sink, source=name, wall=wall, clock=clock, on_gap=on_gap)
    return out


def source_feeds(cfg: MonitorConfig) -> dict[str, str]:
    """Each source: "mass" when it feeds a lot id, an attribute, a mass stream or a bag id (its outage
    holds the lot alerts), else "process" (an analyser: its outage holds nothing else)."""
    spec = cfg.line
    mass = {spec.batch_id_tag, spec.chemistry_tag, spec.feed_form_tag, spec.supplier_tag}
    mass |= {t for s in spec.streams for t in (s.tag, s.bag_id_tag)}
    names = [cfg.opcua_name, *cfg.other_sources()]
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


def line_health(line: str, primary: OpcuaCollector, others: Mapping[str, Collector], completed: int) -> dict[str, Any]:
    """/healthz: degraded while a tag is unresolved, a clock is in doubt or another source is down."""
    h = primary.health()
    problems = [f"tag {tag}: {why}" for tag, why in sorted(h.unresolved.items())] + h.problems
    healths = {n: c.health() for n, c in others.items()}
    problems += source_problems(healths.values(), {n: c.last_error for n, c in others.items()})
    return {
        "status": "degraded" if problems else "ok",
        "problems": problems,
        "line": line,
        "collector": h.state.value,
        "connected": h.state is ConnState.CONNECTED,
        "batches_completed": completed,
        "collector_error": primary.last_error,
        "sources": {primary.source: h.state.value, **{n: o.state.value for n, o in healths.items()}},
    }


HOLD_SETTLES = 2.0  # a lot waits at most this many settle_s for a mass-feeding source that is away


class SourceHold:
    """While a source that feeds a lot's mass is away, the lots wait for it: the other sources' data
    advance the engine's watermark on their own, and a lot would close before the absent source's
    replay (OPC-UA history, an MQTT session's queue) or its gap (a Modbus outage) is in. The wait is
    bounded (HOLD_SETTLES x settle_s on the samples' clock): a source gone for good must not stop
    the line's lots; they close then with its gap flagged. A source never connected yet holds nothing."""

    def __init__(self, feeds: Mapping[str, str], settle_s: float) -> None:
        self.mass = {n for n, kind in feeds.items() if kind == "mass"}
        self.limit_s = HOLD_SETTLES * settle_s
        self.away_since: float | None = None
        self.seen: set[str] = set()  # sources connected at least once (one never up has nothing to replay)

    def holding(self, states: Mapping[str, ConnState], now: float) -> bool:
        """True while a mass source that was connected is away and the bound is not reached."""
        self.seen |= {n for n, st in states.items() if st is ConnState.CONNECTED}
        away = sorted(n for n in self.mass & self.seen if states.get(n) is not ConnState.CONNECTED)
        if not away:
            self.away_since = None
            return False
        if self.away_since is None:
            self.away_since = now
            log.info("lots wait (up to %.0f s) for source(s) %s", self.limit_s, ", ".join(away))
        return now - self.away_since < self.limit_s
