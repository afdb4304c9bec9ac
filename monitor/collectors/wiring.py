"""Where a collector's samples and gaps go and which clocks it reads: the part every kind of source shares.

A collector (OPC-UA, Modbus, MQTT) is built with a sink and the same keyword arguments (`source`,
`wall`, `clock`, `on_gap`); it keeps them as one frozen `Wiring` and composes it, rather than each
kind storing and calling them its own way. What a collector keeps about its link (state, reconnects,
samples, gaps) stays its own; `health_of` reads those public counts into the `CollectorHealth` value.
"""

from __future__ import annotations

import inspect
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypedDict

from monitor.collectors.health import CollectorHealth, ConnState, Gap
from monitor.core.samples import Sample

SampleSink = Callable[[list[Sample]], Any]  # a list's extend, or an asyncio.Queue's put (awaited)


class WiringArgs(TypedDict, total=False):
    """The keyword arguments every collector takes (see `Wiring`)."""

    source: str
    wall: Callable[[], float]
    clock: Callable[[], float] | None
    on_gap: Callable[[Gap], None] | None


@dataclass(frozen=True, slots=True)
class Wiring:
    """A collector's outlets and clocks: its source name, the sink for its samples, the callback for its
    gaps, the wall clock (for /metrics ages) and our clock (receive times; the demo gives the plant's)."""

    source: str
    sink: SampleSink
    wall: Callable[[], float] = time.time
    clock: Callable[[], float] | None = None  # None: the wall clock
    on_gap: Callable[[Gap], None] | None = None

    @classmethod
    def of(cls, sink: SampleSink, args: WiringArgs, default_source: str) -> Wiring:
        """The wiring of a collector built with `sink` and `args` (its `source` defaulting to its kind)."""
        return cls(
            args.get("source", default_source), sink, args.get("wall", time.time), args.get("clock"), args.get("on_gap")
        )

    def now(self) -> float:
        """Our clock: the time a value is received."""
        return (self.clock or self.wall)()

    async def deliver(self, samples: list[Sample]) -> None:
        """Hand `samples` on; an asyncio.Queue's put is waited for while the engine is behind."""
        result = self.sink(samples)
        if inspect.isawaitable(result):
            await result

    def gap(self, gap: Gap) -> None:
        if self.on_gap is not None:
            self.on_gap(gap)


class Supervised(Protocol):
    """What every collector's supervisor keeps about its link to the source (public, read for its health)."""

    @property
    def source(self) -> str: ...
    @property
    def state(self) -> ConnState: ...
    @property
    def reconnects(self) -> int: ...
    @property
    def samples(self) -> Counter[str]: ...
    @property
    def last_sample_wall(self) -> float | None: ...
    @property
    def gap_count(self) -> int: ...


def health_of(
    c: Supervised,
    failed: int,
    subscribed: int,
    unresolved: Mapping[str, str],
    *,
    unrecovered: int | None = None,
    backfilled: int = 0,
) -> CollectorHealth:
    """The link part of a collector's health; `unrecovered` gaps default to all (a source that cannot replay).

    `failed` tags could not be read or subscribed, `subscribed` can; `unresolved` says why, per tag."""
    gaps = c.gap_count
    return CollectorHealth(
        source=c.source,
        state=c.state,
        reconnects=c.reconnects,
        samples=dict(c.samples),
        last_sample_wall=c.last_sample_wall,
        failed_nodes=failed,
        subscribed_nodes=subscribed,
        gaps=gaps,
        unrecovered_gaps=gaps if unrecovered is None else unrecovered,
        backfilled=backfilled,
        unresolved=dict(unresolved),
    )
