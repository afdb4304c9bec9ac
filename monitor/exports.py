"""One entry point for every report format, used by the CLI and the HTTP API alike."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from monitor.core.results import BatchResult
from monitor.report_pdf import write_pdf
from monitor.report_xlsx import write_xlsx
from monitor.reports import batches_frame, write_csv, write_parquet
from monitor.store import BatchStore

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "parquet": "application/vnd.apache.parquet",
    "pdf": "application/pdf",
}


@dataclass(frozen=True, kw_only=True)
class ReportFilter:
    line: str | None = None
    chemistry: str | None = None
    batch_id: str | None = None
    start_from: float | None = None
    start_to: float | None = None
    include_partial: bool = False

    def describe(self) -> str:
        parts = [
            f"{k}={v}" for k, v in (("line", self.line), ("chemistry", self.chemistry), ("batch", self.batch_id)) if v
        ]
        return ", ".join(parts)


def select(store: BatchStore, f: ReportFilter) -> list[BatchResult]:
    return store.latest(
        line=f.line,
        chemistry=f.chemistry,
        batch_id=f.batch_id,
        start_from=f.start_from,
        start_to=f.start_to,
        include_partial=f.include_partial,
    )


def render(store: BatchStore, results: Sequence[BatchResult], fmt: str, *, period: str = "") -> bytes:
    """The report in `fmt` as bytes."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    buf = io.BytesIO()
    if fmt == "csv":
        text = io.StringIO()
        write_csv(batches_frame(results), text)
        return text.getvalue().encode()
    if fmt == "parquet":
        write_parquet(batches_frame(results), buf)
    elif fmt == "xlsx":
        assays = store.assays_for([r.batch_id for r in results])
        write_xlsx(results, assays, buf)
    else:
        write_pdf(results, buf, period=period)
    return buf.getvalue()
