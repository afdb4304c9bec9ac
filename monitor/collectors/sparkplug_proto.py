"""Sparkplug B payloads (Sparkplug 3.0, org.eclipse.tahu.protobuf.Payload) ⇄ Python. Pure.

Only what a host application reads is decoded: the payload's timestamp and seq, and each
metric's name, alias, timestamp, datatype, is_null and scalar value. DataSets, templates,
properties and metadata are skipped (their bytes are stepped over, not trusted). The protobuf
wire format is small enough to read by hand, which keeps a generated module out of the tree.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# Sparkplug 3.0 data types (spec 6.4.16) of the scalar metrics we read
INT_TYPES = {1: 8, 2: 16, 3: 32, 4: 64, 5: 0, 6: 0, 7: 0, 8: 0}  # signed width; 0 = unsigned
FLOAT, DOUBLE, BOOLEAN, STRING, DATETIME, TEXT = 9, 10, 11, 12, 13, 14


@dataclass(frozen=True, slots=True)
class Metric:
    name: str | None
    alias: int | None
    timestamp_ms: int | None
    datatype: int | None
    value: float | str | None  # None: is_null, or a type we do not read


@dataclass(frozen=True, slots=True)
class Payload:
    timestamp_ms: int | None
    seq: int | None
    metrics: tuple[Metric, ...]


class DecodeError(ValueError):
    """The bytes are not a Sparkplug B payload."""


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        if i >= len(buf):
            raise DecodeError("a varint runs past the end of the payload")
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7
        if shift > 63:  # noqa: PLR2004 - ten bytes at most
            raise DecodeError("a varint longer than 10 bytes")


def fields(buf: bytes) -> list[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of every field of one message; varints and fixed as int."""
    out: list[tuple[int, int, int | bytes]] = []
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, i = _varint(buf, i)
            out.append((num, wire, v))
        elif wire == 1:
            out.append((num, wire, int.from_bytes(buf[i : i + 8], "little")))
            i += 8
        elif wire == 2:  # noqa: PLR2004 - length-delimited
            n, i = _varint(buf, i)
            if i + n > len(buf):
                raise DecodeError(f"field {num}: {n} bytes announced, {len(buf) - i} left")
            out.append((num, wire, buf[i : i + n]))
            i += n
        elif wire == 5:  # noqa: PLR2004 - fixed32
            out.append((num, wire, int.from_bytes(buf[i : i + 4], "little")))
            i += 4
        else:
            raise DecodeError(f"field {num}: wire type {wire} is not one protobuf 3 uses")
        if i > len(buf):
            raise DecodeError("a fixed-width field runs past the end of the payload")
    return out


def _signed(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def _metric(buf: bytes) -> Metric:
    name = alias = ts = dtype = None
    null = False
    raw: dict[int, int | bytes] = {}
    for num, _, v in fields(buf):
        if num == 1 and isinstance(v, bytes):
            name = v.decode("utf-8", "replace")
        elif num == 2 and isinstance(v, int):  # noqa: PLR2004
            alias = v
        elif num == 3 and isinstance(v, int):  # noqa: PLR2004
            ts = v
        elif num == 4 and isinstance(v, int):  # noqa: PLR2004
            dtype = v
        elif num == 7 and isinstance(v, int):  # noqa: PLR2004
            null = bool(v)
        elif INT_V <= num <= STRING_V:  # the scalar value fields
            raw[num] = v
    value = None if null else _value(dtype, raw)
    return Metric(name, alias, ts, dtype, value)


INT_V, LONG_V, FLOAT_V, DOUBLE_V, BOOL_V, STRING_V = 10, 11, 12, 13, 14, 15  # Metric's value fields


def _value(dtype: int | None, raw: dict[int, int | bytes]) -> float | str | None:
    ints = {k: v for k, v in raw.items() if isinstance(v, int)}
    width = INT_TYPES.get(dtype or 0, 0)
    if INT_V in ints:  # uint32 on the wire; signed types in two's complement
        return float(_signed(ints[INT_V], min(width, 32)) if width else ints[INT_V] & 0xFFFFFFFF)
    if LONG_V in ints:
        return float(_signed(ints[LONG_V], 64) if width else ints[LONG_V])
    if FLOAT_V in ints:
        return float(struct.unpack("<f", ints[FLOAT_V].to_bytes(4, "little"))[0])
    if DOUBLE_V in ints:
        return float(struct.unpack("<d", ints[DOUBLE_V].to_bytes(8, "little"))[0])
    if BOOL_V in ints:
        return 1.0 if ints[BOOL_V] else 0.0
    text = raw.get(STRING_V)
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else None


def decode_payload(buf: bytes) -> Payload:
    """A Sparkplug B payload's timestamp, seq and metrics; DecodeError when it is not one."""
    ts = seq = None
    metrics = []
    for num, _, v in fields(buf):
        if num == 1 and isinstance(v, int):
            ts = v
        elif num == 2 and isinstance(v, bytes):  # noqa: PLR2004
            metrics.append(_metric(v))
        elif num == 3 and isinstance(v, int):  # noqa: PLR2004
            seq = v
    return Payload(ts, seq, tuple(metrics))


def _key(num: int, wire: int) -> bytes:
    return _enc_varint(num << 3 | wire)


def _enc_varint(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def rebirth_request(now_ms: int) -> bytes:
    """The NCMD payload asking an edge node to rebirth: metric "Node Control/Rebirth" = true."""
    name = b"Node Control/Rebirth"
    metric = _key(1, 2) + _enc_varint(len(name)) + name
    metric += _key(3, 0) + _enc_varint(now_ms) + _key(4, 0) + _enc_varint(BOOLEAN) + _key(14, 0) + b"\x01"
    return _key(1, 0) + _enc_varint(now_ms) + _key(2, 2) + _enc_varint(len(metric)) + metric
