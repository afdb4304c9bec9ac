"""Passport routes beside /api: signed lot and shipment passports, and recording a shipment.

GET /api/batches/{id}/passport and GET /api/shipments/{id}/passport are reads; POST /api/shipments
is a write and needs `Authorization: Bearer <BLACKMASS_API_TOKEN>` through the app's one gate, like
every write. Errors are the API's (serve/webio.py): an unknown lot or shipment is a NotFoundError,
hence 404; a refused shipment changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from monitor.errors import InputError
from monitor.passport import issue
from monitor.passport.settings import KEY_ENV, PassportSettings
from monitor.serve.webio import client, gate, json_error, json_response, parse_json, read_body
from monitor.store.shipments import ShipmentConflict
from monitor.store.sql import Store

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024


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
            raise json_error(
                503,
                "passport_signing_unavailable",
                f"this server cannot sign passports now (the signing key: {KEY_ENV} or [passport] key names its "
                "file); the server's log says why",
            ) from None

    async def lot(req: web.Request) -> web.Response:
        batch_id, line = req.match_info["batch_id"], req.query.get("line")
        doc = await asyncio.to_thread(issue.lot_document, store, batch_id, settings, key(), now=clock(), line=line)
        return json_response(doc)

    async def shipment(req: web.Request) -> web.Response:
        sid = req.match_info["shipment_id"]
        doc = await asyncio.to_thread(issue.shipment_document, store, sid, settings, key(), now=clock())
        return json_response(doc)

    auth = gate(app, token)

    async def create(req: web.Request) -> web.Response:
        auth.check(req)
        raw = await read_body(req, MAX_BODY)
        body = parse_json(raw, "{shipment_id, bags: [...], customer?}")
        sid, bags = (body.get("shipment_id"), body.get("bags")) if isinstance(body, dict) else (None, None)
        customer = body.get("customer", "") if isinstance(body, dict) else ""
        if not isinstance(sid, str) or not isinstance(bags, list) or not all(isinstance(b, str) for b in bags):
            raise json_error(400, "bad_request", 'body: expected {"shipment_id": "SHIP-…", "bags": ["bag id", …]}')
        if not isinstance(customer, str):  # optional; its text is checked as the CLI's --customer is
            raise json_error(400, "bad_request", 'body: "customer" expected a text like "ACME", got ' + repr(customer))

        def record() -> dict[str, Any]:
            s = store.create_shipment(sid, bags, customer=customer, now=clock())
            return {
                "shipment_id": s.shipment_id,
                "customer": s.customer,
                "bags": len(s.bags),
                "net_kg": round(sum(b.net_kg for b in s.bags), 1),  # kg to 0.1, as every document states it
                "lots": sorted({b.batch_id for b in s.bags}),
            }

        try:
            out = await asyncio.to_thread(record)
        except ShipmentConflict as exc:
            raise json_error(409, "conflict", str(exc)) from None
        except InputError as exc:
            raise json_error(400, "invalid_shipment", str(exc)) from None
        log.info("shipment %s recorded by %s: %d bags", out["shipment_id"], client(req), out["bags"])
        return json_response(out, status=201)

    app.router.add_get("/api/batches/{batch_id}/passport", lot)
    app.router.add_get("/api/shipments/{shipment_id}/passport", shipment)
    app.router.add_post("/api/shipments", create)
