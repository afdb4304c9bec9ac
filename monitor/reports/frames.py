"""Batch recovery reports. Reports only read the store; engineers read kg and ratios."""

from __future__ import annotations

import functools
import io
import sys
from pathlib import Path

import polars as pl

from monitor.reports.recovery import ROUTES, recovery_exprs
from monitor.store.rows import COLUMNS, METALS, PRODUCTS, batch_row, iso

__all__ = ["COLUMNS", "METALS", "PRODUCTS", "batch_row", "human", "human_row", "iso"]

KG_DIGITS, RATIO_DIGITS, PCT_DIGITS = 1, 4, 3  # what a person reads: 0.1 kg, 0.0001, wt % to 0.001
RECOVERY_DIGITS, RECOVERY_DECIMALS = 4, 5  # a recovery: 4 significant digits, never finer than 0.00001
_RATIO_PREFIXES = ("recovery", "black_mass_yield", "closure", "two_product", "target_", "balance_p_value")


def human(frame: pl.DataFrame) -> pl.DataFrame:
    """Float columns at the precision a person reads (CSV, JSON, XLSX); Parquet keeps full precision."""
    out = _rounding(tuple(name for name, dtype in frame.schema.items() if dtype == pl.Float64))
    return frame.with_columns(out) if out else frame


@functools.lru_cache(maxsize=64)
def _rounding(floats: tuple[str, ...]) -> tuple[pl.Expr, ...]:
    """The rounding of each float column, built once per set of columns (a listing of one lot spent
    more time building these expressions than reading and writing its row)."""
    out = []
    for name in floats:
        col = pl.col(name).fill_nan(None)
        if "_kg_co2e_per_" in name:  # emission factors: as configured, to 0.001
            out.append(col.round(3))
        elif name.endswith(("_kg", "_kwh", "_nm3", "_t_black_mass")) or name.startswith("energy_"):
            out.append(col.round(KG_DIGITS))
        elif name.endswith("_t"):
            out.append(col.round(3))
        elif name.endswith("_pct"):
            out.append(col.round(PCT_DIGITS))
        elif name.startswith("recovery") and not name.endswith("_sd"):
            # to significant digits: a minor element's recovery (Al into black mass, 1 %) keeps its precision;
            # below 1 % a fifth decimal (0.001 % points) is as fine as a person reads or a lab measures
            out.append(col.round_sig_figs(RECOVERY_DIGITS).round(RECOVERY_DECIMALS))
        elif name.startswith(_RATIO_PREFIXES) or name.endswith(("_sd", "_grade", "_yield", "recovery")):
            out.append(col.round(RATIO_DIGITS))
        elif name in ("balance_gamma", "z", "gamma"):
            out.append(col.round(3))
        else:
            out.append(col)
    return tuple(out)


def human_row(row: dict[str, object]) -> dict[str, object]:
    """One batch row (store/rows.py batch_row) at the precision of human(): the API's detail agrees with lists."""
    return human(pl.DataFrame([row], schema=dict(COLUMNS))).to_dicts()[0]


def write_csv(frame: pl.DataFrame, out: str | Path | io.StringIO) -> None:
    """CSV to a file, a text buffer, or standard output for '-'. NaN (unknown) is an empty cell."""
    frame = human(frame)
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
    """Totals by chemistry and feed form: masses in t, mass-weighted yield, recoveries (reports/recovery.py)."""
    if batches.is_empty():
        return pl.DataFrame(schema={"chemistry": pl.String, "feed_form": pl.String, "batches": pl.UInt32})
    return (
        batches.group_by("chemistry", "feed_form")
        .agg(
            pl.len().alias("batches"),
            (pl.col("feed_kg").sum() / 1000).alias("feed_t"),
            (pl.col("black_mass_kg").sum() / 1000).alias("black_mass_t"),
            (pl.col("black_mass_kg").sum() / pl.col("feed_kg").sum()).alias("black_mass_yield"),
            *[e for r in ROUTES for e in recovery_exprs(r.element)],
            (pl.col("assay_status") == "final").sum().alias("assays_final"),
        )
        .sort("chemistry", "feed_form")
    )


def lines_frame(batches: pl.DataFrame) -> pl.DataFrame:
    """Per-line subtotals plus an 'all lines' row: masses in t, mass-weighted yield, recoveries (recovery.py)."""
    aggs = [
        pl.len().alias("batches"),
        (pl.col("feed_kg").sum() / 1000).alias("feed_t"),
        (pl.col("black_mass_kg").sum() / 1000).alias("black_mass_t"),
        (pl.col("black_mass_kg").sum() / pl.col("feed_kg").sum()).alias("black_mass_yield"),
        *[e for r in ROUTES for e in recovery_exprs(r.element)],
        (pl.col("assay_status") == "final").sum().alias("assays_final"),
    ]
    per_line = batches.group_by("line").agg(aggs).sort("line")
    total = batches.select(pl.lit("all lines").alias("line"), *aggs)
    return pl.concat([per_line, total.cast(per_line.schema)]) if batches.height else per_line


def write_parquet(frame: pl.DataFrame, out: str | Path | io.BytesIO) -> None:
    """Parquet keeps NaN apart from null: unknown values are null, as in CSV."""
    frame = frame.with_columns(pl.col(pl.Float64).fill_nan(None))  # full precision, unlike the CSV
    frame.write_parquet(out if isinstance(out, io.BytesIO) else Path(out))
