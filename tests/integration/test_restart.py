"""A restarted monitor finds its batches in the store and its counters continue from them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.core.results import BatchResult
from monitor.runs.app import Monitor
from monitor.runs.demo import SimOptions, plant_server
from monitor.store.batches import BatchStore
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def after_lots(n: int) -> tuple[asyncio.Event, Callable[[BatchResult], None]]:
    """An event set once n lots have been stored (first versions), and the monitor's on_batch that counts."""
    event, seen = asyncio.Event(), set()

    def on_batch(r: BatchResult) -> None:
        if r.version == 1:
            seen.add(r.batch_id)
        if len(seen) >= n:
            event.set()

    return event, on_batch


async def run_until(monitor: Monitor, done: asyncio.Event, limit_s: float = 120.0) -> None:
    """Run the monitor until `done` is set; the limit only bounds a hang."""

    async def watch(deadline: asyncio.Timeout) -> None:
        await done.wait()
        deadline.reschedule(asyncio.get_running_loop().time())  # stop the monitor as a timeout would

    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(limit_s) as deadline, asyncio.TaskGroup() as tg:
            tg.create_task(monitor.run(port=free_port()))
            tg.create_task(watch(deadline))
    assert done.is_set(), f"gave up after {limit_s:.0f} s"


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
            two, on_batch = after_lots(2)
            first = Monitor(cfg, tmp_path, seeds=ROOT / "seeds", on_batch=on_batch)
            await run_until(first, two)
            done_first = first.completed
            two_more, on_batch = after_lots(2)  # the lot joined mid-way, and one whole
            second = Monitor(cfg, tmp_path, seeds=ROOT / "seeds", on_batch=on_batch)
            restored = second.completed
            await run_until(second, two_more)
            sim.cancel()
    finally:
        await server.stop()
    assert done_first >= 2
    assert restored == done_first  # counters continue from the store
    store = BatchStore(tmp_path / "blackmass.db")
    batches = store.latest()
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
