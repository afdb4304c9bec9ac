"""What every page handler shares: the store, the settings, the template engine, the sessions, and
the lots listing cached for a moment (30,000 report rows are read once per LISTING_TTL_S, not per page)."""

from __future__ import annotations

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
from monitor.reports.exports import load_batches
from monitor.serve.web import formatting
from monitor.serve.web.session import Session, Sessions, set_cookie
from monitor.store.query import EVERY, BatchQuery
from monitor.store.sql import Store

HERE = Path(__file__).parent
LISTING_TTL_S = 2.0
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
    """The report rows of a query (latest versions), each query's re-read at most every LISTING_TTL_S;
    the last CACHED queries are kept (a page, its sort and its next pages share one read)."""

    CACHED = 16

    def __init__(self, store: Store, clock: Callable[[], float] = time.monotonic) -> None:
        self.store, self.clock = store, clock
        self._lock = threading.Lock()
        self._frames: dict[BatchQuery, tuple[float, pl.DataFrame]] = {}

    def frame(self, q: BatchQuery = EVERY) -> pl.DataFrame:
        """The rows (call from a thread: the first read of a large store takes a while)."""
        with self._lock:
            hit = self._frames.get(q)
            if hit is not None and self.clock() - hit[0] <= LISTING_TTL_S:
                return hit[1]
        frame = load_batches(self.store, q)
        with self._lock:
            self._frames.pop(q, None)
            self._frames[q] = (self.clock(), frame)
            while len(self._frames) > self.CACHED:
                self._frames.pop(next(iter(self._frames)))
        return frame

    def forget(self) -> None:
        """After a write through these pages: the next page reads the store again."""
        with self._lock:
            self._frames.clear()


class Web:
    def __init__(
        self,
        store: Store,
        settings: WebSettings,
        *,
        accountant: Accountant | None,
        shipments_path: Path | None,
    ) -> None:
        self.store, self.settings, self.accountant = store, settings, accountant
        self.shipments_path = shipments_path  # the SQLite file shipments live in; None: not here
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
