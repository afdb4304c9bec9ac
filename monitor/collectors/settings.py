"""How the collectors reach one OPC-UA server: the settings value object config builds (config -> collectors only)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from monitor.collectors.credentials import SecuritySettings
from monitor.collectors.sampling import TagSampling
from monitor.collectors.timestamps import ClockPolicy


@dataclass(frozen=True, kw_only=True)
class OpcuaSettings:
    """How to reach one OPC-UA server. Credentials never live here: they come from the environment (credentials.py)."""

    endpoint: str
    namespace_uri: str = ""
    publishing_interval_ms: float = 250.0
    sampling_interval_ms: float = 0.0
    queue_size: int = 1000
    timeout_s: float = 4.0
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 10.0
    batch_size: int = 500
    backfill: bool = True  # after a gap, read the missed values from the server's history (HistoryRead)
    backfill_max_s: float = 86_400.0  # never reach back further than this (plant seconds)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    clock: ClockPolicy = field(default_factory=ClockPolicy)
    clock_check_s: float = 5.0  # wall seconds between reads of the server's clock (its offset from ours)
    clock_frozen_s: float = 10.0  # wall seconds CurrentTime may stand still while values arrive before it is named
    clock_margin_s: float = 0.0  # server seconds a value may be sampled after CurrentTime and still belong before it
    sampling: Mapping[str, TagSampling] = field(default_factory=dict)  # tag -> its own sampling and deadband
