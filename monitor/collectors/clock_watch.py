"""A server clock that stops while values keep coming (a PLC whose clock task hung, a server whose
CurrentTime is written by a stalled thread): named, so the cause of lots that wait is not a mystery.

Fed with CurrentTime as the server sends it and the count of values delivered, on our wall clock;
a change of verdict is logged once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("monitor.collectors.opcua")  # the collector's log: operators filter on it

FROZEN_AFTER_S = 10.0  # wall seconds without CurrentTime advancing, values arriving, before it is called frozen


@dataclass
class FrozenClockWatch:
    """`frozen` is True while CurrentTime has not advanced for `after_s` and values arrived meanwhile."""

    source: str = "opcua"
    after_s: float = FROZEN_AFTER_S
    last_server: float | None = None  # the newest CurrentTime seen (server epoch seconds)
    advanced_wall: float | None = None  # our wall time when it last advanced
    values_since: int = 0  # values delivered since then
    frozen: bool = False

    def server_time(self, server: float, wall: float) -> bool:
        """A CurrentTime reading; returns whether the clock counts as frozen now."""
        if self.last_server is None or server > self.last_server:
            self.last_server, self.advanced_wall, self.values_since = server, wall, 0
        return self.check(wall)

    def values(self, n: int, wall: float) -> bool:
        """`n` values of tags arrived; returns whether the clock counts as frozen now."""
        self.values_since += n
        return self.check(wall)

    def check(self, wall: float) -> bool:
        was = self.frozen
        since = wall - self.advanced_wall if self.advanced_wall is not None else 0.0
        self.frozen = self.advanced_wall is not None and self.values_since > 0 and since > self.after_s
        if self.frozen and not was:
            log.warning(
                "%s: server clock frozen: CurrentTime has not advanced for %.0f s while %d values arrived "
                "(hint: check the server's or the PLC's time service)",
                self.source,
                since,
                self.values_since,
            )
        elif was and not self.frozen:
            log.info("%s: the server's clock advances again", self.source)
        return self.frozen


class SubscriptionClocks:
    """CurrentTime rides in every subscription; a tick vouches only for what its own subscription sent.

    Subscriptions publish independently, so time is vouched for ("everything stamped up to here has
    come") only up to the slowest subscription's latest CurrentTime.
    """

    def __init__(self, handles: Iterable[int] = ()) -> None:
        self.handles = set(handles)
        self.seen: dict[int, tuple[float, Any]] = {}  # client handle -> (CurrentTime, its DataValue)
        self.vouched = float("-inf")

    def update(self, handle: int, server: float, dv: Any) -> Any | None:
        """The DataValue to vouch with when the slowest subscription's time moved on, else None."""
        self.seen[handle] = (server, dv)
        if not self.handles <= self.seen.keys():
            return None
        slowest, value = min(self.seen.values(), key=lambda x: x[0])
        if slowest <= self.vouched:
            return None
        self.vouched = slowest
        return value
