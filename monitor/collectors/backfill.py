"""After a gap: read each tag's missed values back from the server's history (HistoryRead)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from asyncua import Client, ua

from monitor.collectors.datavalues import to_sample
from monitor.collectors.health import Gap
from monitor.core.samples import SERVER_CLOCK, Sample

if TYPE_CHECKING:
    from monitor.collectors.opcua import OpcuaCollector

log = logging.getLogger("monitor.collectors.opcua")  # the collector's log: operators filter on it


async def backfill(c: OpcuaCollector, client: Client, handles: dict[int, str]) -> None:
    """Read each tag's values since its last delivered sample from the server's history."""
    since = {tag: c._last_ts.get(tag, c.resume_from) for tag in handles.values() if tag != SERVER_CLOCK}
    known = {tag: t for tag, t in since.items() if t is not None}
    if not known:
        return
    gap_start = max(known.values())
    floor = gap_start - c.settings.backfill_max_s
    samples: list[Sample] = []
    recovered = c.settings.backfill
    if recovered:
        wall = c._wall()
        for tag, t in known.items():
            node = client.get_node(c._node_ids[tag])
            try:
                dvs = await node.read_raw_history(datetime.fromtimestamp(max(t, floor), UTC), None)
            except ua.UaStatusCodeError as exc:
                log.warning(
                    "%s: no history for %s (%s): the gap since %s stays a gap (hint: enable historizing "
                    "on the server, or set [opcua] backfill = false)",
                    c.source,
                    tag,
                    exc,
                    datetime.fromtimestamp(gap_start, UTC).isoformat(timespec="seconds"),
                )
                recovered = False
                break
            now = c.server_clock.now()
            samples += [x for x in (to_sample(tag, dv, wall, c.judge, now) for dv in dvs) if x.ts > t]
    samples.sort(key=lambda x: x.ts)
    end = max((x.ts for x in samples), default=gap_start)
    gap = Gap(gap_start, end, recovered, len(samples))
    c.gaps.append(gap)
    del c.gaps[:-100]
    c.gap_count += 1
    c.unrecovered_gaps += not recovered
    c.backfilled += len(samples)
    log.warning(
        "%s: gap after %s: %d values read back from the server's history%s",
        c.source,
        datetime.fromtimestamp(gap_start, UTC).isoformat(timespec="seconds"),
        len(samples),
        "" if recovered else " (not recovered)",
    )
    if c.on_gap is not None:
        c.on_gap(gap)
    if samples:
        c._deliver(samples)
        result = c.sink(samples)
        if asyncio.iscoroutine(result):
            await result
