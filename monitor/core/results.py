"""Batch results: what the core hands to the store, /metrics and reports."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

from monitor.core.carbon import CarbonAccount
from monitor.core.metals import Balance, ElementAccount


class BatchState(StrEnum):
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
    items: tuple[tuple[str, float], ...] = ()  # weighings: (bag id, net kg)
    boundary_kg: float = 0.0  # counters: mass of increments cut by a window edge, apportioned by time
    unattributed_kg: float = 0.0  # counters: what the counter rose since the previous lot's window, in no lot


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
    metals: tuple[ElementAccount, ...] = ()
    balance: Balance | None = None
    assay_status: str = "none"  # of the black mass: "none" | "preliminary" | "final"
    energy_kwh: float = float("nan")  # line energy meter over the feed window
    nitrogen_nm3: float = float("nan")  # inerting nitrogen flow integrated over the feed window
    carbon: CarbonAccount | None = None  # CO2e with the factors it was computed with (set once)
    origin: tuple[tuple[str, float], ...] = ()  # (origin class, share of feed), set once from config

    def mass(self, stream: str) -> float:
        for s in self.streams:
            if s.stream == stream:
                return s.mass_kg
        return float("nan")

    def metal(self, element: str) -> ElementAccount | None:
        return next((m for m in self.metals if m.element == element), None)

    @property
    def bags(self) -> dict[str, float]:
        for s in self.streams:
            if s.stream == "black_mass":
                return dict(s.items)
        return {}

    @property
    def feed_kg(self) -> float:
        return self.mass("feed")

    @property
    def black_mass_yield(self) -> float:
        return self.yields.get("black_mass", float("nan"))


@dataclass(frozen=True, slots=True)
class LiveBatch:
    """The batch in progress, as far as it has accrued."""

    batch_id: str
    start: float
    chemistry: str
    feed_form: str
    masses_kg: dict[str, float]
    start_observed: bool

    @property
    def running_yield(self) -> float:
        feed = self.masses_kg.get("feed", 0.0)
        return self.masses_kg.get("black_mass", math.nan) / feed if feed > 0 else math.nan
