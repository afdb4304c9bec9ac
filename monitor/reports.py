"""Batch recovery reports. Reports only read the store; engineers read kg and ratios."""

from __future__ import annotations

import io
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from monitor.core.results import BatchResult

PRODUCTS = ("black_mass", "ferrous", "aluminium", "copper", "light_fraction", "condensate", "fines", "loss")


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def batches_frame(results: Sequence[BatchResult]) -> pl.DataFrame:
    """One row per batch; masses in kg, yields and closure as ratios 0–1."""
    rows = []
    for r in results:
        row: dict[str, object] = {
            "batch_id": r.batch_id,
            "line": r.line,
            "state": r.state.value,
            "version": r.version,
            "chemistry": r.chemistry,
            "feed_form": r.feed_form,
            "supplier": r.supplier,
            "start": iso(r.start),
            "end": iso(r.end),
            "feed_kg": r.feed_kg,
        }
        for s in PRODUCTS:
            row[f"{s}_kg"] = r.mass(s)
        row["black_mass_yield"] = r.black_mass_yield
        row["closure"] = r.closure
        row["rejected_samples"] = r.rejected_samples
        row["flags"] = ";".join(r.flags)
        rows.append(row)
    schema = {
        "batch_id": pl.String,
        "line": pl.String,
        "state": pl.String,
        "version": pl.Int64,
        "chemistry": pl.String,
        "feed_form": pl.String,
        "supplier": pl.String,
        "start": pl.String,
        "end": pl.String,
        "feed_kg": pl.Float64,
        **{f"{s}_kg": pl.Float64 for s in PRODUCTS},
        "black_mass_yield": pl.Float64,
        "closure": pl.Float64,
        "rejected_samples": pl.Int64,
        "flags": pl.String,
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


def write_csv(frame: pl.DataFrame, out: str | Path) -> None:
    """CSV to a file, or to standard output for '-'. NaN (unknown) is written as an empty cell."""
    frame = frame.with_columns(pl.col(pl.Float64).fill_nan(None))
    if str(out) == "-":
        buf = io.StringIO()
        frame.write_csv(buf)
        sys.stdout.write(buf.getvalue())
        return
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    frame.write_csv(Path(out))
