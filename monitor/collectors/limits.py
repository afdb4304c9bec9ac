"""What a server takes per call and per subscription (OperationLimits, ServerCapabilities), and reads
sized to it.

0 or a node the server does not have means "no limit advertised". A server that refuses a call
anyway (BadTooManyOperations) is answered with smaller calls, never with a new session.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from asyncua import Client, ua

log = logging.getLogger("monitor.collectors.opcua")  # the collector's log: operators filter on it

T = TypeVar("T")
_O = ua.ObjectIds
# field -> node (Part 5, 6.3.11 OperationLimitsType; 1.05 ServerCapabilitiesType)
LIMIT_NODES = {
    "monitored_items_per_call": _O.Server_ServerCapabilities_OperationLimits_MaxMonitoredItemsPerCall,
    "nodes_per_read": _O.Server_ServerCapabilities_OperationLimits_MaxNodesPerRead,
    "nodes_per_browse": _O.Server_ServerCapabilities_OperationLimits_MaxNodesPerBrowse,
    "nodes_per_translate": _O.Server_ServerCapabilities_OperationLimits_MaxNodesPerTranslateBrowsePathsToNodeIds,
    "monitored_items_per_subscription": _O.Server_ServerCapabilities_MaxMonitoredItemsPerSubscription,
    "subscriptions_per_session": _O.Server_ServerCapabilities_MaxSubscriptionsPerSession,
}
REFUSED_CALL = {ua.StatusCodes.BadTooManyOperations, ua.StatusCodes.BadRequestTooLarge}


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """The server's advertised limits; 0 = none advertised."""

    monitored_items_per_call: int = 0
    nodes_per_read: int = 0
    nodes_per_browse: int = 0
    nodes_per_translate: int = 0
    monitored_items_per_subscription: int = 0
    subscriptions_per_session: int = 0

    def advertised(self) -> dict[str, int]:
        """limit -> value, for those the server advertises."""
        return {name: getattr(self, name) for name in LIMIT_NODES if getattr(self, name)}

    def describe(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.advertised().items()) or "none advertised"


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """`items` in slices of at most `size` (0 or less: one slice)."""
    step = size if size > 0 else max(len(items), 1)
    for i in range(0, len(items), step):
        yield items[i : i + step]


def call_size(wanted: int, limit: int) -> int:
    """Our batch size within the server's limit (0 = no limit)."""
    return min(wanted, limit) if limit > 0 else wanted


def _as_limit(dv: ua.DataValue) -> int:
    if dv.StatusCode is not None and not dv.StatusCode.is_good():
        return 0
    value = dv.Value.Value if dv.Value is not None else None
    return int(value) if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


async def read_limits(client: Client, source: str) -> ServerLimits:
    """The limit nodes, one a read (the read limit is not known yet); unreadable means none advertised."""
    ids = [ua.NodeId(ua.Int32(n)) for n in LIMIT_NODES.values()]
    try:
        dvs = await read_nodes(client, ids, 1)
    except (ua.UaError, TimeoutError, OSError) as exc:
        log.warning("%s: cannot read the server's operation limits (%s): calls are not sized to them", source, exc)
        return ServerLimits()
    limits = ServerLimits(*(_as_limit(dv) for dv in dvs))
    log.info("%s: server limits: %s", source, limits.describe())
    return limits


def _read_params(node_ids: Sequence[ua.NodeId], attribute: int) -> ua.ReadParameters:
    params = ua.ReadParameters()
    params.TimestampsToReturn = ua.TimestampsToReturn.Both
    params.NodesToRead = [ua.ReadValueId(NodeId=n, AttributeId=attribute) for n in node_ids]
    return params


async def read_nodes(
    client: Client, node_ids: Sequence[ua.NodeId], limit: int, attribute: int = ua.AttributeIds.Value
) -> list[ua.DataValue]:
    """Read `attribute` of every node (source and server timestamps), at most `limit` nodes a call.

    A call the server refuses as too large is split in halves until it passes (one node a call at worst).
    """
    out: list[ua.DataValue] = []
    for chunk in chunks(node_ids, limit):
        out += await _read_splitting(client, chunk, attribute)
    return out


async def _read_splitting(client: Client, node_ids: Sequence[ua.NodeId], attribute: int) -> list[ua.DataValue]:
    try:
        return list(await client.uaclient.read(_read_params(node_ids, attribute)))
    except ua.UaStatusCodeError as exc:
        if exc.code not in REFUSED_CALL or len(node_ids) <= 1:
            raise
        log.warning(
            "read of %d nodes refused (%s): trying %d at a time", len(node_ids), refusal(exc), len(node_ids) // 2
        )
    half = len(node_ids) // 2
    return await _read_splitting(client, node_ids[:half], attribute) + await _read_splitting(
        client, node_ids[half:], attribute
    )


def refusal(exc: Any) -> str:
    """A status code error as `Name (0x…)` for the log."""
    code = getattr(exc, "code", None)
    if not isinstance(code, int):
        return f"{type(exc).__name__}: {exc}"
    return f"{ua.StatusCode(ua.UInt32(code)).name} (0x{code:08X})"
