"""Node addresses as written in a plant config, checked without a server (and without asyncua).

Forms: `ns=2;s=Feed.Totalizer`, `nsu=<namespace uri>;s=…` (survives a server that reorders its
namespaces), `i=2258`, `g=<guid>`, `b=<base64>`, or a browse path from the Root folder such as
`/Objects/2:Line1/2:Feed/2:Totalizer` whose segments may name their namespace by URI
(`nsu=urn:plc:line1;Feed`).
"""

from __future__ import annotations

import re

_IDENTIFIER = re.compile(
    r"i=\d+|s=.+|g=[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|b=[A-Za-z0-9+/=]+"
)
_SEGMENT = re.compile(r"nsu=[^;]+;[^/]+|[^/]+")


def browse_segments(path: str) -> list[tuple[str | int, str]]:
    """'/Objects/2:Line1/nsu=urn:plc;Feed' -> [(0, 'Objects'), (2, 'Line1'), ('urn:plc', 'Feed')].

    A segment is `N:Name` (namespace index), `nsu=URI;Name` (namespace URI, survives a server
    restart) or a bare name (namespace 0). The leading `/` starts at the Root folder.
    """
    if not path.startswith("/"):
        raise ValueError(f"a browse path starts with '/', got {path!r}")
    segments: list[tuple[str | int, str]] = []
    for part in _SEGMENT.findall(path[1:]):
        if part.startswith("nsu="):
            uri, _, name = part[4:].partition(";")
            if not uri or not name:
                raise ValueError(f"segment {part!r}: expected nsu=<uri>;<name>")
            segments.append((uri, name))
            continue
        ns, colon, name = part.partition(":")
        if colon and ns.isdigit() and name:
            segments.append((int(ns), name))
        elif colon and not ns.isdigit():
            raise ValueError(f"segment {part!r}: expected <index>:<name> or nsu=<uri>;<name>")
        else:
            segments.append((0, part))
    if not segments:
        raise ValueError(f"empty browse path {path!r}")
    return segments


def check_address(address: str) -> None:
    """Syntax only, no server: a node id or a browse path; ValueError says what is wrong."""
    text = address.strip()
    if text.startswith("/"):
        browse_segments(text)
        return
    if text.startswith("nsu="):
        uri, sep, rest = text[4:].partition(";")
        if not sep or not uri or not rest:
            raise ValueError(f"expected nsu=<uri>;<id> such as nsu=urn:plc:line1;s=DB10.FeedTotal, got {address!r}")
        text = rest
    elif text.startswith("ns="):
        ns, sep, rest = text[3:].partition(";")
        if not sep or not ns.isdigit():
            raise ValueError(f"expected ns=<index>;<id> such as ns=2;s=Feed.Totalizer, got {address!r}")
        text = rest
    if not _IDENTIFIER.fullmatch(text):
        raise ValueError(
            f"expected a node id like ns=2;s=Feed.Totalizer, nsu=<uri>;s=…, i=2258 or a browse path "
            f"/Objects/2:Line1/2:Feed, got {address!r}"
        )
