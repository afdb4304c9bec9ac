"""A DataValue decoded in the order OPC UA Part 6 (5.2.2.17) encodes it, whatever asyncua's dataclass says.

asyncua 2.1.0 decodes a DataValue's optional fields in the order of its dataclass (SourceTimestamp,
ServerTimestamp, SourcePicoseconds, ServerPicoseconds), but the wire carries SourceTimestamp,
SourcePicoseconds, ServerTimestamp, ServerPicoseconds. From a server that sends picoseconds
(node-opcua does when it stamps a value with its own clock) the ServerTimestamp then comes out as
1601 or 9999-12-31 and the picoseconds as garbage. `install()` puts a decoder in the standard's order
in front of asyncua's (once, before any session decodes a DataValue); the encoding mask bits are the
same in both, so only the order of reading changes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from asyncua import Client, ua
from asyncua.ua import ua_binary

_VALUE, _STATUS, _SOURCE_TS, _SERVER_TS, _SOURCE_PS, _SERVER_PS = (1 << k for k in range(6))


def decode_datavalue(data: Any) -> ua.DataValue:
    """One DataValue from the binary stream, fields in the standard's order."""
    mask = ua_binary.Primitives.Byte.unpack(data)
    kw: dict[str, Any] = {}
    if mask & _VALUE:
        kw["Value"] = ua_binary.variant_from_binary(data)
    if mask & _STATUS:
        kw["StatusCode"] = ua.StatusCode(ua_binary.Primitives.UInt32.unpack(data))
    if mask & _SOURCE_TS:
        kw["SourceTimestamp"] = ua_binary.Primitives.DateTime.unpack(data)
    if mask & _SOURCE_PS:
        kw["SourcePicoseconds"] = ua_binary.Primitives.UInt16.unpack(data)
    if mask & _SERVER_TS:
        kw["ServerTimestamp"] = ua_binary.Primitives.DateTime.unpack(data)
    if mask & _SERVER_PS:
        kw["ServerPicoseconds"] = ua_binary.Primitives.UInt16.unpack(data)
    return ua.DataValue(**kw)


_installed = False


def install() -> None:
    """Decode every DataValue this process receives in the standard's order (idempotent)."""
    global _installed  # noqa: PLW0603 - one switch per process, like the library state it changes
    if _installed:
        return
    original: Callable[[Any], Callable[[Any], Any]]
    original = ua_binary._create_dataclass_deserializer  # reach-in: asyncua's decoder table has no public hook

    @functools.cache
    def deserializer(objtype: Any) -> Callable[[Any], Any]:
        if objtype is ua.DataValue or objtype == "DataValue":
            return decode_datavalue
        return original(objtype)

    ua_binary._create_dataclass_deserializer = deserializer  # reach-in: see above
    # decoders built before now may hold asyncua's DataValue decoder: rebuild them on next use
    for name in dir(ua_binary):
        cached = getattr(ua_binary, name)
        if callable(getattr(cached, "cache_clear", None)) and cached is not deserializer:
            cached.cache_clear()
    _installed = True


def client(url: str, **kw: Any) -> Client:
    """An asyncua Client whose DataValues decode in the wire's order: every client of ours is made here."""
    install()
    return Client(url, **kw)
