"""The Modbus collector against a second implementation (npm modbus-serial, tests/peers/modbus-server.js):
every data type in the four orders, scale/offset, coils and input registers, a refused address (that
tag Bad with the code, the others go on), a busy device, and the device going away and coming back
(backoff, then a gap the engine can flag)."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

import pytest

from monitor.collectors.health import ConnState, Gap
from monitor.collectors.modbus import ModbusCollector
from monitor.collectors.modbus_decode import Point
from monitor.collectors.source_settings import ModbusSettings
from monitor.core.samples import SOURCE_CLOCK, Quality, Sample
from monitor.simulator.modbus_face import words  # the simulator's own packing, not the monitor's
from tests.conftest import free_port, until
from tests.sources.peers import node_peer

pytestmark = pytest.mark.integration

POINTS = (
    Point(tag="f32_abcd", address=0, dtype="float32", order="ABCD"),
    Point(tag="i32_cdab", address=2, dtype="int32", order="CDAB"),
    Point(tag="u32_badc", address=4, dtype="uint32", order="BADC"),
    Point(tag="f32_dcba", address=6, dtype="float32", order="DCBA"),
    Point(tag="f64_cdab", address=8, dtype="float64", order="CDAB"),
    Point(tag="i16_scaled", address=12, dtype="int16", scale=0.1, offset=-5.0),
    Point(tag="u16", address=13, dtype="uint16"),
    Point(tag="near_refused", address=20, dtype="uint16"),
    Point(tag="refused", address=24, dtype="uint16"),
    Point(tag="input", table="input", address=3, dtype="uint16"),
    Point(tag="coil", table="coil", address=5, dtype="bool"),
)
HOLDING = {
    0: words(12.5, "f", "ABCD"),
    2: words(-123456, "i", "CDAB"),
    4: words(3_000_000_000, "I", "BADC"),
    6: words(-7.25, "f", "DCBA"),
    8: words(1234.5678, "d", "CDAB"),
    12: words(253, "h", "ABCD"),
    13: [65535],
    20: [7],
}
EXPECTED = {
    "f32_abcd": 12.5,
    "i32_cdab": -123456.0,
    "u32_badc": 3_000_000_000.0,
    "f32_dcba": -7.25,
    "f64_cdab": 1234.5678,
    "i16_scaled": 20.3,
    "u16": 65535.0,
    "near_refused": 7.0,
    "input": 4321.0,
    "coil": 1.0,
}


def latest(got: list[Sample]) -> dict[str, Sample]:
    return {s.tag: s for s in got}


async def test_types_orders_exceptions_and_a_busy_device(tmp_path: Path) -> None:
    port = free_port()
    async with node_peer("modbus-server.js", "modbus-serial", str(port)) as dev:
        for address, regs in HOLDING.items():
            await dev.send({"table": "holding", "address": address, "values": regs})
        await dev.send({"table": "input", "address": 3, "values": [4321]})
        await dev.send({"table": "coil", "address": 5, "values": [1]})
        await dev.send({"refuse": [24, 26]})
        settings = ModbusSettings(host="127.0.0.1", port=port, poll_interval_ms=20, timeout_s=2.0, points=POINTS)
        got: list[Sample] = []
        c = ModbusCollector(settings, got.extend, source="scale")
        assert len(c.reads) == 3  # holding 0-24 in one request, input, coil
        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(c.run())
            t0 = time.time()
            await asyncio.wait_for(until(lambda: c.polls >= 2), 30)
            now = latest(got)
            for tag, value in EXPECTED.items():
                assert now[tag].value == pytest.approx(value, rel=1e-9), tag
                assert now[tag].quality is Quality.GOOD
                assert t0 - 1 <= now[tag].ts <= time.time()  # a register has no time: the poll's
            assert now["refused"].quality is Quality.BAD and now["refused"].status & 0xFF == 2
            assert c.health().unresolved == {"refused": "exception 2 (illegal data address)"}
            assert len(c.health().unresolved) == c.health().failed_nodes == 1
            # the group the device refused is read point by point from then on, the others unharmed
            n_before = len(got)
            await dev.send({"table": "holding", "address": 13, "values": [42]})
            await asyncio.wait_for(until(lambda: latest(got)["u16"].value == 42.0), 30)
            values = [x for x in got[n_before:] if x.tag != SOURCE_CLOCK]
            assert len(values) == 1  # report by exception: only the changed value
            ticks = [x.ts for x in got if x.tag == SOURCE_CLOCK]  # and every poll's time: the source's watermark
            assert len(ticks) >= c.polls - 1 and ticks == sorted(ticks) and ticks[-1] >= values[0].ts
            await dev.send({"busy": True})
            await asyncio.wait_for(until(lambda: len(c.bad) == len(POINTS)), 30)
            assert set(c.bad.values()) == {"exception 6 (server device busy)"}
            assert c.state is ConnState.CONNECTED  # a busy device is no lost connection
            await dev.send({"busy": False})
            await asyncio.wait_for(until(lambda: c.bad == {"refused": "exception 2 (illegal data address)"}), 30)
            assert latest(got)["f64_cdab"].quality is Quality.GOOD  # recovered values are sent again
            task.cancel()


async def test_device_away_backs_off_and_leaves_a_gap(tmp_path: Path) -> None:
    port = free_port()
    settings = ModbusSettings(
        host="127.0.0.1", port=port, poll_interval_ms=20, timeout_s=0.5, points=POINTS[:2],
        reconnect_min_s=0.05, reconnect_max_s=0.4,
    )  # fmt: skip
    got: list[Sample] = []
    gaps: list[Gap] = []
    c = ModbusCollector(settings, got.extend, source="scale", on_gap=gaps.append)
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(c.run())
        async with node_peer("modbus-server.js", "modbus-serial", str(port)) as dev:
            await dev.send({"table": "holding", "address": 0, "values": words(1.5, "f", "ABCD")})
            await asyncio.wait_for(until(lambda: c.polls >= 2), 30)
        # the device is gone: the session ends, retries back off, nothing else stops
        await asyncio.wait_for(until(lambda: c.reconnects >= 4), 30)
        assert c.last_error is not None  # (its state at this instant is a race: a retry may be connecting)
        polls = c.polls
        async with node_peer("modbus-server.js", "modbus-serial", str(port)) as dev:
            await dev.send({"table": "holding", "address": 0, "values": words(2.5, "f", "ABCD")})
            await asyncio.wait_for(until(lambda: c.polls > polls and latest(got)["f32_abcd"].value == 2.5), 30)
            assert c.state is ConnState.CONNECTED
        task.cancel()
    # the outage, told as it went on (each retry) and when the device was back: none recovered, never
    # overlapping (nothing flagged twice), each report of one outage starting where the last ended. A peer
    # that dies slowly may answer one more poll first: that starts a second outage, still in order.
    assert len(gaps) >= 2 and not any(g.recovered for g in gaps)
    assert all(a.end <= b.start for a, b in itertools.pairwise(gaps))
    assert sum(a.end != b.start for a, b in itertools.pairwise(gaps)) == c.gap_count - 1
    assert c.health().gaps == c.health().unrecovered_gaps == c.gap_count >= 1  # each outage counted once
