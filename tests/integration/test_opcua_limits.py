"""Servers with modest limits, lost notifications and a frozen clock: the collector against real
asyncua servers on free ports (tests/integration/limited_server.py enforces what asyncua does not)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from asyncua import Server, ua

from monitor.collectors.health import SERVER_CLOCK_FROZEN, Gap
from monitor.collectors.opcua import ConnState, OpcuaCollector
from monitor.collectors.settings import OpcuaSettings
from monitor.collectors.timestamps import ClockPolicy
from monitor.core.samples import SERVER_CLOCK, Sample
from tests.conftest import free_port
from tests.integration.limited_server import Limits, advertise, carries_value, enforce, lose_publish

URI = "urn:test:limits"
T0 = float(int(time.time()) // 60 * 60 + 120)
TAGS = [f"Unit.Tag{i}" for i in range(9)]
pytestmark = pytest.mark.integration


class Plc:
    """A server with nine Double tags and a String lot id; hooks are applied before it starts."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"opc.tcp://127.0.0.1:{self.port}/t"
        self.server = Server()
        self.nodes: dict[str, ua.NodeId] = {}

    async def start(self, hook: Callable[[Server], Any] | None = None, *, own_clock: bool = False) -> None:
        self.server.iserver.disabled_clock = own_clock  # the test writes CurrentTime itself
        await self.server.init()
        self.server.set_endpoint(self.url)
        self.server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        idx = await self.server.register_namespace(URI)
        obj = await self.server.nodes.objects.add_object(idx, "Unit")
        for name, value in [*((t, 0.0) for t in TAGS), ("Unit.LotId", "")]:
            vt = ua.VariantType.String if isinstance(value, str) else ua.VariantType.Double
            var = await obj.add_variable(ua.NodeId(name, idx), name, value, varianttype=vt)
            self.nodes[name] = var.nodeid
        if hook is not None:
            result = hook(self.server)
            if asyncio.iscoroutine(result):
                await result
        await self.server.start()

    async def write(self, tag: str, value: float | str, ts: float) -> None:
        vt = ua.VariantType.String if isinstance(value, str) else ua.VariantType.Double
        dv = ua.DataValue(ua.Variant(value, vt), SourceTimestamp=datetime.fromtimestamp(ts, UTC))
        await self.server.write_attribute_value(self.nodes[tag], dv)

    async def set_clock(self, ts: float) -> None:
        node = ua.NodeId(ua.ObjectIds.Server_ServerStatus_CurrentTime)
        when = datetime.fromtimestamp(ts, UTC)
        await self.server.write_attribute_value(node, ua.DataValue(ua.Variant(when, ua.VariantType.DateTime)))


@contextlib.asynccontextmanager
async def collecting(
    plc: Plc, tags: list[str], **kw: Any
) -> AsyncIterator[tuple[OpcuaCollector, list[Sample], list[Gap]]]:
    got: list[Sample] = []
    gaps: list[Gap] = []
    # the rig writes a history's timestamps faster than real time: source times are taken as they are
    settings = OpcuaSettings(
        clock=ClockPolicy(align_min_s=1e9),
        endpoint=plc.url,
        publishing_interval_ms=50,
        reconnect_min_s=0.2,
        reconnect_max_s=0.5,
        timeout_s=2,
        **kw,
    )
    col = OpcuaCollector(settings, {t: f"nsu={URI};s={t}" for t in tags}, got.extend, on_gap=gaps.append)
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(col.run())
        try:
            yield col, got, gaps
        finally:
            task.cancel()
            with contextlib.suppress(Exception):
                await plc.server.stop()


async def wait_for(cond: Callable[[], bool], limit_s: float = 15.0) -> None:
    async with asyncio.timeout(limit_s):
        while not cond():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


@pytest.mark.parametrize("advertised", [True, False], ids=["advertised", "only-enforced"])
async def test_four_items_per_call_and_per_subscription_every_tag_is_collected(advertised: bool) -> None:
    limits = Limits(per_call=4, per_subscription=4, per_read=4, advertise=advertised)
    plc = Plc()

    async def hook(server: Server) -> None:
        enforce(server, limits)
        if advertised:
            await advertise(server, limits)

    await plc.start(hook)
    async with collecting(plc, TAGS) as (col, got, _):
        await asyncio.wait_for(col.subscribed.wait(), 15)
        for k, tag in enumerate(TAGS):
            await plc.write(tag, 10.0 * (k + 1), T0 + k)
        await wait_for(lambda: {s.tag for s in got if s.value and s.value != 0.0} >= set(TAGS))
        health = col.health()
    assert health.subscribed_nodes == 9 and health.failed_nodes == 0 and not health.unresolved
    assert health.subscriptions == 3  # 9 tags + CurrentTime, 4 a subscription
    assert health.reconnects == 0 and health.state is ConnState.CONNECTED
    for k, tag in enumerate(TAGS):
        assert any(s.tag == tag and s.value == 10.0 * (k + 1) and s.ts == T0 + k for s in got)
    if advertised:
        assert health.limits.monitored_items_per_call == 4 and health.limits.nodes_per_read == 4
        assert health.limits.monitored_items_per_subscription == 4
        assert limits.refused_calls == []  # sized to the limits: nothing was refused
    else:
        assert any(c.startswith("CreateMonitoredItems") for c in limits.refused_calls)  # learnt by refusal


@pytest.mark.parametrize("forget", [False, True], ids=["republished", "read-back"])
async def test_a_lost_publish_response_never_loses_the_lot_id_change(forget: bool) -> None:
    plc = Plc()
    dropped: list[list[int]] = []  # the server's list of sequence numbers it lost
    await plc.start(lambda server: dropped.append(lose_publish(server, carries_value("LOT-C"), forget=forget)))
    async with collecting(plc, ["Unit.LotId", "Unit.Tag0"]) as (col, got, gaps):
        await asyncio.wait_for(col.subscribed.wait(), 15)
        await plc.write("Unit.LotId", "LOT-B", T0)
        await wait_for(lambda: any(s.value == "LOT-B" for s in got))
        await plc.write("Unit.LotId", "LOT-C", T0 + 60)  # this message never arrives
        await wait_for(lambda: bool(dropped[0]))
        await plc.write("Unit.Tag0", 360.0, T0 + 90)
        await wait_for(lambda: any(s.value == "LOT-C" for s in got) and any(s.value == 360.0 for s in got))
        health = col.health()
    lot_c = [s for s in got if s.value == "LOT-C"]
    assert [s.ts for s in lot_c][:1] == [T0 + 60]  # the change keeps its own time: the lot starts where it did
    assert [s.ts for s in got if s.value == 360.0][:1] == [T0 + 90]  # and the mass after it is LOT-C's
    assert health.reconnects == 0
    if not forget:
        assert health.notifications_republished == 1 and health.notifications_lost == 0
        assert gaps == []
        return
    # Read back: on an idle machine the message counts lost and LOT-C comes back from the read, the gap
    # reaching back to its time. Loaded, LOT-C (and the 360) may come in a later message before the
    # collector learns of the loss, or nothing is lost. Each must give LOT-C at its time (above) and,
    # when a loss was seen, an unrecovered gap that touches LOT-C's lot (from T0 + 60 on, no lot after
    # it), so the lot is flagged collector_gap.
    assert health.notifications_republished == 0 and health.notifications_lost in (0, 1)
    assert len(gaps) == health.notifications_lost == health.unrecovered_gaps
    for gap in gaps:
        assert not gap.recovered and gap.start <= gap.end
        assert gap.end >= T0 + 60, gaps  # the lot LOT-C opened is touched: flagged


async def test_a_frozen_server_clock_is_named_while_values_keep_coming() -> None:
    plc = Plc()
    await plc.start(own_clock=True)
    now = time.time()
    await plc.set_clock(now)
    async with collecting(plc, ["Unit.Tag0"], clock_check_s=0.2, clock_frozen_s=1.0) as (col, got, _):
        await asyncio.wait_for(col.subscribed.wait(), 15)
        for k in range(10):  # an honest clock: ticks with the values
            await plc.set_clock(now + 0.1 * k)
            await plc.write("Unit.Tag0", float(k + 1), now + 0.1 * k)
            await asyncio.sleep(0.1)
        assert not col.health().server_clock_frozen
        k, stopped = 10, time.monotonic()
        while not col.health().server_clock_frozen:  # CurrentTime stops, values keep coming
            k += 1
            await plc.write("Unit.Tag0", float(k), time.time())
            await asyncio.sleep(0.1)  # the PLC's pace, not a wait for an outcome
            assert k < 200, "a clock frozen for 19 s was not named"
        named_after = time.monotonic() - stopped
        health = col.health()
        # while it stands still our clock vouches instead (marked), so the last lot can close on it
        await wait_for(lambda: any(x.tag == SERVER_CLOCK and x.retimed for x in got))
        ours = [x.ts for x in got if x.tag == SERVER_CLOCK and x.retimed]
        assert time.time() - 60.0 < ours[-1] <= time.time()
        await plc.set_clock(time.time())
        await plc.write("Unit.Tag0", float(k + 1), time.time())
        await wait_for(lambda: not col.health().server_clock_frozen)
    assert health.problems == [f"opcua: {SERVER_CLOCK_FROZEN}"]
    # named after its 1 s threshold, not before; then within a few publishing intervals on an idle machine
    # (2-3 s seen), and the bound leaves room for a loaded one (the CurrentTime reads share the loop)
    assert 1.0 <= named_after <= 10.0


async def test_a_refused_subscription_leaves_tags_unresolved_and_the_session_up() -> None:
    limits = Limits(per_call=4, per_subscription=4)
    plc = Plc()

    def hook(server: Server) -> None:
        enforce(server, limits)
        server.iserver.max_subscriptions = 2  # the third CreateSubscription: BadTooManySubscriptions

    await plc.start(hook)
    async with collecting(plc, TAGS) as (col, got, _):
        await asyncio.wait_for(col.subscribed.wait(), 15)
        await plc.write("Unit.Tag0", 5.0, T0)
        await wait_for(lambda: any(s.tag == "Unit.Tag0" and s.value == 5.0 for s in got))
        health = col.health()
    assert health.subscriptions == 2 and health.subscribed_nodes == 6 and health.failed_nodes == 3
    assert sorted(health.unresolved) == TAGS[6:]
    assert all("BadTooManySubscriptions" in why for why in health.unresolved.values())
    assert health.reconnects == 0 and health.state is ConnState.CONNECTED
