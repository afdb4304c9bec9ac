"""Passport routes beside /api: signed lot and shipment passports, and recording a shipment.

GET /api/batches/{id}/passport and GET /api/shipments/{id}/passport are reads; POST /api/shipments
is a write and needs `Authorization: Bearer <BLACKMASS_API_TOKEN>` like every write. Errors are
JSON {"error", "detail"}; a refused shipment changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from monitor.errors import InputError, MonitorError
from monitor.passport import issue
from monitor.passport.settings import KEY_ENV, PassportSettings
from monitor.store.shipments import ShipmentConflict
from monitor.store.sql import Store
from monitor.webio import client, gate, parse_json, read_body

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
_STATUS: dict[int, type[web.HTTPException]] = {
    400: web.HTTPBadRequest,
    403: web.HTTPForbidden,
    404: web.HTTPNotFound,
    409: web.HTTPConflict,
    503: web.HTTPServiceUnavailable,
}


def _error(status: int, error: str, detail: str) -> web.HTTPException:
    return _STATUS[status](text=json.dumps({"error": error, "detail": detail}), content_type="application/json")


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(data, ensure_ascii=False), status=status, content_type="application/json")


def add_passport_routes(
    app: web.Application,
    store: Store,
    settings: PassportSettings,
    *,
    token: str | None,
    clock: Callable[[], float] = time.time,
) -> None:
    def key() -> Any:
        try:
            return issue.signing_key(settings)
        except InputError as exc:  # the detail (a path, a mode) stays in the server's log
            log.error("passport signing unavailable: %s", exc)
            raise _error(
                503,
                "passport_signing_unavailable",
                f"this server cannot sign passports now (the signing key: {KEY_ENV} or [passport] key names its "
                "file); the server's log says why",
            ) from None

    async def lot(req: web.Request) -> web.Response:
        batch_id = req.match_info["batch_id"]
        line = req.query.get("line")
        try:
            doc = await asyncio.to_thread(issue.lot_document, store, batch_id, settings, key(), now=clock(), line=line)
        except InputError as exc:
            status = 404 if "not in the store" in exc.problem else 400
            raise _error(status, "not_found" if status == 404 else "bad_request", str(exc)) from None  # noqa: PLR2004 - HTTP status
        return _json(doc)

    async def shipment(req: web.Request) -> web.Response:
        sid = req.match_info["shipment_id"]
        try:
            doc = await asyncio.to_thread(issue.shipment_document, store, sid, settings, key(), now=clock())
        except InputError as exc:
            status = 404 if exc.problem == "not found" else 400
            raise _error(status, "not_found" if status == 404 else "bad_request", str(exc)) from None  # noqa: PLR2004 - HTTP status
        return _json(doc)

    auth = gate(app, token)

    async def create(req: web.Request) -> web.Response:
        auth.check(req)
        raw = await read_body(req, MAX_BODY)
        body = parse_json(raw, "{shipment_id, bags: [...]}")
        sid, bags = (body.get("shipment_id"), body.get("bags")) if isinstance(body, dict) else (None, None)
        if not isinstance(sid, str) or not isinstance(bags, list) or not all(isinstance(b, str) for b in bags):
            raise _error(400, "bad_request", 'body: expected {"shipment_id": "SHIP-…", "bags": ["bag id", …]}')

        def record() -> dict[str, Any]:
            s = store.create_shipment(sid, bags, now=clock())
            return {
                "shipment_id": s.shipment_id,
                "bags": len(s.bags),
                "net_kg": round(sum(b.net_kg for b in s.bags), 1),  # kg to 0.1, as every document states it
                "lots": sorted({b.batch_id for b in s.bags}),
            }

        try:
            out = await asyncio.to_thread(record)
        except ShipmentConflict as exc:
            raise _error(409, "conflict", str(exc)) from None
        except MonitorError as exc:
            raise _error(400, "invalid_shipment", str(exc)) from None
        log.info("shipment %s recorded by %s: %d bags", out["shipment_id"], client(req), out["bags"])
        return _json(out, status=201)

    app.router.add_get("/api/batches/{batch_id}/passport", lot)
    app.router.add_get("/api/shipments/{shipment_id}/passport", shipment)
    app.router.add_post("/api/shipments", create)
