"""Notifications the server could not republish: read the subscription's items as they are now.

The values a lost message carried are gone, but each item's current value (with its own source
timestamp: a lot id keeps the time it changed) is not; the span is reported as a collector gap so
the lots it touches are flagged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from asyncua import Client, ua

from monitor.collectors.health import Gap
from monitor.collectors.limits import read_nodes
from monitor.collectors.sequence import numbers

log = logging.getLogger("monitor.collectors.opcua")  # the collector's log: operators filter on it


async def read_back(
    client: Client, nodes: Mapping[str, ua.NodeId], limit: int, source: str, lost: Sequence[int]
) -> dict[str, ua.DataValue]:
    """tag -> its current DataValue (source and server timestamps); {} when the read fails."""
    tags = list(nodes)
    try:
        dvs = await read_nodes(client, [nodes[t] for t in tags], limit)
    except (ua.UaError, TimeoutError, OSError) as exc:
        log.error(
            "%s: notification(s) %s lost and the current values unreadable (%s): values since are missing",
            source,
            numbers(lost),
            exc,
        )
        return {}
    log.warning(
        "%s: notification(s) %s lost for good (the server no longer has them); %d current values read back",
        source,
        numbers(lost),
        len(tags),
    )
    return dict(zip(tags, dvs, strict=True))


def lost_span(newest: float, interval_s: float, now: float, read: Sequence[float], missed: Sequence[float] = ()) -> Gap:
    """The span a lost message may have covered: from the newest time delivered before it (less one
    publishing interval) to the server's time now or the newest value read back; and back to any
    change it carried that the read-back shows (`missed`: stamps newer than the tag's last delivered
    value, which a PLC clock behind the server's puts before the newest tick)."""
    return Gap(min(newest - interval_s, now, *missed), max([now, *read]), False, len(read))
