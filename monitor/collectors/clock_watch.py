"""A server clock that stops while values keep coming (a PLC whose clock task hung, a server whose
CurrentTime is written by a stalled thread): named, so the cause of lots that wait is not a mystery.

Fed with CurrentTime as the server sends it and the count of values delivered, on our wall clock;
a change of verdict is logged once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

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
