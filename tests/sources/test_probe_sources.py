"""check-config --probe for the non-OPC-UA sources: a Modbus device polled once (npm modbus-serial: a
value, and a refused address with its code), a Sparkplug edge node's births (the simulator's dryer,
through mosquitto) naming the metric that is not there."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from monitor.collectors.modbus_decode import Point
from monitor.collectors.source_settings import ModbusSettings, MqttPoint, MqttSettings
from monitor.runs.probe_sources import probe_modbus, probe_mqtt
from monitor.simulator.modbus_face import words
from monitor.simulator.sparkplug_edge import DEVICE, GROUP, DryerEdgeNode
from tests.conftest import free_port
from tests.sources.peers import mosquitto, node_peer

pytestmark = pytest.mark.integration


async def test_probe_polls_a_modbus_device_once() -> None:
    port = free_port()
    async with node_peer("modbus-server.js", "modbus-serial", str(port)) as dev:
        await dev.send({"table": "holding", "address": 0, "values": words(812.5, "f", "CDAB")})
        await dev.send({"refuse": [10, 11]})
        points = (Point(tag="net", address=0, dtype="float32", order="CDAB"), Point(tag="gone", address=10))
        checks = await probe_modbus("bagging", ModbusSettings(host="127.0.0.1", port=port, points=points))
    assert [(c.tag, c.value, c.problem) for c in checks] == [
        ("net", "812.5", ""),
        ("gone", "", "exception 2 (illegal data address)"),
    ]
    away = await probe_modbus(
        "bagging", ModbusSettings(host="127.0.0.1", port=free_port(), timeout_s=0.5, points=points)
    )
    assert all("no connection" in c.problem for c in away)


async def test_probe_names_a_sparkplug_metric_missing_from_the_births(tmp_path: Path) -> None:
    async with mosquitto(tmp_path) as port:
        broker = f"mqtt://127.0.0.1:{port}"
        edge = DryerEdgeNode(broker, "L9-edge")
        await edge.publish(time.time(), {"Dryer.ProductTemp": 84.0})
        points = (
            MqttPoint(tag="Dryer.ProductTemp", metric="Dryer/ProductTemperature", device=DEVICE),
            MqttPoint(tag="Dryer.Torque", metric="Dryer/Torque", device=DEVICE),
        )
        s = MqttSettings(broker=broker, group=GROUP, edge_node="L9-edge", points=points)
        async with asyncio.TaskGroup() as tg:
            node = tg.create_task(edge.run())
            checks = await probe_mqtt("uns", s, listen_s=3.0)
            node.cancel()
    assert checks[0].value == "84.0" and not checks[0].problem
    assert checks[1].problem == "missing: no metric 'Dryer/Torque' in the births of blackmass/L9-edge/Dryer"
