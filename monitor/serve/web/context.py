"""What every page handler shares: the store, the settings, the template engine, the sessions, and
every lot's report rows in memory (30,000 rows read at most once per LISTING_TTL_S, never per page)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import polars as pl
from aiohttp import web

from monitor.accounting.assay_import import Accountant, ImportSummary
from monitor.core.results import LiveBatch
from monitor.errors import MonitorError
from monitor.reports.exports import load_batches
from monitor.serve.web import formatting, listing
from monitor.serve.web.session import Session, Sessions, set_cookie
from monitor.store.query import EVERY
from monitor.store.rows import decode_batches
from monitor.store.sql import Store

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
LISTING_TTL_S = 15.0
# HTML pages: scripts and styles from this server only; forms post back here only
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


@dataclass(frozen=True, kw_only=True)
class WebSettings:
    token: str | None = None  # BLACKMASS_API_TOKEN: logs a browser in for writes
    read_token: str | None = None  # [http] read_token: when set, reading needs a login too
    plant: str = ""
    grafana_url: str | None = None  # [http] grafana_url: "open in Grafana" links
    live: Callable[[], LiveBatch | None] | None = None  # the running lot (blackmass run), None: serve
    live_line: str = ""
    on_imported: Callable[[list[ImportSummary]], None] | None = None  # told of each upload (run: /metrics)


@dataclass(frozen=True, slots=True)
class ImportOutcome:
    """One upload made on the assays page, as its row in "recent imports"."""

    at: str
    name: str
    ok: bool
    detail: str


class Listing:
    """Every lot's report rows (latest versions, partial ones too), kept in memory for the pages.

    Rows older than LISTING_TTL_S are still answered while one background thread reads the store
    again (stale-while-revalidate), so a busy page costs at most one store read per LISTING_TTL_S,
    an idle one none. Without rows in memory (after a start, or a write made on these pages:
    `forget`) the lots page is asked of the store itself, one page sorted and counted in SQL
    (`page`), while the background read fills the memory again; a page never waits for the
    0.5-0.85 s read of 30,000 lots unless it filters or sorts by what only the rows hold.
    """

    def __init__(self, store: Store, clock: Callable[[], float] = time.monotonic) -> None:
        self.store, self.clock = store, clock
        self._lock = threading.Lock()  # guards the fields below
        self._reading = threading.Lock()  # one store read at a time
        self._frame: pl.DataFrame | None = None
        self._choices: dict[str, list[str]] | None = None  # the filters' choices, kept through `forget`
        self._at = 0.0
        self._generation = 0  # counts `forget`s: a read begun before one is not kept
        self._refreshing = False

    def held(self, *, refresh: bool = True) -> pl.DataFrame | None:
        """The rows in memory, or None; stale or missing rows start one background read (`refresh`)."""
        with self._lock:
            frame = self._frame
            stale = frame is None or self.clock() - self._at > LISTING_TTL_S
        if refresh and stale:
            self.start_refresh()
        return frame

    def start_refresh(self) -> None:
        """One background read of the store (none when one runs already)."""
        with self._lock:
            start, self._refreshing = not self._refreshing, True
        if start:
            threading.Thread(target=self.refresh, name="web-listing", daemon=True).start()

    def frame(self) -> pl.DataFrame:
        """The rows (call from a thread: without rows in memory, this reads the store)."""
        frame = self.held(refresh=False)
        if frame is None:
            return self.read()
        self.held()  # stale rows: one background read
        return frame

    def page(self, q: listing.LotQuery) -> tuple[pl.DataFrame, int, dict[str, list[str]]]:
        """One lots page: its rows, how many lots match, the filters' choices (call from a thread)."""
        every = self.held(refresh=False)
        if every is None and listing.in_store(q):
            texts, total = self.store.batch_page(
                listing.batch_query(q), sort=listing.SORTS[q.sort], desc=q.desc, **listing.window(q)
            )
            choices = self.choices(None)
            self.held()  # then the background read (a SQLite store answers one read at a time)
            return decode_batches(texts), total, choices
        every = self.frame() if every is None else every
        self.held()  # stale rows: one background read
        rows, total = listing.select(every, q)
        return rows, total, self.choices(every)

    def choices(self, every: pl.DataFrame | None) -> dict[str, list[str]]:
        """The filters' choices: those of the last rows read (a write on the pages changes none), else
        the store's lines, chemistries and feed forms (no suppliers until the rows are read)."""
        with self._lock:
            known = self._choices
        if known is not None:
            return known
        return listing.choices(every) if every is not None else {**self.store.listing_choices(), "supplier": []}

    def read(self) -> pl.DataFrame:
        """Read the store now (unless a read that began after this call was made already did)."""
        asked = self.clock()
        with self._reading:
            with self._lock:
                if self._frame is not None and self._at >= asked:
                    return self._frame
                generation = self._generation
            frame = load_batches(self.store, EVERY)
            choices = listing.choices(frame)
            with self._lock:
                if generation == self._generation:  # no write through the pages since the read began
                    self._frame, self._at, self._choices = frame, self.clock(), choices
            return frame

    def refresh(self) -> None:
        """Read the store again; a failure is logged and the rows in memory stay."""
        try:
            self.read()
        except MonitorError as exc:  # the rows in memory stay; the next page asks again
            log.warning("web pages: the lots could not be read again: %s", exc)
        finally:
            with self._lock:
                self._refreshing = False

    def forget(self) -> None:
        """After a write through these pages: the next page reads the store again."""
        with self._lock:
            self._frame = None
            self._generation += 1

    def settle(self) -> None:
        """Until no store read runs (benchmarks; `stop`)."""
        with self._reading:
            pass

    async def stop(self, _: web.Application) -> None:
        """Wait for a background read to end (the store closes after the app)."""
        await asyncio.to_thread(self.settle)


class Web:
    def __init__(
        self,
        store: Store,
        settings: WebSettings,
        *,
        accountant: Accountant | None,
    ) -> None:
        self.store, self.settings, self.accountant = store, settings, accountant  # shipments: tables of the store
        self.sessions = Sessions(settings.token, settings.read_token)
        self.listing = Listing(store)
        self.imports: deque[ImportOutcome] = deque(maxlen=20)
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,  # every value is text unless a template says otherwise (none does)
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(formatting.FILTERS)

    def page(
        self, req: web.Request, template: str, *, status: int = 200, session: Session | None = None, **ctx: Any
    ) -> web.Response:
        """A rendered page; `session` (a page with forms) is set as the cookie when it is new."""
        current = self.sessions.current(req)
        forms = session or current
        html = self.env.get_template(template).render(
            plant=self.settings.plant,
            path=req.path,
            logged_in=bool(current and current.can_write),
            csrf=forms.csrf if forms else "",
            **ctx,
        )
        resp = web.Response(text=html, status=status, content_type="text/html")
        resp.headers["Content-Security-Policy"] = CSP
        resp.headers["Cache-Control"] = "no-store"
        if session is not None and req.cookies.get("bm_session") != session.sid:
            set_cookie(req, resp, session)
        return resp
