"""The HTTP API beside /metrics: batches, their history, report downloads and assay uploads.

Reads go to the store; the one write (POST /api/assays) needs `Authorization: Bearer <token>`
with the token from BLACKMASS_API_TOKEN — with no token configured every write is refused.
Batch ids and filters only ever reach SQL as parameters; formats come from a fixed set.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import math
import multiprocessing
import os
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from monitor.accounting.assay_import import Accountant, ImportSummary
from monitor.errors import InputError, NotFoundError
from monitor.reports.exports import FORMATS, load, load_batches, render
from monitor.reports.frames import batch_row, human, human_row
from monitor.reports.human import human_json
from monitor.reports.recovery import element_table
from monitor.serve.read_cache import ReadCache, RowJson
from monitor.serve.webio import client, gate, json_error, read_body
from monitor.store.batches import BatchStore
from monitor.store.query import BatchQuery, parse_query
from monitor.store.rows import decode_batches
from monitor.store.sql import Store
from monitor.store.url import sqlite_path

log = logging.getLogger(__name__)

MAX_UPLOAD = 20 * 1024 * 1024
NO_ASSAYS_HERE = (
    "this server (blackmass serve) only reads; assays go to the line's monitor (blackmass run: "
    "POST http://<monitor>:<[http] port>/api/assays?line=<line>) or into the store directly: "
    "blackmass assays import FILE --store URL --line <line>"
)


RENDER_WORKERS = 2


_READERS: dict[Path, BatchStore] = {}  # in the PDF worker: its own read-only connection per SQLite store


def _pdf_bytes(rows: list[str] | Path, q: BatchQuery, plant: str) -> bytes:
    """The PDF report (runs in the PDF worker process) of the stored batch rows `rows`, or of those
    `q` selects from the SQLite store at that path, read through the worker's own connection: the
    server's one connection, which every read waits for, is not held for a report's rows."""
    from monitor.reports.pdf import write_pdf  # noqa: PLC0415 - matplotlib and reportlab load in the worker

    if isinstance(rows, Path):
        if rows not in _READERS:
            _READERS[rows] = BatchStore(rows, read_only=True)
        rows = _READERS[rows].batch_texts(q)
    frame = decode_batches(rows)
    buf = io.BytesIO()
    write_pdf(frame, buf, plant=plant, period=q.period(), filters=q.describe())
    return buf.getvalue()


def rows_json(texts: list[str]) -> list[str]:
    """Stored batch rows -> one JSON object each, as polars writes a listing (the same text)."""
    lines = human(decode_batches(texts)).write_ndjson()
    return lines[:-1].split("\n") if lines else []  # JSON escapes a newline inside a string


def _clean(x: Any) -> Any:
    """JSON without NaN: unknown values are null."""
    if isinstance(x, float):
        return None if math.isnan(x) or math.isinf(x) else x
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    return x


def _json_text(data: Any) -> str:
    """JSON for people: NaN as null, kg to 0.1, ratios to 4 decimals, times ISO 8601 UTC."""
    return json.dumps(human_json(_clean(data)), ensure_ascii=False)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(text=_json_text(data), status=status, content_type="application/json")


def batch_query(req: web.Request) -> BatchQuery:
    """The request's filters (store/query.py FIELDS) as the one BatchQuery; InputError (400) naming a bad one."""
    return parse_query({k: req.query.getall(k) for k in req.query}, label=lambda k: f"query '{k}'")


def add_api(
    app: web.Application,
    store: Store,
    accountant: Accountant | None,
    *,
    token: str | None,
    on_imported: Callable[[list[ImportSummary]], None] | None = None,
    plant: str = "",
) -> None:
    """Register the /api routes on `app`: batches and reports (read), the assay upload (write)."""
    _add_read_routes(app, store, plant)
    _add_assay_upload(app, accountant, token, on_imported)


class RenderPools:
    """Reports render in their own small pool: 40 PDFs at once queue there and leave the default pool
    (batch reads) free; PDFs in one worker process, started on the first (a server that never serves
    one never forks). Both stop with the app: the PDF worker is waited for (a render under way
    finishes, queued ones are dropped), so no process outlives the server; the forkserver and the
    resource tracker multiprocessing started end when the server's process does."""

    def __init__(self, app: web.Application) -> None:
        self.threads = ThreadPoolExecutor(max_workers=RENDER_WORKERS, thread_name_prefix="report")
        self.one_pdf = asyncio.Semaphore(1)
        self._pdfs: ProcessPoolExecutor | None = None
        app.on_cleanup.append(self.stop)

    def pdf(self) -> ProcessPoolExecutor:
        if self._pdfs is None:
            self._pdfs = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("forkserver"),
                initializer=os.nice,  # a report can wait; the reads beside it are what people watch
                initargs=(10,),
            )
        return self._pdfs

    async def stop(self, _: web.Application) -> None:
        self.threads.shutdown(wait=False, cancel_futures=True)
        if self._pdfs is not None:
            pdfs, self._pdfs = self._pdfs, None
            await asyncio.to_thread(pdfs.shutdown, wait=True, cancel_futures=True)


def _add_read_routes(app: web.Application, store: Store, plant: str) -> None:
    """GET /api/batches, /api/batches/{batch_id}, /api/recoveries and /api/reports/batches.{fmt}."""
    pools = RenderPools(app)
    renders, one_pdf = pools.threads, pools.one_pdf
    cache = ReadCache(store)  # answers kept while the store is unchanged (serve/read_cache.py)
    sqlite = sqlite_path(store.url)  # the PDF worker reads a SQLite store's rows itself
    row_json = RowJson(rows_json)  # and each stored row's JSON

    async def batches(req: web.Request) -> web.Response:
        q = batch_query(req)

        # The report projection, written as JSON by polars: a month of a plant is hundreds of
        # batches, and decoding every full result then dumping dicts took 3x as long (same rows; tested).
        def rows() -> str:
            texts = store.batch_texts(q)
            return f'{{"count": {len(texts)}, "batches": {row_json.array(texts)}}}'

        key = ("batches", q)  # a kept answer is served on the loop: no thread hand-offs to wait for
        text = cache.peek(key) or await asyncio.to_thread(cache.get, key, rows)
        return web.Response(text=text, content_type="application/json")

    async def report(req: web.Request) -> web.Response:
        fmt = req.match_info["fmt"]
        if fmt not in FORMATS:
            raise json_error(404, "not_found", f"no report format {fmt!r}; formats: {', '.join(FORMATS)}")
        q = batch_query(req)

        def make() -> bytes:
            return render(store, load(store, q, fmt), fmt, q=q, plant=plant)

        loop = asyncio.get_running_loop()
        if fmt == "pdf":  # the heaviest render leaves the process: it would hold the GIL the reads need
            async with one_pdf:  # and the rows of a queued one are read only when its turn comes
                rows: list[str] | Path = (
                    sqlite if sqlite is not None else await loop.run_in_executor(renders, store.batch_texts, q)
                )
                data = await loop.run_in_executor(pools.pdf(), _pdf_bytes, rows, q, plant)
        else:
            data = await loop.run_in_executor(renders, make)
        return web.Response(
            body=data,
            content_type=FORMATS[fmt].split(";")[0],
            headers={"Content-Disposition": f'attachment; filename="batches.{fmt}"'},
        )

    async def recoveries(req: web.Request) -> web.Response:
        """Element recovery of the filtered lots: the PDF's and XLSX's numbers (reports/recovery.py)."""
        q = batch_query(req)

        def answer() -> str:
            table = element_table(load_batches(store, q))
            return _json_text({"filters": q.describe(), "elements": human(table).to_dicts()})

        key = ("recoveries", q)
        text = cache.peek(key) or await asyncio.to_thread(cache.get, key, answer)
        return web.Response(text=text, content_type="application/json")

    app.router.add_get("/api/batches", batches)
    app.router.add_get("/api/recoveries", recoveries)
    app.router.add_get("/api/batches/{batch_id}", _batch_route(store))
    app.router.add_get("/api/reports/batches.{fmt}", report)


def _batch_route(store: Store) -> Callable[[web.Request], Awaitable[web.Response]]:
    """GET /api/batches/{batch_id}: the lot's latest version, in full, and its history."""

    async def batch(req: web.Request) -> web.Response:
        batch_id = req.match_info["batch_id"]
        line = req.query.get("line")
        found = await asyncio.to_thread(store.latest, BatchQuery.lot(batch_id, line))
        if not found:
            where = f"batch {batch_id!r}" + (f" on line {line!r}" if line else "")
            raise NotFoundError(where, "not in the store", "GET /api/batches lists the batch ids")
        latest = found[-1]
        history = await asyncio.to_thread(store.history, latest.line, batch_id)
        return _json(
            {
                "batch": human_row(batch_row(latest)),
                "detail": asdict(latest),
                "history": [
                    {"version": r.version, "reason": reason, "recorded_at": when, "batch": human_row(batch_row(r))}
                    for r, reason, when in history
                ],
            }
        )

    return batch


def _add_assay_upload(
    app: web.Application,
    accountant: Accountant | None,
    token: str | None,
    on_imported: Callable[[list[ImportSummary]], None] | None,
) -> None:
    """POST /api/assays: an authenticated LIMS CSV, imported all rows or none."""

    auth = gate(app, token)

    async def post_assays(req: web.Request) -> web.Response:
        if accountant is None:  # said first: no token would make this server take them
            raise json_error(403, "forbidden", NO_ASSAYS_HERE)
        auth.check(req)
        data = await read_body(req, MAX_UPLOAD)
        name = f"api-upload-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S.%f')}.csv"
        try:
            line = req.query.get("line") or None  # else the file's line column, else the store's only line
            summary = await asyncio.to_thread(lambda: accountant.import_bytes(data, name, line=line))
        except InputError as exc:  # a StoreError is the app's 503 (webio.error_answer)
            raise json_error(400, "invalid_assays", str(exc)) from exc
        log.info("assays uploaded by %s as %s: %d rows", client(req), name, summary.rows)
        if on_imported is not None:
            on_imported([summary])
        return _json(
            {
                "rows": summary.rows,
                "duplicate_file": summary.duplicate_file,
                "updated": [
                    {"batch_id": r.batch_id, "version": r.version, "assay_status": r.assay_status}
                    for r in summary.updated
                ],
                "pending": list(summary.pending),
            },
            status=200,
        )

    app.router.add_post("/api/assays", post_assays)
