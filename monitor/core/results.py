"""Batch results: what the core hands to the store, /metrics and reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class BatchState(StrEnum):
    FEEDING = "feeding"
    FLUSHING = "flushing"
    COMPLETE = "complete"
    ASSAYED = "assayed"
    PARTIAL = "partial"  # start not observed: masses cannot be the lot's


@dataclass(frozen=True, slots=True)
class StreamMass:
    stream: str
    mass_kg: float
    source: str
    window_start: float
    window_end: float
    samples: int = 0
    flags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class BatchResult:
    line: str
    batch_id: str
    start: float
    end: float
    state: BatchState
    chemistry: str = ""
    feed_form: str = ""
    supplier: str = ""
    streams: tuple[StreamMass, ...] = ()
    yields: dict[str, float] = field(default_factory=dict)
    closure: float = float("nan")
    flags: tuple[str, ...] = ()
    rejected_samples: int = 0
    version: int = 1

    def mass(self, stream: str) -> float:
        for s in self.streams:
            if s.stream == stream:
                return s.mass_kg
        return float("nan")

    @property
    def feed_kg(self) -> float:
        return self.mass("feed")

    @property
    def black_mass_yield(self) -> float:
        return self.yields.get("black_mass", float("nan"))
