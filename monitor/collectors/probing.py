"""What a server sends, measured once (check-config --endpoint): which timestamps each value
carries, how far the server's clock is from ours, and the limits it advertises.

A timestamp counts as sent when it is a plausible time: not null, not DateTime 0 (1601-01-01,
which asyncua gives as datetime.min), not before 2000, not more than a day ahead of the server's
clock (9999-12-31 is "not set" on some stacks).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime

from asyncua import Client, ua

from monitor.collectors.server_clock import safe_epoch

EARLIEST = 946_684_800.0  # 2000-01-01T00:00:00Z
AHEAD_S = 86_400.0
SHOWN = 3  # tags named per kind when kinds differ


def plausible(dt: datetime | None, reference: float) -> bool:
    epoch = safe_epoch(dt) if dt is not None else None
    return epoch is not None and EARLIEST <= epoch <= reference + AHEAD_S


def timestamps_sent(dv: ua.DataValue, reference: float) -> str:
    """ "both", "source", "server" or "neither": the plausible timestamps of one DataValue."""
    source = plausible(dv.SourceTimestamp, reference)
    server = plausible(dv.ServerTimestamp, reference)
    return {(True, True): "both", (True, False): "source", (False, True): "server"}.get((source, server), "neither")


def summary(kinds: Mapping[str, str]) -> str:
    """One line for all tags: "both on 24 tags", or "source on 20 tags, neither on 4 (Tag1, Tag2)"."""
    if not kinds:
        return "no tag could be read"
    counts = Counter(kinds.values())
    parts = []
    for kind in ("both", "source", "server", "neither"):
        if counts[kind]:
            tags = sorted(t for t, k in kinds.items() if k == kind)
            named = f" ({', '.join(tags[:SHOWN])}{'…' if len(tags) > SHOWN else ''})" if len(counts) > 1 else ""
            parts.append(f"{kind} on {counts[kind]} tag{'s' * (counts[kind] != 1)}{named}")
    return ", ".join(parts)


async def clock_offset(
    client: Client, ours: Callable[[], float] = time.time, reads: int = 3
) -> tuple[float, float] | None:
    """(CurrentTime minus our clock at the read's midpoint, round trip) of the fastest of `reads`
    reads; None when CurrentTime is unreadable or not a plausible time."""
    node = client.get_node(ua.NodeId(ua.Int32(ua.ObjectIds.Server_ServerStatus_CurrentTime)))
    best: tuple[float, float] | None = None
    for _ in range(reads):
        sent = ours()
        try:
            value = await node.read_value()
        except (ua.UaError, TimeoutError, OSError):
            return None
        back = ours()
        server = safe_epoch(value) if isinstance(value, datetime) else None
        if server is None or server < EARLIEST:
            return None
        if best is None or back - sent < best[1]:
            best = (server - 0.5 * (sent + back), back - sent)
    return best
