"""A restarted monitor finds its batches in the store and its counters continue from them."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.runs.app import Monitor
from monitor.runs.demo import SimOptions, plant_server
from monitor.store.batches import BatchStore
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


async def run_for(monitor: Monitor, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await monitor.run(port=free_port())


async def test_restart_keeps_batches_and_counters(tmp_path: Path) -> None:
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}/blackmass"
    opts = SimOptions(
        data_dir=tmp_path,
        sim_config=ROOT / "config/simulator.toml",
        seeds=ROOT / "seeds",
        speed=3600,
        seed=5,
        noise=False,
    )
    server = plant_server(opts, endpoint)
    cfg = load_config(ROOT / "config/plant.toml").with_endpoint(endpoint)
    await server.start()
    try:
        async with asyncio.TaskGroup() as tg:
            sim = tg.create_task(server.run())
            first = Monitor(cfg, tmp_path, seeds=ROOT / "seeds")
            await run_for(first, 14)
            done_first = first.completed
            second = Monitor(cfg, tmp_path, seeds=ROOT / "seeds")
            restored = second.completed
            await run_for(second, 8)
            sim.cancel()
    finally:
        await server.stop()
    assert done_first >= 2
    assert restored == done_first  # counters continue from the store
    store = BatchStore(tmp_path / "blackmass.db")
    batches = store.latest(include_partial=True)
    ids = [b.batch_id for b in batches]
    assert len(ids) == len(set(ids))
    for b in ids:  # completed once; later versions only for assays that arrived
        reasons = [reason for _, reason, _ in store.history("L1", b)]
        assert reasons.count("completed") == 1 and all(r.startswith("assays") for r in reasons[1:]), reasons
    complete = [b for b in batches if b.state.value in ("complete", "assayed")]
    assert len(complete) >= done_first
    # the lot being fed when the first monitor stopped is joined mid-way by the second: flagged, not faked
    partial = [b for b in batches if b.state.value == "partial"]
    assert all("start_not_observed" in b.flags for b in partial)
    store.close()
