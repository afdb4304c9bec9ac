"""Node addresses from config → asyncua NodeIds, resolved against the server's namespace array."""

from __future__ import annotations

from typing import Any

from asyncua import ua

from monitor.collectors.addressing_syntax import browse_segments
from monitor.errors import ConfigError


def resolve_node_id(address: str, namespaces: list[str]) -> ua.NodeId:
    """Turn 'nsu=URI;s=X', 'ns=2;s=X', 'i=85' and the like into a NodeId for this server.

    Namespace URIs are looked up in the server's current namespace array, so an address
    survives a server restart that reorders namespaces.
    """
    text = address.strip()
    if text.startswith("nsu="):
        uri, sep, rest = text[4:].partition(";")
        if not sep:
            raise ConfigError("nodes", address, "nsu=<uri>;<id>", address)
        if uri not in namespaces:
            raise LookupError(f"namespace {uri!r} is not on this server (it has {len(namespaces)} namespaces)")
        text = f"ns={namespaces.index(uri)};{rest}"
    try:
        return ua.NodeId.from_string(text)
    except (ValueError, ua.UaError) as exc:
        raise ConfigError("nodes", address, "a node id like ns=2;s=Feed.Totalizer or nsu=<uri>;s=…", address) from exc


def expanded_string(node_id: ua.NodeId, namespaces: list[str]) -> str:
    """A node id written with its namespace URI (stable across server restarts)."""
    text = node_id.to_string()
    if node_id.NamespaceIndex == 0 or node_id.NamespaceIndex >= len(namespaces):
        return text
    rest = text.split(";", 1)[1]
    return f"nsu={namespaces[node_id.NamespaceIndex]};{rest}"


async def resolve_address(address: str, namespaces: list[str], client: Any) -> ua.NodeId:
    """A node id (see resolve_node_id) or a browse path, resolved on this server's session."""
    text = address.strip()
    if not text.startswith("/"):
        return resolve_node_id(text, namespaces)
    names = []
    for ns, name in browse_segments(text):
        if isinstance(ns, str):
            if ns not in namespaces:
                raise LookupError(f"namespace {ns!r} of {address!r} is not on this server")
            names.append(f"{namespaces.index(ns)}:{name}")
        else:
            names.append(f"{ns}:{name}")
    node = await client.nodes.root.get_child(names)
    return node.nodeid
