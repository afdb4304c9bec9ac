"""`blackmass browse`: walk a server's Objects folder and list variables with stable node ids."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from asyncua import Client, ua

from monitor.collectors.addressing import expanded_string
from monitor.errors import CollectorError


async def browse(url: str, *, depth: int = 6) -> AsyncIterator[tuple[str, str, Any]]:
    """Yield (browse path, nsu= node id, current value) for every variable under Objects."""
    client = Client(url, timeout=4)
    await connect_once(client, url)
    try:
        namespaces = await client.get_namespace_array()
        stack: list[tuple[Any, str, int]] = [(client.nodes.objects, "", 0)]
        while stack:
            node, path, level = stack.pop()
            for child in reversed(await node.get_children()):
                name = (await child.read_browse_name()).Name
                if child.nodeid.NamespaceIndex == 0 and level == 0:
                    continue  # the standard Server object
                cls = await child.read_node_class()
                here = f"{path}/{name}"
                if cls == ua.NodeClass.Variable:
                    try:
                        value = await child.read_value()
                    except ua.UaError:
                        value = None
                    yield here, expanded_string(child.nodeid, namespaces), value
                elif level < depth:
                    stack.append((child, here, level + 1))
    finally:
        await client.disconnect()


async def connect_once(client: Client, url: str) -> None:
    """Connect a one-shot client (browse, check-config --endpoint); a refusal says what to check."""
    try:
        await client.connect()
    except (OSError, TimeoutError, ua.UaError) as exc:
        raise CollectorError(
            f"{url}: cannot connect ({type(exc).__name__}: {exc}); "
            "hint: check host, port and path, and that the server is running"
        ) from exc
