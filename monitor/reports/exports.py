"""One entry point for every report format, used by the CLI and the HTTP API alike."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl

from monitor.core.results import BatchResult
from monitor.reports.frames import write_csv, write_parquet
from monitor.reports.xlsx import write_xlsx
from monitor.store.rows import RECOVERY_COLUMNS, STREAM_COLUMNS, decode, decode_assays, decode_batches, iso
from monitor.store.sql import Store

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "parquet": "application/vnd.apache.parquet",
    "pdf": "application/pdf",
}


@dataclass(frozen=True, kw_only=True)
class ReportFilter:
    line: str | None = None  # one line, or several separated by commas
    chemistry: str | None = None
    batch_id: str | None = None
    start_from: float | None = None
    start_to: float | None = None
    include_partial: bool = False

    def describe(self) -> str:
        """The filters as a person typed them: line=L1, chemistry=NMC, from=..., to=... ("" for none)."""
        when = (("from", self.start_from), ("to", self.start_to))
        parts = [
            f"{k}={v}" for k, v in (("line", self.line), ("chemistry", self.chemistry), ("batch", self.batch_id)) if v
        ]
        parts += [f"{k}={iso(v)}" for k, v in when if v is not None]
        return ", ".join(parts + ["include partial lots"] * self.include_partial)

    def period(self) -> str:
        """The asked-for span of lot starts ("" when neither end is given: the lots' own span)."""
        if self.start_from is None and self.start_to is None:
            return ""
        lo = iso(self.start_from) if self.start_from is not None else "the first lot"
        hi = f"before {iso(self.start_to)}" if self.start_to is not None else "the last lot"
        return f"lots starting {lo} – {hi}"


def select(store: Store, f: ReportFilter) -> list[BatchResult]:
    return store.latest(**_store_filter(f))


def _store_filter(f: ReportFilter) -> dict[str, Any]:
    return {
        "line": None if f.line is None else [x.strip() for x in f.line.split(",") if x.strip()],
        "chemistry": f.chemistry,
        "batch_id": f.batch_id,
        "start_from": f.start_from,
        "start_to": f.start_to,
        "include_partial": f.include_partial,
    }


@dataclass(frozen=True)
class Report:
    """The frames every format is rendered from (read column-wise from the store's projection)."""

    batches: pl.DataFrame
    streams: pl.DataFrame
    recoveries: pl.DataFrame


def load(store: Store, f: ReportFilter, fmt: str = "xlsx") -> Report:
    """The frames `fmt` needs: only XLSX has stream and recovery sheets; the rest read the batch rows."""
    if fmt != "xlsx":
        batches = load_batches(store, f)
        return Report(batches, pl.DataFrame(schema=dict(STREAM_COLUMNS)), pl.DataFrame(schema=dict(RECOVERY_COLUMNS)))
    batches, streams, recoveries = decode(store.report_texts(**_store_filter(f)))
    return Report(batches, streams, recoveries)


def load_batches(store: Store, f: ReportFilter) -> pl.DataFrame:
    """The batches frame alone (API listings): a third of the reading and parsing of `load`."""
    return decode_batches(batch_texts(store, f))


def batch_texts(store: Store, f: ReportFilter) -> list[str]:
    """The stored rows `load_batches` parses, unparsed: the HTTP API's PDF worker parses them itself."""
    return store.batch_texts(**_store_filter(f))


def render(
    store: Store,
    report: Report,
    fmt: str,
    *,
    f: ReportFilter | None = None,
    plant: str = "",
    progress: Callable[[float, str], None] | None = None,
) -> bytes:
    """The report in `fmt` as bytes; `progress(fraction, what)` as parts are done (XLSX: per sheet).

    `f` (the filter the lots were selected by) and `plant` ([plant] name) go on the PDF's pages.
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

        f = f or ReportFilter()
        write_pdf(report.batches, buf, plant=plant, period=f.period(), filters=f.describe())
    return buf.getvalue()
