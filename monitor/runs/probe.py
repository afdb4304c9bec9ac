"""`blackmass check-config FILE --endpoint URL`: resolve every configured tag on a live server.

Lists what is missing and what has a data type the service cannot use (text for a counter,
a number where a bag id is expected is fine: integer ids are read as text); reads each value once
to say which timestamps the server sends, and measures its clock against ours and reads its limits.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from asyncua import Client, ua

from monitor.collectors.addressing import resolve_address
from monitor.collectors.browse import connect_once, walk
from monitor.collectors.limits import ServerLimits, read_limits, read_nodes
from monitor.collectors.probing import clock_offset, summary, timestamps_sent
from monitor.collectors.security import secure
from monitor.collectors.wire_fix import client as new_client
from monitor.config import MonitorConfig
from monitor.errors import ConfigError

_NUMBERS = {
    ua.ObjectIds.Double,
    ua.ObjectIds.Float,
    ua.ObjectIds.Byte,
    ua.ObjectIds.SByte,
    ua.ObjectIds.Int16,
    ua.ObjectIds.UInt16,
    ua.ObjectIds.Int32,
    ua.ObjectIds.UInt32,
    ua.ObjectIds.Int64,
    ua.ObjectIds.UInt64,
    ua.ObjectIds.Boolean,
}
_TEXT_OR_INT = {ua.ObjectIds.String, *(_NUMBERS - {ua.ObjectIds.Double, ua.ObjectIds.Float})}


@dataclass(frozen=True, slots=True)
class TagCheck:
    tag: str
    address: str
    node_id: str = ""
    data_type: str = ""
    problem: str = ""  # empty: usable
    nearest: str = ""  # for a missing tag: the server's closest variable (browse path), to map in [nodes]
    timestamps: str = ""  # "both", "source", "server", "neither" (plausible ones, one read); "" unread


def nearest(tag: str, variables: Mapping[str, str]) -> str:
    """The browse path (of `variables`: path -> node id) whose name reads closest to `tag`, or ""."""

    def name(path: str, node_id: str) -> str:  # "s=Feed.Totaliser" or the path's last segments
        ident = node_id.rpartition(";s=")[2] if ";s=" in node_id else ""
        return (ident or ".".join(seg.rpartition(":")[2] for seg in path.split("/")[-2:])).lower()

    names = {name(p, n): p for p, n in variables.items()}
    close = difflib.get_close_matches(tag.lower(), list(names), n=1, cutoff=0.6)
    return names[close[0]] if close else ""


@dataclass(frozen=True, slots=True)
class ProbeReport:
    checks: list[TagCheck]
    clock_offset_s: float | None = None  # the server's CurrentTime minus our clock
    round_trip_s: float | None = None
    limits: ServerLimits = field(default_factory=ServerLimits)

    @property
    def timestamps(self) -> str:
        """Which timestamps the server sends, over all tags read."""
        return summary({c.tag: c.timestamps for c in self.checks if c.timestamps})


def expected_kinds(cfg: MonitorConfig) -> dict[str, str]:
    """tag -> "text" (ids and attributes: text or integer codes) or "number"."""
    line = cfg.line
    kinds = {t: "text" for t in (line.batch_id_tag, line.chemistry_tag, line.feed_form_tag, line.supplier_tag) if t}
    for s in line.streams:
        if s.tag:
            kinds[s.tag] = "number"
        if s.bag_id_tag:
            kinds[s.bag_id_tag] = "text"
    for p in cfg.process:
        kinds[p.tag] = "number"
    if line.energy_tag:
        kinds[line.energy_tag] = "number"
    return kinds


async def probe(cfg: MonitorConfig) -> ProbeReport:
    """Connect once, resolve and type-check every tag of the config, read each value once (nothing is subscribed)."""
    op = cfg.opcua
    if op is None:
        raise ConfigError(cfg.source, "--endpoint", "a line with an OPC-UA source", "none", "use check-config --probe")
    client = new_client(op.endpoint, timeout=op.timeout_s)
    await secure(client, op.security)
    await connect_once(client, op.endpoint)
    try:
        namespaces = await client.get_namespace_array()
        limits = await read_limits(client, "check-config")
        checks = [await _check(client, namespaces, tag, addr, kind) for tag, addr, kind in _tags(cfg)]
        if any(c.problem.startswith("missing") for c in checks):
            variables = {v.path: v.node_id async for v in walk(client)}
            checks = [
                replace(c, nearest=nearest(c.tag, variables)) if c.problem.startswith("missing") else c for c in checks
            ]
        offset = await clock_offset(client)
        checks = await _timestamps(client, checks, limits, time.time() + (offset[0] if offset else 0.0))
        if offset is None:
            return ProbeReport(checks, limits=limits)
        return ProbeReport(checks, offset[0], offset[1], limits)
    finally:
        await client.disconnect()


async def _timestamps(client: Client, checks: list[TagCheck], limits: ServerLimits, reference: float) -> list[TagCheck]:
    """Each resolved tag's value read once with both timestamps: which ones the server fills in."""
    resolved = [c for c in checks if c.node_id]
    try:
        dvs = await read_nodes(client, [ua.NodeId.from_string(c.node_id) for c in resolved], limits.nodes_per_read)
    except (ua.UaError, TimeoutError, OSError):
        return checks
    kinds = {c.tag: timestamps_sent(dv, reference) for c, dv in zip(resolved, dvs, strict=True)}
    return [replace(c, timestamps=kinds.get(c.tag, "")) for c in checks]


def _tags(cfg: MonitorConfig) -> list[tuple[str, str, str]]:
    kinds: Mapping[str, str] = expected_kinds(cfg)
    return [(tag, addr, kinds.get(tag, "number")) for tag, addr in cfg.tag_addresses().items()]


async def _check(client: Client, namespaces: list[str], tag: str, address: str, kind: str) -> TagCheck:
    try:
        node_id = await resolve_address(address, namespaces, client)
        dv = await client.get_node(node_id).read_attribute(ua.AttributeIds.DataType)
    except (LookupError, ValueError, ConfigError, ua.UaError) as exc:
        return TagCheck(tag, address, problem=f"missing: {exc}")
    dtype = dv.Value.Value if dv.Value is not None else None
    ident = dtype.Identifier if isinstance(dtype, ua.NodeId) and dtype.NamespaceIndex == 0 else None
    name = ua.ObjectIdNames.get(ident, str(dtype)) if isinstance(ident, int) else str(dtype)
    allowed = _NUMBERS if kind == "number" else _TEXT_OR_INT
    wanted = "a number" if kind == "number" else "text or an integer"
    problem = "" if ident in allowed else f"wrong type: expected {wanted}"
    return TagCheck(tag, address, node_id.to_string(), name, problem)
