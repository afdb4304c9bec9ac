"""A line with no OPC-UA source fed by a second implementation: Eclipse Tahu's npm sparkplug-client
(tests/peers/edge-node.js) publishes the lot id as a String metric and the counters through a real
mosquitto; the service, run from a TOML with only [sources.uns], stores the lot under the id the edge
node sent, with its masses, and /healthz says the line's clock is its sources'."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest

from monitor.config import load_config
from monitor.core.results import BatchResult
from monitor.runs.app import Monitor
from tests.conftest import free_port, until
from tests.sources.peers import mosquitto, node_peer

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
CONFIG = """
[line]
name = "U1"
stale_after_s = 60

[sources.uns]
kind = "sparkplug"
broker = "mqtt://127.0.0.1:{port}"
group = "G1"
edge_node = "N1"
reconnect_min_s = 0.05

[tags]
batch_id = "Feed.LotId"
idle_values = ["idle"]     # what the node's Mode says between lots

[streams.feed]
tag = "Feed.Totalizer"

[streams.black_mass]
tag = "BlackMass.Totalizer"

[points."Feed.LotId"]     # the edge node's String metric
source = "uns"
device = "Line"
metric = "Mode"

[points."Feed.Totalizer"]  # its Int32 counter, kg
source = "uns"
device = "Line"
metric = "Total"

[points."BlackMass.Totalizer"]
source = "uns"
device = "Line"
metric = "Temp"
"""


async def test_a_lot_whose_id_came_from_a_tahu_edge_node(tmp_path: Path) -> None:
    http = free_port()
    kept: dict[str, BatchResult] = {}
    async with mosquitto(tmp_path) as port:
        (tmp_path / "plant.toml").write_text(CONFIG.format(port=port) + f"\n[http]\nport = {http}\n")
        cfg = load_config(tmp_path / "plant.toml")
        assert cfg.opcua is None
        monitor = Monitor(
            cfg, tmp_path / "data", seeds=ROOT / "seeds", on_batch=lambda r: kept.__setitem__(r.batch_id, r)
        )
        async with asyncio.TaskGroup() as tg:
            run = tg.create_task(monitor.run())
            await asyncio.wait_for(monitor.http_started.wait(), 30)
            await asyncio.wait_for(until(lambda: monitor.health()["connected"]), 30)
            async with node_peer(
                "edge-node.js", "sparkplug-client", cfg.sources.settings["uns"].broker, "G1", "N1", "Line"
            ) as edge:
                t0 = int(time.time() + 5) * 1000  # the edge's clock, after its births (stamped when it started)
                await edge.send({"data": {"Mode": "", "Total": 0, "Temp": 0.0}, "ts": t0})
                await edge.send({"data": {"Mode": "TAHU-A"}, "ts": t0 + 5_000})
                for k in range(1, 31):  # lot A feeds 100 kg and bags 40 kg every 10 s from 10 s to 300 s
                    await edge.send({"data": {"Total": 100 * (k - 1), "Temp": 40.0 * (k - 1)}, "ts": t0 + 10_000 * k})
                await edge.send({"data": {"Mode": "TAHU-B"}, "ts": t0 + 305_000})
                await edge.send({"data": {"Total": 2900, "Temp": 1160.0}, "ts": t0 + 310_000})
                await asyncio.wait_for(until(lambda: "TAHU-A" in kept), 30)
                async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{http}/healthz") as r:
                    health = await r.json()
            run.cancel()
    lot = kept["TAHU-A"]
    assert (lot.start, lot.end) == (t0 / 1000 + 5, t0 / 1000 + 305)
    assert lot.feed_kg == pytest.approx(2900.0) and lot.mass("black_mass") == pytest.approx(1160.0)
    assert health["sources"] == {"uns": "connected"} and health["line_clock"] == "sources", health
