"""`blackmass browse`: walk a server's Objects folder and list variables with stable node ids and types."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from asyncua import Client, ua

from monitor.collectors.addressing import expanded_string
from monitor.collectors.wire_fix import client as new_client
from monitor.errors import CollectorError


@dataclass(frozen=True, slots=True)
class Variable:
    path: str  # browse path as [nodes] takes it: /Objects/2:Line_L1/2:Feed/2:LotId
    node_id: str  # nsu=<uri>;s=... (stable across namespace reordering)
    data_type: str  # Double, String, UInt32, ...
    value: Any


async def browse(url: str, *, depth: int = 6) -> AsyncIterator[Variable]:
    """Every variable under Objects, with its browse path, stable node id, data type and value."""
    client = new_client(url, timeout=4)
    await connect_once(client, url)
    try:
        async for v in walk(client, depth=depth):
            yield v
    finally:
        await client.disconnect()


async def walk(client: Client, *, depth: int = 6) -> AsyncIterator[Variable]:
    """The variables under Objects of a connected client (browse; check-config's suggestions)."""
    namespaces = await client.get_namespace_array()
    stack: list[tuple[Any, str, int]] = [(client.nodes.objects, "/Objects", 0)]
    while stack:
        node, path, level = stack.pop()
        for child in reversed(await node.get_children()):
            if child.nodeid.NamespaceIndex == 0 and level == 0:
                continue  # the standard Server object
            qname = await child.read_browse_name()
            cls = await child.read_node_class()
            here = f"{path}/{qname.NamespaceIndex}:{qname.Name}" if qname.NamespaceIndex else f"{path}/{qname.Name}"
            if cls == ua.NodeClass.Variable:
                yield Variable(here, expanded_string(child.nodeid, namespaces), *await _type_and_value(child))
            elif level < depth:
                stack.append((child, here, level + 1))


async def _type_and_value(node: Any) -> tuple[str, Any]:
    try:
        dtype = await node.read_data_type()
        name = ua.ObjectIdNames.get(dtype.Identifier, str(dtype)) if dtype.NamespaceIndex == 0 else str(dtype)
    except ua.UaError:
        name = "?"
    try:
        value = await node.read_value()
    except ua.UaError:
        value = None
    return name, value


async def connect_once(client: Client, url: str) -> None:
    """Connect a one-shot client (browse, check-config --endpoint); a refusal says what to check."""
    try:
        await client.connect()
    except (OSError, TimeoutError, ua.UaError) as exc:
        raise CollectorError(
            f"{url}: cannot connect ({type(exc).__name__}: {exc}); "
            "hint: check host, port and path, and that the server is running"
        ) from exc
