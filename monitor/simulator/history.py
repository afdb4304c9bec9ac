"""The plant's tags as samples, step by step, without a server (tests, history export, replay).

The simulator is the ground truth the monitor is judged against, so it shares no code with it:
its own sample tuple and its own StatusCode -> quality mapping (the history file's quality column).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from monitor.simulator.lots import Lot
from monitor.simulator.plant import Plant

GOOD, UNCERTAIN, BAD = 0, 1, 2  # the history file's quality codes


def quality_of(status: int) -> int:
    """The quality code of an OPC-UA StatusCode from its two severity bits (Part 4, 7.39)."""
    severity = (status >> 30) & 0b11
    return GOOD if severity == 0 else UNCERTAIN if severity == 1 else BAD


@dataclass(frozen=True, slots=True)
class PlantSample:
    """One published value: tag, plant timestamp, value (float or text), quality code, raw StatusCode."""

    tag: str
    ts: float
    value: float | str | None
    quality: int = GOOD
    status: int = 0


def plant_samples(plant: Plant, steps: int) -> Iterator[tuple[float, list[PlantSample], list[Lot]]]:
    """(ts, samples written at ts, lots whose outputs all left) for the initial state and each step."""
    yield plant.ts, [PlantSample(tag, plant.ts, v) for tag, v in plant.values.items()], []
    for _ in range(steps):
        ts, changed, finished = plant.step()
        samples = [PlantSample(tag, ts, v) for tag, v in changed.items()]
        # what the bad-quality fault publishes after the step's regular values
        samples += [PlantSample(g.tag, g.ts, g.value, quality_of(g.status), g.status) for g in plant.glitches]
        yield ts, samples, finished
