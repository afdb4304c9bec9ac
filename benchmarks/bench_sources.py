"""What the Modbus and Sparkplug collectors cost over a bare client loop doing the same reads (issue 22).

- modbus: 500 holding registers (250 float32 points) from the simulator's own Modbus TCP server (in
  its own process): our ModbusCollector (grouped reads, decoding, change detection, samples) against
  a bare pymodbus loop reading the same four requests and unpacking the floats. Both poll as fast as
  they can for SECONDS; the figure is CPU seconds of this process per poll. The issue's load (every
  500 ms) costs far less than one core either way; the ratio is what counts.
- sparkplug: an edge node in its own process publishes DDATA of 50 metrics by alias through a real
  mosquitto at 100 messages/s (5,000 metrics/s); our MqttCollector (aliases, seq check, samples)
  against a bare aiomqtt loop receiving the same messages and decoding them with the same protobuf
  reader. CPU seconds of this process per 1,000 metrics.

Writes benchmarks/results.json["sources"]. Needs Debian mosquitto.
"""

from __future__ import annotations

import asyncio
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiomqtt
from pymodbus.client import AsyncModbusTcpClient

from common import ROOT, record  # isort: skip

from monitor.collectors.modbus import ModbusCollector
from monitor.collectors.modbus_decode import Point
from monitor.collectors.source_settings import ModbusSettings, MqttPoint, MqttSettings
from monitor.collectors.sparkplug import MqttCollector
from monitor.collectors.sparkplug_proto import decode_payload
from monitor.simulator.server import free_port

SECONDS = 8.0
REGISTERS = 500
METRICS, RATE = 50, 100  # per message, messages/s

MODBUS_SERVER = """
import asyncio, random, sys
from monitor.simulator.modbus_face import ScaleTerminal
async def main():
    t = ScaleTerminal("127.0.0.1", int(sys.argv[1]), size=1000)
    await t.start()
    while True:  # values change all the time: every poll has news
        t.holding[:500] = [random.randrange(65536) for _ in range(500)]
        await asyncio.sleep(0.01)
asyncio.run(main())
"""
EDGE = """
import asyncio, sys, time
import aiomqtt
from monitor.simulator.sparkplug_edge import DOUBLE, metric, payload
async def main():
    port, n, rate = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    names = [metric(name=f"m{i}", alias=i + 1, ts_ms=0, dtype=DOUBLE, value=0.0) for i in range(n)]
    seq = [0]
    lock = asyncio.Lock()  # a birth and a data message never interleave: the seq stays in order
    async with aiomqtt.Client("127.0.0.1", port, identifier="bench-edge") as c:
        async def births():
            async with lock:
                await c.publish("spBv1.0/bench/NBIRTH/edge", payload(0, [], 0), qos=1)
                await c.publish("spBv1.0/bench/DBIRTH/edge/dev", payload(0, names, 1), qos=1)
                seq[0] = 2
        async def rebirths():  # a host's NCMD Node Control/Rebirth
            await c.subscribe("spBv1.0/bench/NCMD/edge", qos=1)
            async for _ in c.messages:
                await births()
        async def data():
            await births()
            k = 0
            while True:
                t = time.time()
                ms = int(t * 1000)
                body = [metric(alias=i + 1, ts_ms=ms, dtype=DOUBLE, value=float(k + i)) for i in range(n)]
                async with lock:
                    await c.publish("spBv1.0/bench/DDATA/edge/dev", payload(ms, body, seq[0] % 256), qos=1)
                    seq[0] += 1
                k += 1
                await asyncio.sleep(max(0.0, 1 / rate - (time.time() - t)))
        async with asyncio.TaskGroup() as tg:
            tg.create_task(rebirths()); tg.create_task(data())
asyncio.run(main())
"""


def spawn(code: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT)


async def bare_modbus(port: int) -> tuple[int, float]:
    client = AsyncModbusTcpClient("127.0.0.1", port=port)
    await client.connect()
    polls, t_end, cpu = 0, time.monotonic() + SECONDS, time.process_time()
    last: list[float] = []
    while time.monotonic() < t_end:
        values: list[float] = []
        for start in range(0, REGISTERS, 124):
            rr = await client.read_holding_registers(start, count=min(124, REGISTERS - start), device_id=1)
            regs = rr.registers
            values += struct.unpack(f">{len(regs) // 2}f", struct.pack(f">{len(regs)}H", *regs))
        _ = [v for v, w in zip(values, last, strict=False) if v != w]  # the same change detection
        last = values
        polls += 1
    cpu = time.process_time() - cpu
    client.close()
    return polls, cpu


async def ours_modbus(port: int) -> tuple[int, float]:
    points = tuple(Point(tag=f"r{i}", address=2 * i, dtype="float32") for i in range(REGISTERS // 2))
    settings = ModbusSettings(host="127.0.0.1", port=port, poll_interval_ms=0.001, points=points)
    c = ModbusCollector(settings, lambda samples: None, source="bench")
    task = asyncio.create_task(c.run())
    await c.connected.wait()
    polls, cpu = c.polls, time.process_time()
    await asyncio.sleep(SECONDS)
    polls, cpu = c.polls - polls, time.process_time() - cpu
    task.cancel()
    return polls, cpu


async def bare_mqtt(port: int) -> tuple[int, float]:
    n, t_end = 0, time.monotonic() + SECONDS
    async with aiomqtt.Client("127.0.0.1", port, identifier="bench-bare") as c:
        await c.subscribe("spBv1.0/bench/+/edge/#", qos=1)
        cpu = time.process_time()
        async for m in c.messages:
            n += len(decode_payload(bytes(m.payload)).metrics)  # type: ignore[arg-type]
            if time.monotonic() > t_end:
                break
        return n, time.process_time() - cpu


async def ours_mqtt(port: int) -> tuple[int, float]:
    points = tuple(MqttPoint(tag=f"m{i}", metric=f"m{i}", device="dev") for i in range(METRICS))
    s = MqttSettings(broker=f"mqtt://127.0.0.1:{port}", group="bench", edge_node="edge", client_id="bench-ours",
                     points=points)  # fmt: skip
    got = [0]
    c = MqttCollector(s, lambda samples: got.__setitem__(0, got[0] + len(samples)), source="bench")
    task = asyncio.create_task(c.run())
    await c.connected.wait()
    await asyncio.sleep(1.0)  # the rebirth answered (or the aliases learnt from the retained flow)
    n, cpu = got[0], time.process_time()
    await asyncio.sleep(SECONDS)
    n, cpu = got[0] - n, time.process_time() - cpu
    task.cancel()
    return n, cpu


async def main() -> None:
    figures: dict[str, float] = {}
    port = free_port()
    server = spawn(MODBUS_SERVER, str(port))
    try:
        await asyncio.sleep(1.5)
        bp, bc = await bare_modbus(port)
        op, oc = await ours_modbus(port)
    finally:
        server.terminate()
    figures |= {"modbus_bare_ms_cpu_per_poll": 1000 * bc / bp, "modbus_ours_ms_cpu_per_poll": 1000 * oc / op,
                "modbus_ratio": (oc / op) / (bc / bp), "modbus_bare_polls_per_s": bp / SECONDS,
                "modbus_ours_polls_per_s": op / SECONDS}  # fmt: skip
    exe = shutil.which("mosquitto")
    if exe is None:
        print("mosquitto not installed: the Sparkplug half is skipped")
    else:
        with tempfile.TemporaryDirectory() as d:
            mport = free_port()
            conf = Path(d) / "m.conf"
            conf.write_text(f"listener {mport} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 100000\n")
            broker = subprocess.Popen([exe, "-c", str(conf)], stderr=subprocess.DEVNULL)  # noqa: ASYNC220 - a bench
            await asyncio.sleep(0.5)
            edge = spawn(EDGE, str(mport), str(METRICS), str(RATE))
            try:
                await asyncio.sleep(1.0)
                bn, bc2 = await bare_mqtt(mport)
                on, oc2 = await ours_mqtt(mport)
            finally:
                edge.terminate()
                broker.terminate()
        figures |= {"sparkplug_bare_ms_cpu_per_1000_metrics": 1000 * bc2 / bn * 1000,
                    "sparkplug_ours_ms_cpu_per_1000_metrics": 1000 * oc2 / on * 1000,
                    "sparkplug_ratio": (oc2 / on) / (bc2 / bn), "sparkplug_metrics_per_s": on / SECONDS}  # fmt: skip
    record("sources", {k: round(v, 4) for k, v in figures.items()})


if __name__ == "__main__":
    asyncio.run(main())
