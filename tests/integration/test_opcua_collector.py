"""The OPC-UA collector against real asyncua servers on free localhost ports."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest
from asyncua import Server, ua

from monitor.collectors.opcua import ConnState, OpcuaCollector
from monitor.collectors.settings import OpcuaSettings
from monitor.collectors.timestamps import ClockPolicy
from monitor.core.samples import Quality, Sample
from tests.conftest import free_port

URI = "urn:test:plant"
# source times near now: a stamp more than a day ahead of the server's clock is not believed
T0 = float(int(time.time()) // 60 * 60 + 120)  # after the nodes' initial values (stamped now)
pytestmark = pytest.mark.integration


class Rig:
    """A small server with two variables in our namespace, optionally behind a decoy namespace."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"opc.tcp://127.0.0.1:{port}/t"
        self.server: Server | None = None
        self.nodes: dict[str, ua.NodeId] = {}

    async def start(self, *, decoys: int = 0) -> None:
        server = Server()
        await server.init()
        server.set_endpoint(self.url)
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        for i in range(decoys):  # moves our namespace to another index
            await server.register_namespace(f"urn:test:decoy{i}")
        idx = await server.register_namespace(URI)
        obj = await server.nodes.objects.add_object(idx, "Feed")
        for name, value in (("Feed.Totalizer", 0.0), ("Feed.LotId", "")):
            vt = ua.VariantType.String if isinstance(value, str) else ua.VariantType.Double
            var = await obj.add_variable(ua.NodeId(name, idx), name, value, varianttype=vt)
            self.nodes[name] = var.nodeid
        await server.start()
        self.server = server

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
            self.server = None

    async def write(self, tag: str, value: float | str, ts: float, status: int = 0) -> None:
        assert self.server is not None
        vt = ua.VariantType.String if isinstance(value, str) else ua.VariantType.Double
        await self.server.write_attribute_value(
            self.nodes[tag],
            ua.DataValue(
                ua.Variant(value, vt),
                StatusCode=ua.StatusCode(status),
                # the values are written ahead of time: an exact server stamps them with the same time
                # (without a server timestamp the collector would rightly learn the source clock as skewed)
                SourceTimestamp=datetime.fromtimestamp(ts, UTC),
                ServerTimestamp=datetime.fromtimestamp(ts, UTC),
            ),
        )


@contextlib.asynccontextmanager
async def collecting(tags: dict[str, str], port: int) -> AsyncIterator[tuple[OpcuaCollector, list[Sample]]]:
    got: list[Sample] = []
    # the rig writes a history's timestamps faster than real time: source times are taken as they are
    settings = OpcuaSettings(
        clock=ClockPolicy(align_min_s=1e9),
        endpoint=f"opc.tcp://127.0.0.1:{port}/t",
        namespace_uri=URI,
        publishing_interval_ms=50,
        reconnect_min_s=0.2,
        reconnect_max_s=0.5,
        timeout_s=2,
    )
    col = OpcuaCollector(settings, tags, got.extend)
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(col.run())
        try:
            yield col, got
        finally:
            task.cancel()


LIMIT_S = 30.0  # bounds a hang on a loaded machine; every wait is on a condition
TAGS = {"Feed.Totalizer": f"nsu={URI};s=Feed.Totalizer", "Feed.LotId": f"nsu={URI};s=Feed.LotId"}


async def wait_for(cond: Callable[[], bool], limit_s: float = LIMIT_S) -> None:
    """Poll a condition on objects the test does not own (no event to wait on)."""
    async with asyncio.timeout(limit_s):
        while not cond():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def test_source_timestamps_values_and_quality() -> None:
    rig = Rig(free_port())
    await rig.start()
    try:
        async with collecting(TAGS, rig.port) as (col, got):
            await col.subscribed.wait()
            await rig.write("Feed.LotId", "L1-00001", T0)
            for k in range(1, 4):
                await rig.write("Feed.Totalizer", 100.0 * k, T0 + 60 * k)
            await rig.write("Feed.Totalizer", 400.0, T0 + 240, status=0x40000000)  # Uncertain
            await rig.write("Feed.Totalizer", 0.0, T0 + 300, status=0x80000000)  # Bad
            await wait_for(lambda: sum(s.tag == "Feed.Totalizer" for s in got) >= 6)
    finally:
        await rig.stop()
    tot = [s for s in got if s.tag == "Feed.Totalizer"][1:]  # the first is the initial value
    assert [(s.ts, s.value, s.quality) for s in tot[:3]] == [
        (T0 + 60, 100.0, Quality.GOOD),
        (T0 + 120, 200.0, Quality.GOOD),
        (T0 + 180, 300.0, Quality.GOOD),
    ]
    assert tot[3].quality is Quality.UNCERTAIN and tot[3].status == 0x40000000
    assert tot[4].quality is Quality.BAD and tot[4].value is None
    assert any(s.value == "L1-00001" and s.ts == T0 for s in got)
    assert col.samples["good"] >= 5 and col.samples["uncertain"] == 1 and col.samples["bad"] == 1
    # the server's revised sampling interval is kept (a counter's increment happened within it)
    assert set(col.revised_ms) >= {"Feed.Totalizer", "Feed.LotId"}
    assert all(ms >= 0 for ms in col.revised_ms.values())


async def test_equal_values_with_new_timestamps_are_all_delivered() -> None:
    """Two bags of the same weight in a row must both arrive (trigger StatusValueTimestamp)."""
    rig = Rig(free_port())
    await rig.start()
    try:
        async with collecting(TAGS, rig.port) as (col, got):
            await col.subscribed.wait()
            for k in range(5):
                await rig.write("Feed.Totalizer", 800.0, T0 + k)
            await wait_for(lambda: sum(s.value == 800.0 for s in got) >= 5)
    finally:
        await rig.stop()
    assert sorted(s.ts for s in got if s.value == 800.0) == [T0 + k for k in range(5)]


async def test_one_bad_node_does_not_fail_the_rest() -> None:
    rig = Rig(free_port())
    await rig.start()
    tags = {**TAGS, "Ghost": f"nsu={URI};s=No.Such.Node", "Alien": "nsu=urn:nowhere;s=X"}
    try:
        async with collecting(tags, rig.port) as (col, got):
            await col.subscribed.wait()
            await rig.write("Feed.Totalizer", 5.0, T0)
            await wait_for(lambda: any(s.value == 5.0 for s in got))
            assert col.failed_nodes == 2 and col.subscribed_nodes == 2
            assert col.state is ConnState.CONNECTED
    finally:
        await rig.stop()


async def test_unreachable_at_start_then_server_restart_with_reordered_namespaces() -> None:
    port = free_port()
    rig = Rig(port)
    async with collecting(TAGS, port) as (col, got):
        # nobody listening: the collector tries, fails, backs off to try again, and does not die
        await wait_for(lambda: col.state is ConnState.BACKOFF)
        assert not col.subscribed.is_set()
        await rig.start()
        await asyncio.wait_for(col.subscribed.wait(), LIMIT_S)
        await rig.write("Feed.Totalizer", 1.0, T0)
        await wait_for(lambda: any(s.value == 1.0 for s in got))
        await rig.stop()
        await wait_for(lambda: col.state is not ConnState.CONNECTED)
        rig2 = Rig(port)
        await rig2.start(decoys=2)  # our namespace index moves from 2 to 4
        try:
            await wait_for(lambda: col.state is ConnState.CONNECTED, limit_s=LIMIT_S)
            await rig2.write("Feed.Totalizer", 2.0, T0 + 60)
            await wait_for(lambda: any(s.value == 2.0 for s in got))
        finally:
            await rig2.stop()
    assert col.reconnects >= 1
    assert col.failed_nodes == 0
