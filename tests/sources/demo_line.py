"""The simulator's demo with the monitor beside it, run until a test's condition holds or the demo ends
(its duration is the hang bound: the assertions then say what was missing): what the line tests of
this folder share, with the truth they compare against."""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Awaitable, Callable
from pathlib import Path

from monitor.core.results import BatchResult
from monitor.runs.app import Monitor
from monitor.runs.demo import SimOptions, run_demo
from tests.conftest import free_port, until

ROOT = Path(__file__).resolve().parents[2]
Meanwhile = Callable[[list[Monitor], "asyncio.Task[Monitor]"], Awaitable[None]]


async def run_line(
    opts: SimOptions,
    settled: Callable[[Monitor, dict[str, BatchResult]], bool],
    duration: float,
    meanwhile: Meanwhile | None = None,
) -> tuple[Monitor, dict[str, BatchResult]]:
    """The demo until `settled(monitor, lots so far)` holds; `meanwhile` runs beside it from the start."""
    stop, kept = asyncio.Event(), dict[str, BatchResult]()
    monitors: list[Monitor] = []

    async def enough() -> None:
        await until(lambda: run.done() or (bool(monitors) and settled(monitors[0], kept)))
        stop.set()

    async with asyncio.TaskGroup() as tg:
        run = tg.create_task(
            run_demo(
                opts,
                config=ROOT / "config/plant.toml",
                port=free_port(),
                duration=duration,
                on_batch=lambda r: kept.__setitem__(r.batch_id, r),
                on_monitor=monitors.append,
                stop=stop,
            )
        )
        if meanwhile is not None:
            await meanwhile(monitors, run)
        tg.create_task(enough())
    return run.result(), kept


def truth(data: Path) -> dict[str, dict[str, str]]:
    with (data / "ground_truth.csv").open() as fh:
        return {r["batch_id"]: r for r in csv.DictReader(fh)}


def worst_error(rows: dict[str, dict[str, str]], kept: dict[str, BatchResult]) -> float:
    """The worst relative error of feed, black mass and condensate over the truth's lots; none flagged."""
    worst = 0.0
    for batch_id, t in rows.items():
        r = kept[batch_id]  # the lot ids came through the sources: the truth's ids
        for stream in ("feed", "black_mass", "condensate"):
            got = r.feed_kg if stream == "feed" else r.mass(stream)
            worst = max(worst, abs(got - float(t[f"{stream}_kg"])) / float(t[f"{stream}_kg"]))
        assert not r.flags, (batch_id, r.flags)
    return worst
