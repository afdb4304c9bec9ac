"""The MQTT collector through a real broker (Debian mosquitto): Sparkplug B from a second implementation
(Eclipse Tahu's sparkplug-client, tests/peers/edge-node.js) — births, data by alias with the edge's
timestamps, a sequence gap and an NDEATH (tags stale, rebirth asked and answered), our STATE — and
plain JSON topics with a persistent QoS 1 session that loses nothing while the monitor is away."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import aiomqtt
import pytest

from monitor.collectors.health import Gap
from monitor.collectors.source_settings import MqttPoint, MqttSettings
from monitor.collectors.sparkplug import MqttCollector
from monitor.core.samples import Sample
from monitor.simulator.proxy import TcpRelay
from monitor.simulator.sparkplug_edge import DEVICE, GROUP, METRICS, DryerEdgeNode
from tests.conftest import free_port, until
from tests.sources.peers import mosquitto, node_peer

pytestmark = pytest.mark.integration
T0_MS = 1_800_000_000_000


def latest(got: list[Sample]) -> dict[str, Sample]:
    return {s.tag: s for s in got}


def dryer_points() -> tuple[MqttPoint, ...]:
    return (
        MqttPoint(tag="Dryer.Temp", metric="Temp", device="Dryer"),
        MqttPoint(tag="Dryer.Total", metric="Total", device="Dryer", scale=0.5),
        MqttPoint(tag="Dryer.Mode", metric="Mode", device="Dryer"),
        MqttPoint(tag="Dryer.Running", metric="Running", device="Dryer"),
    )


async def wait(cond: Callable[[], bool]) -> None:
    await asyncio.wait_for(until(cond), 30)


async def test_sparkplug_from_tahu_births_aliases_gaps_and_death(tmp_path: Path) -> None:
    async with mosquitto(tmp_path) as port:
        broker = f"mqtt://127.0.0.1:{port}"
        s = MqttSettings(
            broker=broker, group="G1", edge_node="N1", host_id="bm-test", client_id="bm-test-1",
            points=dryer_points(), reconnect_min_s=0.05,
        )  # fmt: skip
        got: list[Sample] = []
        gaps: list[Gap] = []
        c = MqttCollector(s, got.extend, source="uns", on_gap=gaps.append)
        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(c.run())
            await asyncio.wait_for(c.connected.wait(), 30)
            async with node_peer("edge-node.js", "sparkplug-client", broker, "G1", "N1", "Dryer") as edge:
                await wait(lambda: {"Dryer.Temp", "Dryer.Mode", "Dryer.Running"} <= latest(got).keys())
                now = latest(got)
                assert (now["Dryer.Temp"].value, now["Dryer.Mode"].value, now["Dryer.Running"].value) == (
                    20.0,
                    "idle",
                    0.0,
                )
                assert len(c.aliases) == 4
                await edge.send({"data": {"Temp": 81.5, "Total": -5, "Running": True}, "ts": T0_MS})
                await wait(lambda: latest(got)["Dryer.Temp"].value == 81.5)
                now = latest(got)
                assert now["Dryer.Temp"].ts == T0_MS / 1000  # the edge node's clock, not ours
                assert now["Dryer.Total"].value == -2.5  # a signed Int32, scaled
                assert now["Dryer.Running"].value == 1.0
                # a lost message: the next seq jumps; tags go stale, a rebirth is asked and answered
                asked = c.rebirths
                await edge.send({"skip": 1})
                await edge.send({"data": {"Temp": 82.0}, "ts": T0_MS + 1000})
                await asyncio.wait_for(edge.line("rebirth"), 30)
                assert c.rebirths == asked + 1
                await wait(lambda: not c.stale and latest(got)["Dryer.Temp"].value == 82.0)
                assert latest(got)["Dryer.Temp"].ts == T0_MS / 1000 + 1  # the birth carries the value missed
                assert len(gaps) == 1 and not gaps[0].recovered
                # the node dies (NDEATH): every tag stale and named; a new session brings them back
                await edge.send({"die": True})
                await wait(lambda: len(c.stale) == 4)
                assert set(c.health().unresolved.values()) == {"node death (NDEATH)"}
                await edge.send({"revive": True})
                await wait(lambda: not c.stale)
                assert c.health().gaps == 2
            # our STATE (Sparkplug 3.0): retained, online while we run
            async with aiomqtt.Client("127.0.0.1", port) as sub:
                await sub.subscribe("spBv1.0/STATE/bm-test", qos=1)
                msg = await asyncio.wait_for(anext(aiter(sub.messages)), 10)
                assert json.loads(bytes(msg.payload))["online"] is True  # type: ignore[arg-type]
            task.cancel()


async def test_json_topics_with_a_persistent_session_lose_nothing_while_away(tmp_path: Path) -> None:
    async with mosquitto(tmp_path) as port:
        topic = "plant/line1/feed/totalizer"
        s = MqttSettings(
            broker=f"mqtt://127.0.0.1:{port}", kind="mqtt", client_id="bm-json",
            points=(MqttPoint(tag="Feed.Totalizer", topic=topic),), reconnect_min_s=0.05,
        )  # fmt: skip
        got: list[Sample] = []
        async with aiomqtt.Client("127.0.0.1", port, identifier="plant-publisher") as pub:
            for round_ in range(2):  # the monitor runs, goes away while values are published, comes back
                c = MqttCollector(s, got.extend, source="feed")
                async with asyncio.TaskGroup() as tg:
                    task = tg.create_task(c.run())
                    await asyncio.wait_for(c.connected.wait(), 30)
                    body = {"value": 1000.0 + round_, "ts": 1_800_000_000.5 + round_}
                    await pub.publish(topic, json.dumps(body), qos=1)
                    await wait(lambda v=body["value"]: any(x.value == v for x in got))
                    task.cancel()
                if round_ == 0:
                    for k in range(3):
                        await pub.publish(topic, json.dumps({"value": 1100.0 + k, "ts": T0_MS + k}), qos=1)
        values = [x.value for x in got]
        assert values == [1000.0, 1100.0, 1101.0, 1102.0, 1001.0]  # queued for us by the broker, in order
        assert [x.ts for x in got][1:4] == [1_800_000_000.0, 1_800_000_000.001, 1_800_000_000.002]  # ms read as ms


async def test_a_broker_with_users_takes_the_password_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with mosquitto(tmp_path, users={"blackmass": "s3cret-pw"}) as port:
        topic = "plant/line1/dryer/temp"
        s = MqttSettings(
            broker=f"mqtt://127.0.0.1:{port}", kind="mqtt", username="blackmass", client_id="bm-auth",
            points=(MqttPoint(tag="Dryer.Temp", topic=topic),), reconnect_min_s=0.05, reconnect_max_s=0.1,
        )  # fmt: skip
        monkeypatch.setenv("BLACKMASS_MQTT_PASSWORD", "wrong")
        refused = MqttCollector(s, lambda _: None, source="dryer")
        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(refused.run())
            await wait(lambda: refused.reconnects >= 2)
            task.cancel()
        assert refused.last_error is not None and "authori" in refused.last_error.lower()
        assert "wrong" not in refused.last_error  # the password is never in an error
        monkeypatch.setenv("BLACKMASS_MQTT_PASSWORD", "s3cret-pw")
        got: list[Sample] = []
        c = MqttCollector(s, got.extend, source="dryer")
        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(c.run())
            await asyncio.wait_for(c.connected.wait(), 30)
            async with aiomqtt.Client("127.0.0.1", port, username="blackmass", password="s3cret-pw") as pub:
                await pub.publish(topic, "93.5", qos=1)
            await wait(lambda: bool(got))
            task.cancel()
        assert got[0].value == 93.5


async def test_our_connection_cut_loses_nothing_the_broker_kept(tmp_path: Path) -> None:
    """The monitor's link to the broker cut while the edge node (the simulator's, QoS 1) publishes on:
    the persistent session hands over every DDATA in order when we are back, no rebirth, no gap."""
    async with mosquitto(tmp_path) as port:
        relay_port = free_port()
        relay = TcpRelay("127.0.0.1", relay_port, port)
        await relay.start()
        edge = DryerEdgeNode(f"mqtt://127.0.0.1:{port}", "L7-edge")
        points = tuple(MqttPoint(tag=t, metric=m, device=DEVICE) for t, m in METRICS.items())
        s = MqttSettings(broker=f"mqtt://127.0.0.1:{relay_port}", group=GROUP, edge_node="L7-edge",
                         client_id="bm-cut", points=points, reconnect_min_s=0.05, reconnect_max_s=0.2)  # fmt: skip
        got: list[Sample] = []
        c = MqttCollector(s, got.extend, source="dryer")
        async with asyncio.TaskGroup() as tg:
            node = tg.create_task(edge.run())
            task = tg.create_task(c.run())
            await asyncio.wait_for(edge.connected.wait(), 30)
            await asyncio.wait_for(c.connected.wait(), 30)
            await edge.publish(T0_MS / 1000, {"Dryer.CondensateTotalizer": 0.0})
            await wait(lambda: any(x.tag == "Dryer.CondensateTotalizer" for x in got))
            relay.cut()  # our side only: the edge node and the broker go on
            await wait(lambda: not c.connected.is_set())
            for k in range(1, 21):
                await edge.publish(T0_MS / 1000 + k, {"Dryer.CondensateTotalizer": float(k)})
            relay.restore()
            await wait(lambda: any(x.value == 20.0 for x in got))
            node.cancel()
            task.cancel()
        await relay.stop()
    totals = [(x.ts - T0_MS / 1000, x.value) for x in got if x.tag == "Dryer.CondensateTotalizer"]
    assert totals[-21:] == [(float(k), float(k)) for k in range(21)]  # all, in order, on the edge's clock
    assert c.reconnects >= 1 and c.rebirths == 1 and c.gap_count == 0 and not c.stale  # the one at start only
    assert c.session_kept is True  # the CONNACK said so: nothing lost, nothing flagged


async def test_a_broker_that_lost_our_session_is_a_gap(tmp_path: Path) -> None:
    """The broker restarts without persistence while we are away: its CONNACK says "no session
    present", so what was published meanwhile is gone — the span since our link went down is a gap
    (where a broker that kept the session, above, hands everything over and no gap is flagged)."""
    topic = "plant/line1/dryer/condensate"
    port = free_port()
    s = MqttSettings(broker=f"mqtt://127.0.0.1:{port}", kind="mqtt", client_id="bm-lost",
                     points=(MqttPoint(tag="Dryer.CondensateTotalizer", topic=topic),),
                     reconnect_min_s=0.05, reconnect_max_s=0.2)  # fmt: skip
    got: list[Sample] = []
    gaps: list[Gap] = []
    c = MqttCollector(s, got.extend, source="dryer", on_gap=gaps.append)
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(c.run())
        async with mosquitto(tmp_path, port=port):
            await asyncio.wait_for(c.connected.wait(), 30)
            async with aiomqtt.Client("127.0.0.1", port, identifier="plant-a") as pub:
                await pub.publish(topic, json.dumps({"value": 1.0, "ts": 1_800_000_000}), qos=1)
                await wait(lambda: len(got) == 1)
        await wait(lambda: not c.connected.is_set())
        first_session, down_at = c.session_kept, c.health().reconnects
        async with mosquitto(tmp_path, port=port):
            await asyncio.wait_for(c.connected.wait(), 30)
            task.cancel()
    assert first_session is False and down_at >= 1  # a new broker: no session the first time either
    assert c.session_kept is False and c.gap_count == 1
    assert len(gaps) == 1 and gaps[0].end > gaps[0].start and not gaps[0].recovered
