"""Modbus registers → numbers: data types, word and byte orders, scale and offset, read grouping. Pure.

A Modbus register is 16 bits, sent high byte first. Values wider than one register (or packed
differently by a device) arrive in one of four orders, named by where the bytes A B C D of the
big-endian value land on the wire:

    ABCD  big-endian words, big-endian bytes (the Modbus "standard")
    CDAB  word swap      (low word first; most PLCs and many meters)
    BADC  byte swap      (each register's bytes swapped)
    DCBA  little-endian  (both swapped)

For 64-bit values the same rule holds word by word: CDAB reverses the order of the four words.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

ORDERS = ("ABCD", "CDAB", "BADC", "DCBA")
TABLES = ("holding", "input", "coil", "discrete")
# data type -> (struct code, registers)
TYPES: dict[str, tuple[str, int]] = {
    "int16": ("h", 1),
    "uint16": ("H", 1),
    "int32": ("i", 2),
    "uint32": ("I", 2),
    "float32": ("f", 2),
    "float64": ("d", 4),
    "int64": ("q", 4),
    "uint64": ("Q", 4),
}
BIT_TABLES = ("coil", "discrete")
# order -> (the read's registers packed little-endian?, the value's struct byte order); see decode_read
_FIELD_ORDER = {"ABCD": (False, ">"), "CDAB": (True, "<"), "BADC": (True, ">"), "DCBA": (False, "<")}
_WIRE = {"ABCD": (">", False), "CDAB": (">", True), "BADC": ("<", False), "DCBA": ("<", True)}
_STRUCTS: dict[str, struct.Struct] = {}


def _struct(fmt: str) -> struct.Struct:
    got = _STRUCTS.get(fmt)
    if got is None:
        got = _STRUCTS[fmt] = struct.Struct(fmt)
    return got


@dataclass(frozen=True, slots=True)
class Point:
    """One tag read from a Modbus device: where it is and how to turn its registers into a value."""

    tag: str
    table: str = "holding"  # holding | input | coil | discrete
    address: int = 0  # zero-based register (or bit) address
    dtype: str = "uint16"  # one of TYPES, or "string" (`length` registers of ASCII), or "bool" (bit tables)
    order: str = "ABCD"
    scale: float = 1.0
    offset: float = 0.0
    length: int = 1  # registers of a string
    time_address: int | None = None  # a register pair (uint32 epoch s, same table) stamping this value
    time_order: str = "ABCD"  # the word/byte order of that pair
    trigger: str | None = None  # a tag whose change (a bag counter, a flag) is the only time this one is sent

    @property
    def registers(self) -> int:
        if self.table in BIT_TABLES:
            return 1
        if self.dtype == "string":
            return self.length
        return TYPES[self.dtype][1]

    @property
    def wrap(self) -> float | None:
        """Where an unsigned integer counter rolls over (its width), in engineering units; None otherwise."""
        if self.dtype in ("uint16", "uint32", "uint64") and self.table not in BIT_TABLES:
            return float(2 ** (16 * TYPES[self.dtype][1])) * self.scale
        return None


def to_bytes(registers: Sequence[int], order: str) -> bytes:
    """The registers' bytes rearranged into big-endian (ABCD) order."""
    if order not in ORDERS:
        raise ValueError(f"word/byte order: expected one of {', '.join(ORDERS)}, got {order!r}")
    words = list(registers)
    if order in ("CDAB", "DCBA"):
        words.reverse()
    raw = b"".join(int(w & 0xFFFF).to_bytes(2, "big") for w in words)
    if order in ("BADC", "DCBA"):
        raw = b"".join(raw[i + 1 : i + 2] + raw[i : i + 1] for i in range(0, len(raw), 2))
    return raw


def from_value(value: float, dtype: str, order: str) -> list[int]:
    """The registers a device in `order` sends for `value` (the inverse of decode; tests and benchmarks)."""
    code, _ = TYPES[dtype]
    raw = struct.pack(f">{code}", int(value) if code not in "fd" else value)
    words = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
    # each of the four orders is its own inverse
    back = to_bytes(words, order)
    return [int.from_bytes(back[i : i + 2], "big") for i in range(0, len(back), 2)]


def decode(registers: Sequence[int], dtype: str, order: str = "ABCD") -> float | str:
    """Registers (16-bit ints) → the raw value of `dtype` in `order`; a string strips NUL and blanks."""
    if dtype == "string":
        raw = to_bytes(registers, "BADC" if order in ("BADC", "DCBA") else "ABCD")
        return raw.replace(b"\x00", b"").decode("latin-1").strip()
    if dtype not in TYPES:
        raise ValueError(f"data type: expected one of {', '.join(TYPES)} or string, got {dtype!r}")
    code, n = TYPES[dtype]
    if len(registers) != n:
        raise ValueError(f"{dtype}: expected {n} registers, got {len(registers)}")
    if order not in _WIRE:
        raise ValueError(f"word/byte order: expected one of {', '.join(ORDERS)}, got {order!r}")
    # the same as to_bytes, in two struct calls: a register packed little-endian is its bytes swapped
    endian, reverse = _WIRE[order]
    words = registers[::-1] if reverse else registers
    raw = _struct(f"{endian}{n}H").pack(*(w & 0xFFFF for w in words))
    return float(_struct(f">{code}").unpack(raw)[0])


def engineering(point: Point, raw: float | str | bool) -> float | str:
    """A decoded value with the point's scale and offset applied (strings as they are)."""
    if isinstance(raw, str):
        return raw
    return float(raw) * point.scale + point.offset


@dataclass(frozen=True, slots=True)
class Read:
    """One request: `count` registers (or bits) of `table` from `address`, covering `points`."""

    table: str
    address: int
    count: int
    points: tuple[Point, ...]
    # the numeric register points as (tag, unpacker, from the swapped bytes?, byte offset): see decode_read
    fields: tuple[tuple[str, struct.Struct, bool, int], ...] = ()


def make_read(table: str, address: int, count: int, points: Iterable[Point]) -> Read:
    """A read of `count` registers from `address`, its numeric points' unpacking decided once."""
    pts = tuple(points)
    fields = []
    for p in pts:
        if p.dtype in TYPES and table not in BIT_TABLES:
            swapped, endian = _FIELD_ORDER[p.order]
            fields.append((p.tag, _struct(endian + TYPES[p.dtype][0]), swapped, 2 * (p.address - address)))
    return Read(table, address, count, pts, tuple(fields))


def spans(point: Point) -> list[tuple[int, int]]:
    """(address, count) of every register the point needs (its value and its time stamp)."""
    out = [(point.address, point.registers)]
    if point.time_address is not None:
        out.append((point.time_address, 2))
    return out


def plan_reads(points: Iterable[Point], max_registers: int = 125, max_bits: int = 2000) -> list[Read]:
    """Group points into as few requests as the device allows: per table, contiguous-or-near spans up
    to `max_registers` (`max_bits` for coils), a hole of up to 8 registers read rather than split."""
    by_table: dict[str, list[Point]] = {}
    for p in points:
        by_table.setdefault(p.table, []).append(p)
    reads: list[Read] = []
    for table, pts in sorted(by_table.items()):
        limit = max_bits if table in BIT_TABLES else max_registers
        pts.sort(key=lambda p: min(a for a, _ in spans(p)))
        start = end = -1
        group: list[Point] = []
        for p in pts:
            lo = min(a for a, _ in spans(p))
            hi = max(a + n for a, n in spans(p))
            if hi - lo > limit:
                raise ValueError(f"{p.tag}: needs {hi - lo} registers in one read, the device allows {limit}")
            if group and lo - end <= 8 and max(end, hi) - start <= limit:  # noqa: PLR2004 - a small hole
                group.append(p)
                end = max(end, hi)
                continue
            if group:
                reads.append(make_read(table, start, end - start, group))
            group, start, end = [p], lo, hi
        if group:
            reads.append(make_read(table, start, end - start, group))
    return reads


def decode_read(read: Read, registers: Sequence[int]) -> dict[str, float]:
    """Every numeric register point of one read's answer, decoded at once (the hot path of a poll).

    The registers are packed once big-endian and once little-endian (each register's bytes
    swapped); each point is then one unpack_from: CDAB is the little-endian value in the swapped
    bytes, BADC the big-endian one, DCBA the little-endian one in the plain bytes. Strings, bits
    and time stamps go through decode()."""
    n = len(registers)
    be = _struct(f">{n}H").pack(*registers)
    le = _struct(f"<{n}H").pack(*registers)
    return {tag: float(unpack.unpack_from(le if swapped else be, at)[0]) for tag, unpack, swapped, at in read.fields}


def slice_of(read: Read, values: Sequence[int], address: int, count: int) -> list[int]:
    """The registers [address, address+count) out of one read's answer."""
    i = address - read.address
    return list(values[i : i + count])


EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target failed to respond",
}


def exception_text(code: int) -> str:
    return f"exception {code} ({EXCEPTION_NAMES.get(code, 'unknown')})"
