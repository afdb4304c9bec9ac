"""`blackmass check-config FILE --probe`: every tag of every source checked live, once.

OPC-UA sources go through the OPC-UA probe (runs/probe.py); a Modbus device is polled once (each
point's value, or the device's exception code); an MQTT broker is subscribed to for a while: a
Sparkplug edge node is asked to rebirth and its births say which metrics exist, a JSON topic must
carry a message (a retained one, or one published meanwhile).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, replace

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from monitor.collectors.modbus import ModbusCollector
from monitor.collectors.source_settings import ModbusSettings, MqttSettings
from monitor.collectors.sparkplug import MqttCollector
from monitor.core.samples import Quality, Sample
from monitor.errors import CollectorError

LISTEN_S = 10.0  # how long an MQTT source is listened to for births and messages


@dataclass(frozen=True, slots=True)
class PointCheck:
    source: str
    tag: str
    value: str = ""
    problem: str = ""  # empty: read fine


async def probe_modbus(name: str, s: ModbusSettings) -> list[PointCheck]:
    """One poll of every point; a device that does not answer is one problem for every point."""
    got: list[Sample] = []
    collector = ModbusCollector(s, got.extend, source=name)
    client = AsyncModbusTcpClient(s.host, port=s.port, timeout=s.timeout_s, retries=0)
    try:
        if not await client.connect():
            raise CollectorError(f"no connection to {s.host}:{s.port}")
        await collector.poll_once(client, list(collector.reads))
    except (CollectorError, ModbusException, OSError, TimeoutError) as exc:
        return [PointCheck(name, p.tag, problem=f"device {s.host}:{s.port}: {exc}") for p in s.points]
    finally:
        client.close()
    values = {x.tag: x for x in got}
    out = []
    for p in s.points:
        sample = values.get(p.tag)
        if p.tag in collector.bad or sample is None or sample.quality is not Quality.GOOD:
            out.append(PointCheck(name, p.tag, problem=collector.bad.get(p.tag, "no value")))
        else:
            out.append(PointCheck(name, p.tag, value=str(sample.value)))
    return out


async def probe_mqtt(name: str, s: MqttSettings, listen_s: float = LISTEN_S) -> list[PointCheck]:
    """Listen for `listen_s`: each point's metric in a birth (or a message on its topic), with a value."""
    got: list[Sample] = []
    # a client id and host id of its own: the running service's session and STATE are left alone
    mine = replace(s, client_id=f"{s.client_id or 'blackmass'}-probe", host_id=f"{s.host_id}-probe")
    collector = MqttCollector(mine, got.extend, source=name)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(listen_s):
            await collector.run()
    values = {x.tag: x for x in got}
    known = {p.tag for p in collector.aliases.values()}
    out = []
    for p in s.points:
        if p.tag in values:
            out.append(PointCheck(name, p.tag, value=str(values[p.tag].value)))
        elif collector.last_error and collector.state.value != "connected":
            out.append(PointCheck(name, p.tag, problem=collector.last_error))
        elif s.kind == "sparkplug" and p.tag not in known:
            where = f"{s.group}/{s.edge_node}" + (f"/{p.device}" if p.device else "")
            out.append(
                PointCheck(name, p.tag, problem=f"missing: no metric {p.metric or p.tag!r} in the births of {where}")
            )
        else:
            why = "in a birth but without a value" if p.tag in known else f"no message on {p.topic!r}"
            out.append(PointCheck(name, p.tag, problem=f"{why} within {listen_s:g} s"))
    return out
