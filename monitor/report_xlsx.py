"""The Excel report: one sheet per section, units in headers, number formats, frozen headers."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import polars as pl
import xlsxwriter

from monitor.core.assays import Assay
from monitor.core.results import BatchResult
from monitor.reports import batches_frame, recoveries_frame, streams_frame, summary_frame

RATIO = "0.0000"


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
    return col, None


SHEET_ROWS = 1_000_000  # Excel stops at 1,048,576 rows: longer sections continue on name_2, name_3 ...


def _sheet(wb: xlsxwriter.Workbook, name: str, frame: pl.DataFrame) -> None:
    frame = frame.with_columns(pl.col(pl.Float64).fill_nan(None))
    headers = {c: _header(c) for c in frame.columns}
    frame = frame.rename({c: h for c, (h, _) in headers.items()})
    for k, start in enumerate(range(0, max(frame.height, 1), SHEET_ROWS)):
        frame.slice(start, SHEET_ROWS).write_excel(
            workbook=wb,
            worksheet=name if k == 0 else f"{name}_{k + 1}",
            freeze_panes=(1, 0),
            autofit=frame.height < 5000,
            column_formats={h: f for h, f in headers.values() if f},
            table_style="Table Style Light 9",
            include_header=True,
        )


def assays_frame(assays: Sequence[Assay]) -> pl.DataFrame:
    cols = (
        "batch_id",
        "stream",
        "element",
        "status",
        "value_pct",
        "moisture_pct",
        "bag_id",
        "sample_id",
        "lab",
        "method",
    )
    data = {c: [getattr(a, c) for a in assays] for c in cols}
    schema = {c: (pl.Float64 if c in ("value_pct", "moisture_pct") else pl.String) for c in cols}
    return pl.DataFrame(data, schema=schema)


def write_xlsx(results: Sequence[BatchResult], assays: Sequence[Assay], out: str | Path | io.BytesIO) -> None:
    batches = batches_frame(results)
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
    target = out if isinstance(out, io.BytesIO) else str(out)
    with xlsxwriter.Workbook(target, {"constant_memory": False, "nan_inf_to_errors": True}) as wb:
        _sheet(wb, "summary", summary_frame(batches))
        _sheet(wb, "batches", batches)
        _sheet(wb, "stream_masses", streams_frame(results))
        _sheet(wb, "assays", assays_frame(assays))
        _sheet(wb, "recoveries", recoveries_frame(results))
        _sheet(wb, "balance", balance)
