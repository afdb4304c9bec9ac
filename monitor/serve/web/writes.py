"""The writing pages: log in and out, upload assays, create a shipment.

Every POST needs a live session that logged in with the API token and the session's CSRF token in
the form; anything less is refused with 403 and changes nothing. Assays go through the same
all-or-nothing import as the LIMS inbox and POST /api/assays (Accountant.import_bytes).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from monitor.errors import InputError, StoreError
from monitor.serve.web.context import ImportOutcome, Web
from monitor.serve.web.session import Session, set_cookie
from monitor.serve.webio import client
from monitor.store.query import EVERY, BatchQuery, iso
from monitor.store.rows import decode_batches
from monitor.store.shipments import ShipmentConflict
from monitor.store.sql import ImportedFile

log = logging.getLogger(__name__)

MAX_FORM = 20 * 1024 * 1024
RECENT_IMPORTS = 20  # the assays page lists this many imports, newest first
RECENT_SHIPMENTS = 10  # the shipments page lists this many, newest first


def _refused(w: Web, req: web.Request, why: str, status: int = 403) -> web.Response:
    return w.page(req, "error.html", status=status, title="Refused", message=why, login_link=True)


async def _form(req: web.Request) -> Any:
    if req.content_length is not None and req.content_length > MAX_FORM:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_FORM, actual_size=req.content_length)
    return await req.post()


async def writer(w: Web, req: web.Request) -> tuple[Session | None, Any, str]:
    """(session, form, "") for an allowed write, else (None, form, why it is refused)."""
    s = w.sessions.current(req)
    if s is None or not s.can_write:
        return None, None, "writes need a login with the API token (log in, then send the form again)"
    form = await _form(req)
    if not w.sessions.csrf_ok(req, s, str(form.get("csrf", ""))):
        log.warning("web write without a valid CSRF token: %s %s from %s", req.method, req.path, client(req))
        return None, form, "the form's CSRF token is missing or not this session's: reload the page and send again"
    return s, form, ""


Handler = Callable[[web.Request], Awaitable[web.Response]]


def _form_routes(
    w: Web, page: Handler, act: Callable[[web.Request, Any], Awaitable[web.Response]]
) -> tuple[Handler, Handler]:
    """A write form's GET (its page) and POST: `act` on the form once the writer's session and CSRF are checked."""

    async def show(req: web.Request) -> web.Response:
        return await page(req)

    async def post(req: web.Request) -> web.Response:
        s, form, why = await writer(w, req)
        if s is None:
            return _refused(w, req, why)
        return await act(req, form)

    return show, post


def _login_handlers(w: Web) -> tuple[Any, Any, Any]:
    async def login_page(req: web.Request) -> web.Response:
        s = w.sessions.for_forms(req)
        return w.page(req, "login.html", session=s, error="", next=local_target(req.query.get("next", "/")))

    async def login(req: web.Request) -> web.Response:
        wait = w.sessions.throttled(req)
        if wait:
            return _refused(w, req, f"too many failed logins from this address; try again in {wait} s", 429)
        s = w.sessions.current(req)
        form = await _form(req)
        if s is None or not w.sessions.csrf_ok(req, s, str(form.get("csrf", ""))):
            return _refused(w, req, "the login form's CSRF token is missing or stale: reload the login page")
        new = w.sessions.login(req, str(form.get("token", "")))
        if new is None:
            again = w.sessions.for_forms(req)
            return w.page(req, "login.html", status=401, session=again, error="token not accepted", next="/")
        resp = web.HTTPSeeOther(local_target(str(form.get("next", "/"))))
        set_cookie(req, resp, new)
        raise resp

    async def logout(req: web.Request) -> web.Response:
        s, _, why = await writer(w, req)
        if s is None:
            return _refused(w, req, why)
        w.sessions.end(req)
        raise web.HTTPSeeOther("/")

    return login_page, login, logout


def local_target(target: str) -> str:
    """Only a path on this server (a login never sends a browser elsewhere)."""
    local = target.startswith("/") and target[1:2] not in ("/", "\\") and "\\" not in target
    return target if local and target.isprintable() else "/"


def _assay_handlers(w: Web) -> tuple[Any, Any]:
    async def page(req: web.Request, status: int = 200, error: str = "", done: Any = None) -> web.Response:
        stored = await asyncio.to_thread(w.store.imported_files, RECENT_IMPORTS)
        return w.page(
            req,
            "assays.html",
            status=status,
            session=w.sessions.for_forms(req),
            enabled=w.accountant is not None,
            error=error,
            done=done,
            imports=recent_imports(stored, list(w.imports)),
        )

    async def upload(req: web.Request, form: Any) -> web.Response:
        if w.accountant is None:
            return await page(req, 403, "this server takes no assays (no plant config); upload to the line's monitor")
        field = form.get("file")
        if not isinstance(field, web.FileField):
            return await page(req, 400, "choose a LIMS CSV file to upload")
        data, name = field.file.read(), field.filename or "upload.csv"
        line = str(form.get("line", "")).strip() or None
        stamp = iso(time.time())
        accountant = w.accountant
        try:
            summary = await asyncio.to_thread(lambda: accountant.import_bytes(data, name, line=line))
        except InputError as exc:
            w.imports.append(ImportOutcome(stamp, name, False, str(exc)))
            return await page(req, 400, str(exc))
        except StoreError as exc:
            log.error("web assay upload from %s not stored: %s", client(req), exc)
            return await page(req, 503, "the store refused the write; nothing changed; retry later")
        w.listing.forget()
        if w.settings.on_imported is not None:
            w.settings.on_imported([summary])
        what = (
            "already imported"
            if summary.duplicate_file
            else f"{summary.rows} rows, {len(summary.updated)} lot(s) updated"
        )
        if summary.duplicate_file:  # a file the store took is listed from the store (assay_files)
            w.imports.append(ImportOutcome(stamp, name, True, what))
        log.info("assays uploaded on the web by %s as %s: %d rows", client(req), name, summary.rows)
        return await page(req, done=summary)

    return _form_routes(w, page, upload)


def recent_imports(stored: list[ImportedFile], here: list[ImportOutcome]) -> list[ImportOutcome]:
    """The assay files the store took (from any door: inbox, API, CLI, this page) and the uploads on
    this page the store did not take (refused, or a file imported before), newest first."""
    took = [ImportOutcome(iso(f.imported_at), f.name, True, f"{f.rows} rows") for f in stored]
    return sorted(took + here, key=lambda i: i.at, reverse=True)[:RECENT_IMPORTS]


def _shipment_handlers(w: Web) -> tuple[Any, Any]:
    async def page(req: web.Request, status: int = 200, error: str = "", created: Any = None) -> web.Response:
        lot = req.query.get("lot", "").strip()

        def read() -> list[Any]:  # the lot's bags, or those of the ten latest lots: one page of the store's
            q = BatchQuery.lot(lot) if lot else EVERY
            texts, _ = w.store.batch_page(q, sort="start", desc=True, offset=0, limit=100 if lot else 10)
            lots = decode_batches(texts)
            return w.store.unshipped(list(zip(lots["line"].to_list(), lots["batch_id"].to_list(), strict=True)))

        def recent() -> list[Any]:  # the latest shipments, newest first, with their customers
            return [w.store.shipment(i) for i in w.store.shipment_ids()[-RECENT_SHIPMENTS:][::-1]]

        bags = await asyncio.to_thread(read)
        shipments = await asyncio.to_thread(recent)
        return w.page(
            req,
            "shipments.html",
            status=status,
            session=w.sessions.for_forms(req),
            bags=bags,
            shipments=shipments,
            lot=lot,
            error=error,
            created=created,
        )

    async def create(req: web.Request, form: Any) -> web.Response:
        sid = str(form.get("shipment_id", "")).strip()
        bags = [str(b) for b in form.getall("bag", [])]
        customer = str(form.get("customer", "")).strip()  # optional; checked as the CLI's --customer
        try:
            created = await asyncio.to_thread(lambda: w.store.create_shipment(sid, bags, customer=customer))
        except ShipmentConflict as exc:  # by type: the id or a bag is taken
            return await page(req, 409, str(exc))
        except InputError as exc:
            return await page(req, 400, str(exc))
        except StoreError as exc:
            log.error("shipment %s on the web: the store refused: %s", sid, exc)
            return await page(req, 503, "the store is unavailable; retry later")
        log.info("shipment %s for %r created on the web by %s: %d bags", sid, customer, client(req), len(created.bags))
        return await page(req, created=created)

    return _form_routes(w, page, create)


def add_writes(app: web.Application, w: Web) -> None:
    login_page, login, logout = _login_handlers(w)
    assays, upload = _assay_handlers(w)
    shipments, create = _shipment_handlers(w)
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_get("/assays", assays)
    app.router.add_post("/assays", upload)
    app.router.add_get("/shipments", shipments)
    app.router.add_post("/shipments", create)
