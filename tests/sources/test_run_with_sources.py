"""A plant TOML with a Modbus source, run as the service runs it: the source's collector starts under the
app's supervisor, /metrics shows blackmass_collector_up{source="bagging"} 1 and /healthz lists it,
while the OPC-UA server of [opcua] is unreachable (that one keeps retrying; nothing else stops)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from monitor.config import load_config
from monitor.runs.app import Monitor
from monitor.simulator.modbus_face import words
from tests.conftest import free_port
from tests.sources.peers import node_peer

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


async def test_a_toml_modbus_source_runs_beside_an_unreachable_opcua_server(tmp_path: Path) -> None:
    mport, http_port = free_port(), free_port()
    text = (ROOT / "config/plant.toml").read_text().replace("127.0.0.1:4840", f"127.0.0.1:{free_port()}")
    text += f"""
[sources.bagging]
kind = "modbus"
host = "127.0.0.1"
port = {mport}
poll_interval_ms = 50

[points."BlackMass.BagTemp"]
source = "bagging"
address = 12
type = "int16"
scale = 0.1
"""
    cfg_path = tmp_path / "plant.toml"
    cfg_path.write_text(text)
    async with node_peer("modbus-server.js", "modbus-serial", str(mport)) as dev:
        await dev.send({"table": "holding", "address": 12, "values": words(417, "h", "ABCD")})
        monitor = Monitor(load_config(cfg_path), tmp_path / "data", seeds=ROOT / "seeds")
        async with asyncio.TaskGroup() as tg, aiohttp.ClientSession() as http:
            task = tg.create_task(monitor.run(port=http_port))
            await asyncio.wait_for(monitor.http_started.wait(), 30)

            async def scrape() -> str:
                async with http.get(f"http://127.0.0.1:{http_port}/metrics") as r:
                    return await r.text()

            want = (
                'blackmass_collector_up{feeds="process",line="L1",source="bagging"} 1.0',
                'blackmass_black_mass_bag_temperature_celsius{line="L1"} 41.7',  # int16 417 x 0.1
            )
            seen = [""]

            async def both() -> None:
                while not all(w in seen[0] for w in want):
                    await asyncio.sleep(0.1)
                    seen[0] = await scrape()

            await asyncio.wait_for(both(), 30)
            async with http.get(f"http://127.0.0.1:{http_port}/healthz") as r:
                health = await r.json(content_type=None)
            assert health["sources"]["bagging"] == "connected"
            assert health["sources"]["opcua"] != "connected"  # unreachable, retrying on its own
            task.cancel()
