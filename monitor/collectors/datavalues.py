"""OPC-UA DataValues as Samples, and counter wrap points by data type."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime
from typing import Any

from asyncua import Client, ua

from monitor.collectors.limits import read_nodes
from monitor.collectors.server_clock import safe_epoch
from monitor.collectors.timestamps import TimestampJudge
from monitor.core.samples import Quality, Sample, quality_from_status

log = logging.getLogger("monitor.collectors.opcua")  # the collector's log: operators filter on it


def _epoch(dt: datetime | None) -> float | None:
    return dt.timestamp() if dt is not None else None


def to_sample(
    tag: str,
    dv: ua.DataValue,
    wall: float,
    judge: TimestampJudge | None = None,
    server_now: float | None = None,
    stand_in: float | None = None,
) -> Sample:
    """A DataValue as a Sample: source timestamp first, then server time, then receipt time.

    With a judge, implausible timestamps are replaced too and times are aligned to our clock.
    """
    code = dv.StatusCode.value if dv.StatusCode is not None else 0
    raw = dv.Value.Value if dv.Value is not None else None
    retimed, uncertain = False, 0.0
    if judge is None:
        ts = _epoch(dv.SourceTimestamp) or _epoch(dv.ServerTimestamp) or wall
    else:
        now = wall if server_now is None else server_now
        ts, retimed = judge.judge(
            tag, safe_epoch(dv.SourceTimestamp), safe_epoch(dv.ServerTimestamp), wall, raw, now, stand_in
        )
        uncertain = 0.0 if retimed else judge.uncertainty(tag)
    value: float | str | None
    if isinstance(raw, str):
        value = raw
    elif isinstance(raw, int | float):  # bool is an int: a digital tag reads 0.0 / 1.0
        value = float(raw)
    else:
        value = None
    quality = quality_from_status(code)
    if value is None and quality is Quality.GOOD:
        quality = Quality.BAD
    return Sample(tag, ts, value, quality, code, retimed, uncertain)


# integer data types of counter nodes -> where they wrap (the counter's maximum + 1)
WRAP_BY_TYPE = {
    ua.ObjectIds.Byte: 2**8,
    ua.ObjectIds.UInt16: 2**16,
    ua.ObjectIds.Int16: 2**15,
    ua.ObjectIds.UInt32: 2**32,
    ua.ObjectIds.Int32: 2**31,
    ua.ObjectIds.UInt64: 2**64,
    ua.ObjectIds.Int64: 2**63,
}


DATA_CHANGE_FILTER = ua.DataChangeFilter(Trigger=ua.DataChangeTrigger.StatusValueTimestamp)


def by_reason(replaced: Counter[tuple[str, str]]) -> dict[str, int]:
    out: Counter[str] = Counter()
    for (_, why), n in replaced.items():
        out[why] += n
    return dict(out)


async def counter_wraps(
    client: Client, node_ids: list[Any], tags: list[str], source: str, limit: int = 0
) -> dict[str, int]:
    """Where each integer counter wraps, from its node's DataType; {} when the types cannot be read.

    At most `limit` nodes a read (the server's MaxNodesPerRead; 0: all in one)."""
    try:
        dvs = await read_nodes(client, node_ids, limit, ua.AttributeIds.DataType)
    except (ua.UaError, TimeoutError, OSError) as exc:
        log.warning("%s: cannot read the data types of the nodes (%s)", source, exc)
        return {}
    wraps = {}
    for tag, dv in zip(tags, dvs, strict=True):
        nid = dv.Value.Value if dv.Value is not None else None
        ident = nid.Identifier if isinstance(nid, ua.NodeId) and nid.NamespaceIndex == 0 else None
        if isinstance(ident, int) and ident in WRAP_BY_TYPE:
            wraps[tag] = WRAP_BY_TYPE[ident]
    return wraps
