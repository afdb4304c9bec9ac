"""Collector throughput and end-to-end latency against real asyncua servers (each in its own process).

- collector: notifications/s through collector -> core for 2,000 and 10,000 tags, against a bare
  asyncua client with a no-op handler on the same server and load (the floor).
- latency: a value written at the server -> visible on /metrics of a running monitor, p50/p99.

Writes benchmarks/results.json["collector"] and ["latency"].
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from asyncua import Client, ua

from common import ROOT, record  # isort: skip

from monitor.collectors.opcua import OpcuaCollector
from monitor.collectors.settings import OpcuaSettings
from monitor.config import load_config
from monitor.core.engine import Engine
from monitor.core.samples import Sample
from monitor.runs.demo import SimOptions, free_port, plant_server

URI = "urn:bench:load"
SERVER = """
import asyncio, sys, time
from datetime import UTC, datetime
from asyncua import Server, ua
n, period, port = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
async def main():
    s = Server(); await s.init(); s.set_endpoint(f"opc.tcp://127.0.0.1:{port}/b")
    s.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    idx = await s.register_namespace("urn:bench:load")
    obj = await s.nodes.objects.add_object(idx, "Load")
    nodes = [(await obj.add_variable(ua.NodeId(f"T{i:05d}", idx), f"T{i:05d}", 0.0)).nodeid for i in range(n)]
    async with s:
        print("ready", flush=True)
        k = 0
        while True:
            t = time.monotonic(); k += 1
            now = datetime.now(UTC)
            v = ua.DataValue(ua.Variant(float(k), ua.VariantType.Double), SourceTimestamp=now)
            for j, nid in enumerate(nodes):
                await s.write_attribute_value(nid, v)
                if j % 200 == 0:
                    await asyncio.sleep(0)  # let the server answer its clients between writes
            await asyncio.sleep(max(0.0, period - (time.monotonic() - t)))
asyncio.run(main())
"""


def start_server(n: int, period: float, port: int) -> subprocess.Popen[str]:
    p = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(n), str(period), str(port)], stdout=subprocess.PIPE, text=True
    )
    assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    return p


class NoOp:
    def __init__(self) -> None:
        self.n = 0

    def datachange_notification(self, node: object, val: object, data: object) -> None:
        self.n += 1


async def bare_rate(url: str, n: int, warm: float, measure: float) -> float:
    handler = NoOp()
    async with Client(url, timeout=10) as client:
        idx = await client.get_namespace_index(URI)
        sub = await client.create_subscription(100, handler)
        nodes = [client.get_node(ua.NodeId(f"T{i:05d}", idx)) for i in range(n)]
        for i in range(0, n, 500):
            await sub.subscribe_data_change(nodes[i : i + 500], queuesize=100)
        await asyncio.sleep(warm)
        start, t = handler.n, time.perf_counter()
        await asyncio.sleep(measure)
        return (handler.n - start) / (time.perf_counter() - t)


async def collector_rate(url: str, n: int, warm: float, measure: float) -> float:
    spec = load_config(ROOT / "config/plant.toml").line
    engine = Engine(spec)

    def sink(batch: list[Sample]) -> None:  # the core's work per publish: ingest, then poll
        engine.ingest(batch)
        engine.poll()

    settings = OpcuaSettings(endpoint=url, namespace_uri=URI, publishing_interval_ms=100, queue_size=100)
    col = OpcuaCollector(settings, {f"T{i:05d}": f"nsu={URI};s=T{i:05d}" for i in range(n)}, sink)
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(col.run())
        await asyncio.wait_for(col.subscribed.wait(), 60)
        await asyncio.sleep(warm)
        start, t = sum(col.samples.values()), time.perf_counter()
        await asyncio.sleep(measure)
        rate = (sum(col.samples.values()) - start) / (time.perf_counter() - t)
        task.cancel()
    return rate


def collector_figures() -> dict[str, object]:
    out: dict[str, object] = {}
    for n, period in ((2_000, 0.5), (10_000, 2.0)):
        port = free_port()
        server = start_server(n, period, port)
        url = f"opc.tcp://127.0.0.1:{port}/b"
        try:
            bare = asyncio.run(bare_rate(url, n, 3, 8))
            ours = asyncio.run(collector_rate(url, n, 3, 8))
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait()
        out[f"{n}_tags"] = {
            "offered_per_s": round(n / period),
            "bare_client_per_s": round(bare),
            "collector_to_core_per_s": round(ours),
            "ratio_to_floor": round(ours / bare, 2),
        }
        print(n, out[f"{n}_tags"], flush=True)
    out["target_ratio"] = 0.9
    return out


async def latency_figures(rounds: int = 60) -> dict[str, object]:
    """Write Shredder.O2 at the simulator, poll /metrics every 5 ms until the monitor shows it."""
    port, http = free_port(), free_port()
    endpoint = f"opc.tcp://127.0.0.1:{port}/blackmass"
    with tempfile.TemporaryDirectory() as tmp:
        opts = SimOptions(
            data_dir=Path(tmp), sim_config=ROOT / "config/simulator.toml", seeds=ROOT / "seeds", speed=1e-6
        )
        server = plant_server(opts, endpoint, start_on_subscribe=False)
        await server.start()
        monitor = subprocess.Popen(  # noqa: ASYNC220 - started once, before anything is timed
            [
                str(Path(sys.executable).parent / "blackmass"),
                "run",
                "--endpoint",
                endpoint,
                "--data-dir",
                tmp,
                "--port",
                str(http),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ},
        )
        lat: list[float] = []
        try:
            async with aiohttp.ClientSession() as s:
                url = f"http://127.0.0.1:{http}/metrics"
                for _ in range(200):
                    try:
                        async with s.get(url) as r:
                            if "blackmass_collector_connected" in await r.text():
                                break
                    except aiohttp.ClientError:
                        pass
                    await asyncio.sleep(0.1)
                await asyncio.sleep(2)
                for k in range(rounds):
                    value = 2.0 + k / 1000.0
                    want = f"{value * 0.01:.6g}"
                    t = time.perf_counter()
                    await server.write(time.time(), {"Shredder.O2": value})
                    while True:
                        async with s.get(url) as r:
                            text = await r.text()
                        m = re.search(r'blackmass_shredder_oxygen_ratio\{line="L1"\} (\S+)', text)
                        if m and f"{float(m.group(1)):.6g}" == want:
                            lat.append((time.perf_counter() - t) * 1000)
                            break
                        if time.perf_counter() - t > 5:  # noqa: PLR2004 - a 5 s progress tick
                            raise TimeoutError(f"value {value} never reached /metrics")
                        await asyncio.sleep(0.005)
                    await asyncio.sleep(0.2)
        finally:
            monitor.send_signal(signal.SIGTERM)
            monitor.wait()
            await server.stop()
    lat.sort()
    publishing = load_config(ROOT / "config/plant.toml").opcua.publishing_interval_ms
    return {
        "rounds": len(lat),
        "p50_ms": round(statistics.median(lat), 1),
        "p99_ms": round(lat[min(len(lat) - 1, int(0.99 * len(lat)))], 1),
        "max_ms": round(lat[-1], 1),
        "publishing_interval_ms": publishing,
        "target_p99_ms": publishing + 100,
    }


def main() -> int:
    record("collector", collector_figures())
    record("latency", asyncio.run(latency_figures()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
