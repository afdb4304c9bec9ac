"""source-outage=NAME: a source of a line fed by several goes away for a while and comes back.

Each outage lasts OUTAGE_S plant seconds (as the OPC-UA server-restart and network-outage faults),
one source after the other from the second lot's start, so that a run plays them in turn:

  modbus     the scale terminal goes away (listener closed, connections dropped) and comes back on
             its port: bags weighed meanwhile are gone (it shows only the last one) — a gap.
  sparkplug  the monitor's link to the broker is cut (a relay between them) while the edge node
             publishes on, QoS 1: a broker that keeps the monitor's session hands everything over.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from monitor.simulator.modbus_face import ScaleTerminal
from monitor.simulator.plant import OUTAGE_S
from monitor.simulator.proxy import TcpRelay

log = logging.getLogger(__name__)

ORDER = ("modbus", "sparkplug")  # the turn each source's outage takes


@dataclass
class SourceOutages:
    """The outages asked for, played on plant time from `start` (the second lot's start)."""

    names: tuple[str, ...]
    scale: ScaleTerminal | None = None
    link: TcpRelay | None = None  # the monitor's way to the broker
    start: float | None = None
    done: set[str] = field(default_factory=set)
    down: set[str] = field(default_factory=set)

    def span(self, name: str) -> tuple[float, float]:
        """(from, to) plant seconds of `name`'s outage; a gap of one outage between turns."""
        assert self.start is not None
        turn = [n for n in ORDER if n in self.names].index(name)
        begin = self.start + 2 * turn * OUTAGE_S
        return begin, begin + OUTAGE_S

    async def step(self, ts: float, lots_started: int) -> None:
        if self.start is None:
            if lots_started < 2:  # noqa: PLR2004 - from the second lot on
                return
            self.start = ts
        for name in self.names:
            begin, end = self.span(name)
            if name not in self.down and name not in self.done and ts >= begin:
                self.down.add(name)
                log.warning("simulator: fault source-outage=%s: away for %.0f plant s", name, OUTAGE_S)
                await self._away(name)
            elif name in self.down and ts >= end:
                self.down.discard(name)
                self.done.add(name)
                log.warning("simulator: fault source-outage=%s: back", name)
                await self._back(name)

    async def _away(self, name: str) -> None:
        if name == "modbus" and self.scale is not None:
            await self.scale.stop()
        if name == "sparkplug" and self.link is not None:
            self.link.cut()

    async def _back(self, name: str) -> None:
        if name == "modbus" and self.scale is not None:
            await self.scale.start()
        if name == "sparkplug" and self.link is not None:
            self.link.restore()
