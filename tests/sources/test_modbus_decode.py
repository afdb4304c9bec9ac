"""Modbus decoding: the four word/byte orders, every data type, scale/offset, read grouping."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.collectors.modbus_decode import (
    ORDERS,
    Point,
    decode,
    decode_read,
    engineering,
    from_value,
    plan_reads,
    to_bytes,
)

RANGES = {
    "int16": st.integers(-(2**15), 2**15 - 1),
    "uint16": st.integers(0, 2**16 - 1),
    "int32": st.integers(-(2**31), 2**31 - 1),
    "uint32": st.integers(0, 2**32 - 1),
    "int64": st.integers(-(2**63), 2**63 - 1),
    "uint64": st.integers(0, 2**64 - 1),
}


def test_the_four_orders_of_one_float32_as_devices_send_them() -> None:
    # 123.456 as float32 is 0x42F6E979: bytes A=42 B=F6 C=E9 D=79
    assert from_value(123.456, "float32", "ABCD") == [0x42F6, 0xE979]
    assert from_value(123.456, "float32", "CDAB") == [0xE979, 0x42F6]
    assert from_value(123.456, "float32", "BADC") == [0xF642, 0x79E9]
    assert from_value(123.456, "float32", "DCBA") == [0x79E9, 0xF642]
    for order in ORDERS:
        assert decode(from_value(123.456, "float32", order), "float32", order) == pytest.approx(123.456, rel=1e-7)


def test_an_independent_packing_of_each_order_decodes() -> None:
    """Registers laid out by hand from struct's little/big-endian packing, not by from_value."""
    big = struct.pack(">I", 0x11223344)
    little = struct.pack("<I", 0x11223344)
    words = {
        "ABCD": [int.from_bytes(big[0:2], "big"), int.from_bytes(big[2:4], "big")],
        "DCBA": [int.from_bytes(little[0:2], "big"), int.from_bytes(little[2:4], "big")],
        "CDAB": [int.from_bytes(big[2:4], "big"), int.from_bytes(big[0:2], "big")],
        "BADC": [int.from_bytes(big[1::-1], "big"), int.from_bytes(big[3:1:-1], "big")],
    }
    for order, regs in words.items():
        assert decode(regs, "uint32", order) == 0x11223344, order


@given(st.sampled_from(ORDERS), st.sampled_from(sorted(RANGES)), st.data())
def test_integers_round_trip_in_every_order(order: str, dtype: str, data: st.DataObject) -> None:
    value = data.draw(RANGES[dtype])
    regs = from_value(value, dtype, order)
    assert all(0 <= r <= 0xFFFF for r in regs)
    assert decode(regs, dtype, order) == float(value)


@given(st.sampled_from(ORDERS), st.floats(allow_nan=False, allow_infinity=False, width=32))
def test_float32_round_trips_in_every_order(order: str, value: float) -> None:
    assert decode(from_value(value, "float32", order), "float32", order) == value


@given(st.sampled_from(ORDERS), st.floats(allow_nan=False, allow_infinity=False))
def test_float64_round_trips_in_every_order(order: str, value: float) -> None:
    assert decode(from_value(value, "float64", order), "float64", order) == value


@given(st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=4), st.sampled_from(ORDERS))
def test_orders_are_their_own_inverse(regs: list[int], order: str) -> None:
    raw = to_bytes(regs, order)
    again = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
    assert to_bytes(again, order) == to_bytes(regs, "ABCD")


def test_strings_scale_offset_and_a_nan() -> None:
    regs = [int.from_bytes(b"BB", "big"), int.from_bytes(b"-1", "big"), 0]
    assert decode(regs, "string") == "BB-1"
    assert engineering(Point(tag="T", dtype="int16", scale=0.1, offset=-5.0), 253.0) == pytest.approx(20.3)
    assert math.isnan(float(decode(from_value(float("nan"), "float32", "CDAB"), "float32", "CDAB")))
    with pytest.raises(ValueError, match="expected 2 registers, got 1"):
        decode([1], "float32")


def test_reads_are_grouped_up_to_the_device_limit_and_split_by_table() -> None:
    pts = [Point(tag=f"H{i}", address=i * 2, dtype="float32") for i in range(100)]  # 200 registers
    pts += [Point(tag="I", table="input", address=0), Point(tag="C", table="coil", address=3, dtype="bool")]
    reads = plan_reads(pts, max_registers=125)
    holding = [r for r in reads if r.table == "holding"]
    assert [(r.address, r.count) for r in holding] == [(0, 124), (124, 76)]
    assert sum(len(r.points) for r in holding) == 100
    assert {r.table for r in reads} == {"holding", "input", "coil"}
    assert len(plan_reads(pts, max_registers=10)) == 20 + 2
    # a hole of more than 8 registers starts a new read; a small one is read through
    far = [Point(tag="a", address=0), Point(tag="b", address=5), Point(tag="c", address=40)]
    assert [(r.address, r.count) for r in plan_reads(far)] == [(0, 6), (40, 1)]
    # the time register of a weighing is read with it
    stamped = [Point(tag="w", address=2, dtype="float32", time_address=4)]
    assert [(r.address, r.count) for r in plan_reads(stamped)] == [(2, 4)]


def test_a_counter_rolls_over_at_its_width_in_engineering_units() -> None:
    assert Point(tag="c", dtype="uint16", scale=0.1).wrap == pytest.approx(6553.6)
    assert Point(tag="c", dtype="uint32").wrap == 2.0**32
    assert Point(tag="c", dtype="int32").wrap is None and Point(tag="c", dtype="float32").wrap is None


@given(
    st.lists(
        st.tuples(st.sampled_from([*sorted(RANGES), "float32", "float64"]), st.sampled_from(ORDERS)),
        min_size=1,
        max_size=12,
    ),
    st.data(),
)
def test_a_whole_read_decodes_as_its_points_one_by_one(layout: list[tuple[str, str]], data: st.DataObject) -> None:
    """decode_read (one pack, unpack_from per point) agrees with decode on every point of a read."""
    points, regs, address = [], [], 0
    for k, (dtype, order) in enumerate(layout):
        p = Point(tag=f"p{k}", address=address, dtype=dtype, order=order)
        value = (
            data.draw(RANGES[dtype])
            if dtype in RANGES
            else data.draw(st.floats(allow_nan=False, width=32 if dtype == "float32" else 64))
        )
        regs += from_value(value, dtype, order)
        points.append(p)
        address += p.registers
    (read,) = plan_reads(points, max_registers=125)
    at_once = decode_read(read, regs)
    for p in points:
        assert at_once[p.tag] == decode(regs[p.address : p.address + p.registers], p.dtype, p.order)
