"""The plant's tags as Samples, step by step, without a server (tests, history export, replay)."""

from __future__ import annotations

from collections.abc import Iterator

from monitor.core.samples import Sample
from monitor.simulator.plant import Lot, Plant


def plant_samples(plant: Plant, steps: int) -> Iterator[tuple[float, list[Sample], list[Lot]]]:
    """(ts, samples written at ts, lots whose outputs all left) for the initial state and each step."""
    yield plant.ts, [Sample(tag, plant.ts, v) for tag, v in plant.values.items()], []
    for _ in range(steps):
        ts, changed, finished = plant.step()
        yield ts, [Sample(tag, ts, v) for tag, v in changed.items()], finished
