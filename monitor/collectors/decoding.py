"""Notification data → Samples, and time vouched for across subscriptions.

Each subscription carries CurrentTime; a @server-clock tick vouches only up to the slowest
subscription's latest CurrentTime. Subscriptions publish on their own timers, so with more than one
a value may arrive a publishing interval before another subscription's values stamped earlier: values
wait (at most `hold_s` wall seconds) until every subscription's clock has passed them, so the core
never sees time run ahead of a subscription that has not published yet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from asyncua import ua

from monitor.collectors.clock_gate import ClockGate
from monitor.collectors.clock_watch import FrozenClockWatch, SubscriptionClocks
from monitor.collectors.server_clock import ServerClock, safe_epoch
from monitor.core.samples import SERVER_CLOCK, Sample


class Decoder:
    def __init__(
        self,
        gate: ClockGate,
        server_clock: ServerClock,
        watch: FrozenClockWatch,
        clock: Callable[[], float],
        wall: Callable[[], float],
    ) -> None:
        self.gate = gate  # each tag's values wait there until its clock is decided (docs/timestamps.md)
        self.judge = gate.judge
        self.server_clock = server_clock
        self.watch = watch
        self._clock = clock
        self._wall = wall
        self.clocks = SubscriptionClocks()
        self.last_tick: float | None = None  # the newest @server-clock sample's time
        self.hold_s = 1.0
        self._held: list[tuple[float, Sample]] = []  # (wall time received, sample)

    def start(self, clock_handles: Iterable[int], hold_s: float) -> None:
        """A new session: its subscriptions' CurrentTime items; values wait at most `hold_s`."""
        self.clocks = SubscriptionClocks(clock_handles)
        self.hold_s = hold_s
        self._held = []

    def decode(
        self, data: Iterable[Any], handles: Mapping[int, str], published: float | None = None
    ) -> tuple[list[Sample], ua.StatusCode | None]:
        """One message's data changes as samples, and a bad subscription status if it carried one;
        `published`: the message's PublishTime (the server's clock, raw), None when absent."""
        out: list[Sample] = []
        status: ua.StatusCode | None = None
        for notification in data:
            if isinstance(notification, ua.StatusChangeNotification):
                if notification.Status is not None and not notification.Status.is_good():
                    status = notification.Status
                continue
            if not isinstance(notification, ua.DataChangeNotification):
                continue
            for item in notification.MonitoredItems:
                tag = handles.get(item.ClientHandle)
                if tag == SERVER_CLOCK:
                    out += self._tick(item.ClientHandle, item.Value)
                elif tag is not None:
                    out += self.gate.admit(tag, item.Value, self._clock(), self.server_clock.now(), published)
        out += self.gate.release(max(self.server_clock.now(), self._clock()), self._wall())
        return out, status

    def _tick(self, handle: int, dv: ua.DataValue) -> list[Sample]:
        raw = dv.Value.Value if dv.Value is not None else None
        server = safe_epoch(raw) if isinstance(raw, datetime) else None
        if server is None:
            return []
        self.watch.server_time(server, self._wall())
        self.gate.judge.transit(server, self._clock())
        slowest = self.clocks.update(handle, server, dv)
        tick = self.server_clock.tick(slowest) if slowest is not None else None
        if tick is None:
            return []
        self.last_tick = tick.ts
        return self.gate.tick(tick)

    def release(self, samples: list[Sample]) -> list[Sample]:
        """What may go to the core now: everything with one subscription; with several, what every
        subscription's clock has passed (and whatever waited `hold_s`)."""
        if len(self.clocks.handles) <= 1:
            return samples
        wall = self._wall()
        upto = self.clocks.vouched - self.judge.offset  # the slowest subscription's time, on our clock
        held = [*self._held, *((wall, s) for s in samples)]
        ready = [s.tag == SERVER_CLOCK or s.ts <= upto or wall - w >= self.hold_s for w, s in held]
        self._held = [h for h, go in zip(held, ready, strict=True) if not go]
        return [s for (_, s), go in zip(held, ready, strict=True) if go]
