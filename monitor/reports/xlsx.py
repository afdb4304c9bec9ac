"""The Excel report: one sheet per section, units in headers, number formats, frozen headers."""

from __future__ import annotations

import io
from collections.abc import Callable

import polars as pl

from monitor.reports.frames import lines_frame, summary_frame
from monitor.reports.xlsx_writer import MAX_ROWS, Sheet, write_workbook

RATIO = "0.0000"
SHEET_ROWS = MAX_ROWS - 1  # longer sections continue on name_2, name_3 ...


def _header(col: str) -> tuple[str, str | None]:
    """'feed_kg' -> 'feed (kg)', 'recovery_ni' -> 'recovery_ni (ratio)', plus an Excel number format."""
    if col.endswith("_kg"):
        return col[:-3] + " (kg)", "#,##0.0"
    if col.endswith("_t"):
        return col[:-2] + " (t)", "#,##0.000"
    if col.endswith("_pct"):
        return col[:-4] + " (wt %)", "0.000"
    if col.endswith("_grade") or col == "calc_head_grade":
        return col + " (mass fraction)", "0.00000"
    if col.endswith("_sd"):
        return col + " (ratio, 1 sd)", RATIO
    if col.startswith(("recovery", "black_mass_yield", "closure", "two_product")) or col.endswith("_mean"):
        return col + " (ratio)", RATIO
    if col in ("balance_p_value", "balance_gamma", "gamma", "p_value", "z"):
        return col, "0.000"
    if col == "nitrogen_nm3":
        return "nitrogen (Nm3)", "#,##0.0"
    if col == "co2e_kg_per_t_black_mass":
        return "co2e (kg per t black mass)", "#,##0.0"
    if "_kg_co2e_per_" in col:  # emission factors: grid_kg_co2e_per_kwh -> grid (kg CO2e/kwh)
        head, unit = col.split("_kg_co2e_per_")
        return f"{head} (kg CO2e/{ {'kwh': 'kWh', 'nm3': 'Nm3'}.get(unit, unit) })", "0.000"
    if col.startswith("energy_kwh"):
        return col.replace("energy_kwh", "energy (kWh") + ")", "#,##0.0"
    return col, None


def _sheets(name: str, frame: pl.DataFrame, rows: int = SHEET_ROWS) -> list[Sheet]:
    headers = {c: _header(c) for c in frame.columns}
    frame = frame.rename({c: h for c, (h, _) in headers.items()})
    formats = {h: f for h, f in headers.values() if f}
    return [
        Sheet(name if k == 0 else f"{name}_{k + 1}", frame.slice(start, rows), formats)
        for k, start in enumerate(range(0, max(frame.height, 1), rows))
    ]


def write_xlsx(
    batches: pl.DataFrame,
    streams: pl.DataFrame,
    recoveries: pl.DataFrame,
    assays: pl.DataFrame,
    out: io.BytesIO,
    *,
    sheet_rows: int = SHEET_ROWS,
    progress: Callable[[float, str], None] | None = None,
) -> None:
    """Summary, batches, stream masses, assays (one row per sample), recoveries and balance sheets."""
    balance = batches.select(
        "batch_id",
        "chemistry",
        "feed_form",
        "black_mass_yield",
        "black_mass_yield_reconciled",
        "black_mass_yield_sd",
        "balance_gamma",
        "balance_dof",
        "balance_p_value",
        "suspect",
        "closure",
    )
    several = batches["line"].n_unique() > 1 if batches.height else False
    sections = (
        ("summary", summary_frame(batches)),
        *((("lines", lines_frame(batches)),) if several else ()),  # per-line subtotals of a plant report
        ("batches", batches),
        ("stream_masses", streams),
        ("assays", assays),
        ("recoveries", recoveries),
        ("balance", balance),
    )
    write_workbook([s for name, frame in sections for s in _sheets(name, frame, sheet_rows)], out, progress=progress)
