"""The Excel report: one sheet per section, units in headers, number formats, frozen headers."""

from __future__ import annotations

import io
from collections.abc import Callable

import polars as pl

from monitor.reports.frames import human, lines_frame, summary_frame
from monitor.reports.recovery import element_table
from monitor.reports.xlsx_writer import MAX_ROWS, Sheet, write_workbook

RATIO = "0.0000"
PERCENT = "0.00%"  # ratios (stored to 4 decimals) shown as percentages: 0.8801 -> 88.01%
DATETIME = "yyyy-mm-dd hh:mm:ss"
EXCEL_EPOCH_DAYS = 25569  # 1970-01-01 as an Excel serial day (1900 date system)
TIME_COLUMNS = ("start", "end", "imported_at", "recorded_at")
SHEET_ROWS = MAX_ROWS - 1  # longer sections continue on name_2, name_3 ...


FIXED = {
    "nitrogen_nm3": ("nitrogen (Nm3)", "#,##0.0"),
    "co2e_kg_per_t_black_mass": ("co2e (kg per t black mass)", "#,##0.0"),
    **{c: (c + " (UTC)", DATETIME) for c in TIME_COLUMNS},
    **{c: (c, "0.000") for c in ("balance_p_value", "balance_gamma", "gamma", "p_value", "z")},
}


def _header(col: str) -> tuple[str, str | None]:
    """'feed_kg' -> 'feed (kg)', 'recovery_ni' -> 'recovery_ni (ratio)', plus an Excel number format."""
    if col in FIXED:
        return FIXED[col]
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
    if col.startswith("target_"):
        return col + " (ratio)", "0%"
    if col.startswith(("recovery", "black_mass_yield", "closure", "two_product")) or col.endswith("_mean"):
        return col + " (ratio)", PERCENT
    if "_kg_co2e_per_" in col:  # emission factors: grid_kg_co2e_per_kwh -> grid (kg CO2e/kwh)
        head, unit = col.split("_kg_co2e_per_")
        return f"{head} (kg CO2e/{ {'kwh': 'kWh', 'nm3': 'Nm3'}.get(unit, unit) })", "0.000"
    if col.startswith("energy_kwh"):
        return col.replace("energy_kwh", "energy (kWh") + ")", "#,##0.0"
    return col, None


def _excel_times(frame: pl.DataFrame) -> pl.DataFrame:
    """ISO 8601 UTC text -> Excel serial date-times (real date cells; the format shows them)."""
    cols = [c for c in TIME_COLUMNS if c in frame.columns and frame.schema[c] == pl.String]
    parsed = [
        (pl.col(c).str.strptime(pl.Datetime("us"), "%Y-%m-%dT%H:%M:%SZ", strict=False).dt.epoch("s") / 86400.0)
        .add(EXCEL_EPOCH_DAYS)
        .alias(c)
        for c in cols
    ]
    return frame.with_columns(parsed) if parsed else frame


def _sheets(name: str, frame: pl.DataFrame, rows: int = SHEET_ROWS) -> list[Sheet]:
    frame = _excel_times(frame)
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
        ("element_recovery", element_table(batches)),  # the PDF's regulatory table, the same numbers
        *((("lines", lines_frame(batches)),) if several else ()),  # per-line subtotals of a plant report
        ("batches", batches),
        ("stream_masses", streams),
        ("assays", assays),
        ("recoveries", recoveries),
        ("balance", balance),
    )
    sheets = [s for name, frame in sections for s in _sheets(name, human(frame), sheet_rows)]
    write_workbook(sheets, out, progress=progress)
