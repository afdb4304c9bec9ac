"""Lots the simulated line feeds (and the schedule they are drawn from), and each lot's truth row."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from monitor.simulator.composition import ELEMENTS, STREAMS

TRUTH_ELEMENTS = ("ni", "co", "mn", "li", "cu", "al", "fe")


@dataclass
class Lot:
    batch_id: str
    supplier: str
    chemistry: str
    cell_format: str
    feed_form: str
    target_kg: float
    start_ts: float
    stream_frac: dict[str, float]
    feed_el: dict[str, float]
    stream_el: dict[str, dict[str, float]]
    bias: dict[str, float]
    assay_truth: dict[str, tuple[float, dict[str, float]]] = field(default_factory=dict)
    bags: list[tuple[str, float]] = field(default_factory=list)  # (bag id, weighed kg)
    fed_kg: float = 0.0
    end_ts: float | None = None
    last_step: int | None = None
    out_kg: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STREAMS, 0.0))
    wire_id: str | int = ""  # the id the PLC writes (batch_id is the monitor's name for the lot)
    paused_until: float | None = None
    pause_done: bool = False


@dataclass(frozen=True)
class LotType:
    supplier: str
    chemistry: str
    cell_format: str
    feed_form: str
    min_t: float
    max_t: float
    weight: float


def load_schedule(path: Path) -> list[LotType]:
    with path.open(newline="") as fh:
        return [
            LotType(
                r["supplier"],
                r["chemistry"],
                r["cell_format"],
                r["feed_form"],
                float(r["min_t"]),
                float(r["max_t"]),
                float(r["weight"]),
            )
            for r in csv.DictReader(fh)
        ]


TRUTH_COLUMNS = (
    ["batch_id", "line", "supplier", "chemistry", "feed_form", "start", "end", "feed_kg"]
    + [f"{s}_kg" for s in STREAMS]
    + [f"feed_{e}_kg" for e in TRUTH_ELEMENTS]
    + [f"black_mass_{e}_kg" for e in TRUTH_ELEMENTS]
)


def truth_row(lot: Lot, line: str) -> dict[str, object]:
    feed = lot.fed_kg
    row: dict[str, object] = {
        "batch_id": lot.batch_id,
        "line": line,
        "supplier": lot.supplier,
        "chemistry": lot.chemistry,
        "feed_form": lot.feed_form,
        "start": lot.start_ts,
        "end": lot.end_ts,
        "feed_kg": round(feed, 4),
    }
    for s in STREAMS:
        row[f"{s}_kg"] = round(lot.out_kg[s] if s != "loss" else feed * lot.stream_frac["loss"], 4)
    for e in TRUTH_ELEMENTS:
        row[f"feed_{e}_kg"] = round(feed * lot.feed_el[e], 4)
        row[f"black_mass_{e}_kg"] = round(feed * lot.stream_el["black_mass"][e], 4)
    assert set(ELEMENTS) >= set(TRUTH_ELEMENTS)
    return row


class TruthWriter:
    """Appends one ground-truth row per finished lot to <data-dir>/ground_truth.csv."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as fh:
            csv.DictWriter(fh, TRUTH_COLUMNS).writeheader()

    def write(self, row: dict[str, object]) -> None:
        with self.path.open("a", newline="") as fh:
            csv.DictWriter(fh, TRUTH_COLUMNS).writerow(row)
