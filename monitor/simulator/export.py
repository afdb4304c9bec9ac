"""N plant-days of the simulator's tags as a historian export (the replay format), with the truth."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from monitor.errors import InputError
from monitor.simulator.history import plant_samples
from monitor.simulator.lots import TRUTH_COLUMNS, truth_row
from monitor.simulator.plant import Plant

# The history file's contract with replay (monitor/runs/history_file.py reads both; a test keeps them equal)
ROW_GROUP_ROWS = 262_144  # Parquet row groups of this size
LINE_METADATA = "blackmass.line"  # Parquet key-value metadata: the line the export came from


@dataclass(frozen=True, slots=True)
class Export:
    rows: int
    lots: int
    days: float


def export_history(plant: Plant, out: Path, days: float, truth_csv: Path) -> Export:
    """Step the plant `days` plant-days; write every published value to `out` (.parquet or .csv)."""
    if out.suffix.lower() not in (".parquet", ".csv"):
        raise InputError(str(out), f"expected a .parquet or .csv file name, got {out.suffix or 'no suffix'!r}")
    steps = round(days * 86_400 / plant.cfg.step_s)
    ts: list[float] = []
    tags: list[str] = []
    values: list[float | None] = []
    texts: list[str | None] = []
    quality: list[int] = []
    truth: list[dict[str, object]] = []
    for _, samples, finished in plant_samples(plant, steps):
        for s in samples:
            ts.append(s.ts)
            tags.append(s.tag)
            is_text = isinstance(s.value, str)
            values.append(None if is_text else s.value)  # type: ignore[arg-type]
            texts.append(s.value if is_text else None)  # type: ignore[arg-type]
            quality.append(s.quality)
        truth += [truth_row(lot, plant.cfg.line) for lot in finished]
    frame = pl.DataFrame(
        {
            "ts": (pl.Series(ts, dtype=pl.Float64) * 1e6).round().cast(pl.Int64).cast(pl.Datetime("us", "UTC")),
            "tag": pl.Series(tags, dtype=pl.String),
            "value": pl.Series(values, dtype=pl.Float64),
            "text": pl.Series(texts, dtype=pl.String),
            "quality": pl.Series(quality, dtype=pl.UInt8),
        }
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".parquet":
        # the line rides along, so a replay files these lots under it (replay --line overrides)
        meta = {LINE_METADATA: plant.cfg.line}
        frame.write_parquet(out, statistics=True, row_group_size=ROW_GROUP_ROWS, metadata=meta)
    else:
        frame.write_csv(out)
    truth_csv.parent.mkdir(parents=True, exist_ok=True)
    with truth_csv.open("w", newline="") as fh:
        w = csv.DictWriter(fh, TRUTH_COLUMNS)
        w.writeheader()
        w.writerows(truth)
    return Export(frame.height, len(truth), days)
