"""What a collector reports about itself: connection state, gaps in source time, counts (for /metrics)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from monitor.collectors.limits import ServerLimits

SERVER_CLOCK_FROZEN = "server clock frozen"  # the /healthz problem while CurrentTime stands still


@dataclass(frozen=True, slots=True)
class Gap:
    """Source time with no data from the server: [start, end]; recovered when history filled it."""

    start: float
    end: float
    recovered: bool
    samples: int  # read back from the server's history


class ConnState(StrEnum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    BACKOFF = "backoff"


@dataclass(frozen=True, slots=True)
class CollectorHealth:
    source: str
    state: ConnState
    reconnects: int
    samples: Mapping[str, int]  # by quality name
    last_sample_wall: float | None
    failed_nodes: int
    subscribed_nodes: int
    gaps: int = 0
    unrecovered_gaps: int = 0
    backfilled: int = 0
    unresolved: Mapping[str, str] = field(default_factory=dict)  # tag -> why it could not be subscribed
    clock_offset_s: float | None = None  # the server's clock minus ours, last measured
    clock_aligned_s: float = 0.0  # what is subtracted from the server's timestamps
    timestamps_replaced: Mapping[str, int] = field(default_factory=dict)  # reason -> values
    server_clock_frozen: bool = False  # CurrentTime stopped advancing while values kept arriving
    subscriptions: int = 0  # on the server, this session (more than one where a subscription was full)
    notifications_republished: int = 0  # messages missed (a sequence-number gap) and republished
    notifications_lost: int = 0  # messages the server could not republish: current values were read instead
    limits: ServerLimits = field(default_factory=ServerLimits)  # as the server advertised them

    @property
    def problems(self) -> list[str]:
        """What /healthz reports as degraded, besides unresolved tags."""
        return [f"{self.source}: {SERVER_CLOCK_FROZEN}"] if self.server_clock_frozen else []
