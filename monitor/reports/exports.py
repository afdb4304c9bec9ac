"""One entry point for every report format, used by the CLI and the HTTP API alike."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from monitor.reports.frames import write_csv, write_parquet
from monitor.reports.xlsx import write_xlsx
from monitor.store.query import BatchQuery
from monitor.store.rows import RECOVERY_COLUMNS, STREAM_COLUMNS, decode, decode_assays, decode_batches
from monitor.store.sql import Store

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "parquet": "application/vnd.apache.parquet",
    "pdf": "application/pdf",
}


@dataclass(frozen=True)
class Report:
    """The frames every format is rendered from (read column-wise from the store's projection)."""

    batches: pl.DataFrame
    streams: pl.DataFrame
    recoveries: pl.DataFrame


def load(store: Store, q: BatchQuery, fmt: str = "xlsx") -> Report:
    """The frames `fmt` needs: only XLSX has stream and recovery sheets; the rest read the batch rows."""
    if fmt != "xlsx":
        batches = load_batches(store, q)
        return Report(batches, pl.DataFrame(schema=dict(STREAM_COLUMNS)), pl.DataFrame(schema=dict(RECOVERY_COLUMNS)))
    batches, streams, recoveries = decode(store.report_texts(q))
    return Report(batches, streams, recoveries)


def load_batches(store: Store, q: BatchQuery) -> pl.DataFrame:
    """The batches frame alone (API listings): a third of the reading and parsing of `load`."""
    return decode_batches(store.batch_texts(q))


def render(
    store: Store,
    report: Report,
    fmt: str,
    *,
    q: BatchQuery | None = None,
    plant: str = "",
    progress: Callable[[float, str], None] | None = None,
) -> bytes:
    """The report in `fmt` as bytes; `progress(fraction, what)` as parts are done (XLSX: per sheet).

    `q` (the query the lots were selected by) and `plant` ([plant] name) go on the PDF's pages.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    buf = io.BytesIO()
    if fmt == "csv":
        text = io.StringIO()
        write_csv(report.batches, text)
        return text.getvalue().encode()
    if fmt == "parquet":
        write_parquet(report.batches, buf)
    elif fmt == "xlsx":
        assays = decode_assays(store.assay_sheets(report.batches["batch_id"].to_list()))
        write_xlsx(report.batches, report.streams, report.recoveries, assays, buf, progress=progress)
    else:
        from monitor.reports.pdf import write_pdf  # noqa: PLC0415 - matplotlib and reportlab load only for PDFs

        q = q or BatchQuery()
        write_pdf(report.batches, buf, plant=plant, period=q.period(), filters=q.describe())
    return buf.getvalue()
