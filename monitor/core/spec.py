"""What the core needs to know about a line: tag roles and streams (built from config)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property

# The one stream vocabulary: the feed, the products in report order, and the balance's loss.
STREAM_NAMES = ("feed", "black_mass", "ferrous", "aluminium", "copper", "light_fraction", "condensate", "fines", "loss")


class SourceKind(StrEnum):
    TOTALIZER = "totalizer"
    WEIGHING = "weighing"
    FLOW = "flow"
    ESTIMATE = "estimate"  # not measured; a prior of estimate_ratio × feed, σ = accuracy × prior
    UNMEASURED = "unmeasured"  # not measured; closes the balance, no redundancy


@dataclass(frozen=True, kw_only=True)
class StreamSpec:
    """One stream of a line and how its mass is measured.

    accuracy is the relative standard deviation of the mass source; delay_s shifts the
    attribution window of a product behind the feed (dryer residence and transport).
    """

    name: str
    direction: str = "out"  # "in" for feed
    source: SourceKind = SourceKind.TOTALIZER
    tag: str | None = None
    bag_id_tag: str | None = None
    accuracy: float = 0.01
    delay_s: float = 0.0
    rollover: float | None = None
    max_gap_s: float = 600.0
    plausible_max: float | None = None
    estimate_ratio: float = 0.0
    grade_factor: float = 1.0  # an estimated stream's element grade relative to the feed's
    scale: float = 1.0  # kg per raw count (0.1 for a counter in 100 g units, 1000 for tonnes)
    min_cycle_s: float = 0.0  # a counter's increments happened within at least this long before each value
    bag_scope: str = "plant"  # weighings: bag ids unique per "plant" (counted once ever) or per "lot"


@dataclass(frozen=True, kw_only=True)
class LineSpec:
    """Tag roles of one line plus its streams; exactly one stream has direction 'in'."""

    line: str
    batch_id_tag: str
    chemistry_tag: str | None = None
    feed_form_tag: str | None = None
    supplier_tag: str | None = None
    energy_tag: str | None = None  # a kWh meter (totalizer): energy per batch over its feed window
    nitrogen_tag: str | None = None  # an N2 flow (Nm3/h): nitrogen per batch over its feed window
    streams: tuple[StreamSpec, ...] = ()
    abandon_after_s: float = 4 * 3600.0
    resume_within_s: float = 6 * 3600.0  # an id fed again within this after its lot stopped resumes that lot
    stale_after_s: float = 900.0
    idle_ids: tuple[str, ...] = ()  # lot-id values that mean "no lot" besides "", 0 and NUL padding
    attributes_settle_s: float = 5.0  # chemistry/form/supplier written this soon after the id belong to the lot
    scan_s: float = 0.1  # stamps this close to a lot edge are of the edge's own scan (docs/timestamps.md)
    codes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # tag -> integer code -> text

    # cached: every lot's finalisation and accounting ask for them dozens of times (a search each)
    @cached_property
    def feed(self) -> StreamSpec:
        return next(s for s in self.streams if s.direction == "in")

    @cached_property
    def products(self) -> tuple[StreamSpec, ...]:
        return tuple(s for s in self.streams if s.direction == "out")

    def stream(self, name: str) -> StreamSpec:
        for s in self.streams:
            if s.name == name:
                return s
        raise KeyError(name)
