"""The plant's tags as Samples, step by step, without a server (tests, history export, replay)."""

from __future__ import annotations

from collections.abc import Iterator

from monitor.core.samples import Sample, quality_from_status
from monitor.simulator.plant import Lot, Plant


def plant_samples(plant: Plant, steps: int) -> Iterator[tuple[float, list[Sample], list[Lot]]]:
    """(ts, samples written at ts, lots whose outputs all left) for the initial state and each step."""
    yield plant.ts, [Sample(tag, plant.ts, v) for tag, v in plant.values.items()], []
    for _ in range(steps):
        ts, changed, finished = plant.step()
        samples = [Sample(tag, ts, v) for tag, v in changed.items()]
        # what the bad-quality fault publishes after the step's regular values
        samples += [Sample(g.tag, g.ts, g.value, quality_from_status(g.status), g.status) for g in plant.glitches]
        yield ts, samples, finished
