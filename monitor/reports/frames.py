"""Batch recovery reports. Reports only read the store; engineers read kg and ratios."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import polars as pl

from monitor.store.rows import COLUMNS, METALS, PRODUCTS, batch_row, iso

__all__ = ["COLUMNS", "METALS", "PRODUCTS", "batch_row", "iso"]


def write_csv(frame: pl.DataFrame, out: str | Path | io.StringIO) -> None:
    """CSV to a file, a text buffer, or standard output for '-'. NaN (unknown) is an empty cell."""
    frame = frame.with_columns(pl.col(pl.Float64).fill_nan(None))
    # a text cell a spreadsheet would run as a formula (a PLC's '=HYPERLINK(…)' lot id) is quoted
    frame = frame.with_columns(pl.col(pl.String).str.replace(r"^([=+\-@\t\r])", "'$1"))
    if isinstance(out, io.StringIO):
        frame.write_csv(out)
        return
    if str(out) == "-":
        buf = io.StringIO()
        frame.write_csv(buf)
        sys.stdout.write(buf.getvalue())
        return
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    frame.write_csv(Path(out))


def summary_frame(batches: pl.DataFrame) -> pl.DataFrame:
    """Totals by chemistry and feed form: masses in t, mass-weighted yield, mean recoveries."""
    if batches.is_empty():
        return pl.DataFrame(schema={"chemistry": pl.String, "feed_form": pl.String, "batches": pl.UInt32})
    return (
        batches.group_by("chemistry", "feed_form")
        .agg(
            pl.len().alias("batches"),
            (pl.col("feed_kg").sum() / 1000).alias("feed_t"),
            (pl.col("black_mass_kg").sum() / 1000).alias("black_mass_t"),
            (pl.col("black_mass_kg").sum() / pl.col("feed_kg").sum()).alias("black_mass_yield"),
            *[pl.col(f"recovery_{el}").fill_nan(None).mean().alias(f"recovery_{el}_mean") for el in METALS],
            (pl.col("assay_status") == "final").sum().alias("assays_final"),
        )
        .sort("chemistry", "feed_form")
    )


def lines_frame(batches: pl.DataFrame) -> pl.DataFrame:
    """Per-line subtotals plus an 'all lines' row: masses in t, mass-weighted yield, mean recoveries."""
    aggs = [
        pl.len().alias("batches"),
        (pl.col("feed_kg").sum() / 1000).alias("feed_t"),
        (pl.col("black_mass_kg").sum() / 1000).alias("black_mass_t"),
        (pl.col("black_mass_kg").sum() / pl.col("feed_kg").sum()).alias("black_mass_yield"),
        *[pl.col(f"recovery_{el}").fill_nan(None).mean().alias(f"recovery_{el}_mean") for el in METALS],
        (pl.col("assay_status") == "final").sum().alias("assays_final"),
    ]
    per_line = batches.group_by("line").agg(aggs).sort("line")
    total = batches.select(pl.lit("all lines").alias("line"), *aggs)
    return pl.concat([per_line, total.cast(per_line.schema)]) if batches.height else per_line


def write_parquet(frame: pl.DataFrame, out: str | Path | io.BytesIO) -> None:
    """Parquet keeps NaN apart from null: unknown values are null, as in CSV."""
    frame = frame.with_columns(pl.col(pl.Float64).fill_nan(None))
    frame.write_parquet(out if isinstance(out, io.BytesIO) else Path(out))
