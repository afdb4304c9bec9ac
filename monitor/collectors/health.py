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
    clock_pending: tuple[str, ...] = ()  # tags whose controller clock is still being decided
    samples_waiting: int = 0  # their samples, held until it is
    tag_offsets: Mapping[str, float] = field(default_factory=dict)  # tag -> its controller's clock minus the server's
    tag_clocks_redecided: Mapping[str, int] = field(default_factory=dict)  # tag -> times its decided clock moved
    clock_problem: str | None = None  # why the server's clock is no reference now
    server_clock_frozen: bool = False  # CurrentTime stopped advancing while values kept arriving
    subscriptions: int = 0  # on the server, this session (more than one where a subscription was full)
    notifications_republished: int = 0  # messages missed (a sequence-number gap) and republished
    notifications_lost: int = 0  # messages the server could not republish: current values were read instead
    limits: ServerLimits = field(default_factory=ServerLimits)  # as the server advertised them

    @property
    def problems(self) -> list[str]:
        """What /healthz reports as degraded, besides unresolved tags."""
        out = [f"{self.source}: {SERVER_CLOCK_FROZEN}"] if self.server_clock_frozen else []
        if self.clock_problem:
            out.append(f"{self.source}: {self.clock_problem}")
        if self.clock_pending:
            waiting = f"{self.samples_waiting} samples waiting"
            out.append(f"{self.source}: clock decision pending for {', '.join(self.clock_pending)} ({waiting})")
        return out
