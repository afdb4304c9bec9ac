"""After a gap: read each tag's missed values back from the server's history (HistoryRead)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from asyncua import Client, ua

from monitor.collectors.health import Gap
from monitor.collectors.settings import OpcuaSettings
from monitor.core.samples import Sample

log = logging.getLogger("monitor.collectors.opcua")  # the collector's log: operators filter on it


async def backfill(
    client: Client,
    since: Mapping[str, float],
    nodes: Mapping[str, ua.NodeId],
    settings: OpcuaSettings,
    convert: Callable[[str, ua.DataValue], Sample],
    source: str,
) -> tuple[Gap, list[Sample]]:
    """Each tag's values after `since[tag]` (its last delivered source time) from the server's history.

    The gap runs from the newest of those times to the newest value read back; it is recovered when
    every tag's history could be read (`[opcua] backfill = false`: never).
    """
    gap_start = max(since.values())
    floor = gap_start - settings.backfill_max_s
    samples: list[Sample] = []
    recovered = settings.backfill
    for tag, t in since.items() if recovered else ():
        try:
            dvs = await client.get_node(nodes[tag]).read_raw_history(datetime.fromtimestamp(max(t, floor), UTC), None)
        except ua.UaStatusCodeError as exc:
            log.warning(
                "%s: no history for %s (%s): the gap since %s stays a gap (hint: enable historizing "
                "on the server, or set [opcua] backfill = false)",
                source,
                tag,
                exc,
                datetime.fromtimestamp(gap_start, UTC).isoformat(timespec="seconds"),
            )
            recovered = False
            break
        samples += [x for x in (convert(tag, dv) for dv in dvs) if x.ts > t]
    samples.sort(key=lambda x: x.ts)
    end = max((x.ts for x in samples), default=gap_start)
    log.warning(
        "%s: gap after %s: %d values read back from the server's history%s",
        source,
        datetime.fromtimestamp(gap_start, UTC).isoformat(timespec="seconds"),
        len(samples),
        "" if recovered else " (not recovered)",
    )
    return Gap(gap_start, end, recovered, len(samples)), samples
