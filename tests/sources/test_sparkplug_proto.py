"""Sparkplug B payload decoding against the simulator's own encoder (a separate implementation), signed
types in two's complement, a truncated payload refused, and our rebirth request."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.collectors.sparkplug_proto import DecodeError, decode_payload, fields, rebirth_request
from monitor.simulator.sparkplug_edge import BOOLEAN, DOUBLE, INT64, metric, payload


@given(st.floats(allow_nan=False), st.integers(0, 2**40), st.integers(0, 255))
def test_doubles_with_timestamps_and_seq(value: float, ts_ms: int, seq: int) -> None:
    p = decode_payload(payload(ts_ms, [metric(alias=3, ts_ms=ts_ms, dtype=DOUBLE, value=value)], seq))
    assert (p.timestamp_ms, p.seq) == (ts_ms, seq)
    (m,) = p.metrics
    assert (m.alias, m.timestamp_ms, m.datatype, m.value, m.name) == (3, ts_ms, DOUBLE, value, None)


@given(st.integers(-(2**63), 2**63 - 1))
def test_int64_is_twos_complement(value: int) -> None:
    (m,) = decode_payload(payload(0, [metric(name="x", ts_ms=0, dtype=INT64, value=value)], 0)).metrics
    assert m.value == float(value)


def test_int_value_widths_bool_null_and_string() -> None:
    def field(num: int, wire: int, body: bytes) -> bytes:
        key = bytes([num << 3 | wire])
        return key + (bytes([len(body)]) + body if wire == 2 else body)

    int16 = field(4, 0, b"\x02") + field(10, 0, b"\xff\xff\x03")  # Int16, 0xFFFF = -1
    uint32 = field(4, 0, b"\x07") + field(10, 0, b"\xff\xff\xff\xff\x0f")  # UInt32 4294967295
    text = field(1, 2, b"Mode") + field(4, 0, b"\x0c") + field(15, 2, b"drying")
    flt = field(4, 0, b"\x09") + field(12, 5, struct.pack("<f", 1.5))
    buf = b"".join(field(2, 2, m) for m in (int16, uint32, text, flt))
    buf += field(2, 2, metric(name="B", ts_ms=1, dtype=BOOLEAN, value=True))
    buf += field(2, 2, metric(name="N", ts_ms=1, dtype=DOUBLE, value=None))
    values = [m.value for m in decode_payload(buf).metrics]
    assert values == [-1.0, 4294967295.0, "drying", 1.5, 1.0, None]


def test_truncated_payloads_are_refused() -> None:
    good = payload(5, [metric(name="abc", ts_ms=5, dtype=DOUBLE, value=2.0)], 1)
    for cut in (3, 8, len(good) - 12):
        with pytest.raises(DecodeError):
            decode_payload(good[:cut])


def test_rebirth_request_is_node_control_rebirth_true() -> None:
    p = decode_payload(rebirth_request(1_800_000_000_000))
    (m,) = p.metrics
    assert (m.name, m.datatype, m.value, p.timestamp_ms) == ("Node Control/Rebirth", BOOLEAN, 1.0, 1_800_000_000_000)
    assert [f[0] for f in fields(rebirth_request(1))] == [1, 2]


async def test_an_older_sessions_death_does_not_kill_the_current_one() -> None:
    """NDEATH carries the bdSeq of the session it ends: a late will of an earlier session is ignored."""
    from monitor.collectors.source_settings import MqttPoint, MqttSettings  # noqa: PLC0415
    from monitor.collectors.sparkplug import MqttCollector  # noqa: PLC0415

    s = MqttSettings(broker="mqtt://127.0.0.1:1", group="g", edge_node="n", points=(MqttPoint(tag="T", metric="T"),))
    c = MqttCollector(s, lambda _: None)

    def bd(seq: int) -> bytes:
        return payload(0, [metric(name="bdSeq", ts_ms=0, dtype=INT64, value=seq)], None)

    birth = payload(
        0,
        [
            metric(name="bdSeq", ts_ms=0, dtype=INT64, value=7),
            metric(name="T", alias=1, ts_ms=0, dtype=DOUBLE, value=1.0),
        ],
        0,
    )
    await c.handle("spBv1.0/g/NBIRTH/n", birth)
    await c.handle("spBv1.0/g/NDEATH/n", bd(6))
    assert c.stale == {} and c.seq == 1
    await c.handle("spBv1.0/g/NDEATH/n", bd(7))
    assert c.stale == {"T": "node death (NDEATH)"} and c.seq is None
