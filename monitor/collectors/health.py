"""What a collector reports about itself: connection state, gaps in source time, counts (for /metrics)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


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
    clock_problem: str | None = None  # why the server's clock is no reference now
