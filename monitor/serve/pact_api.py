"""The PACT v3 REST API of `serve`, over HTTPS only: /auth/token, /.well-known/openid-configuration,
GET /3/footprints, GET /3/footprints/{id}, POST /3/events.

A client sees only the footprints of the shipments sold to its customer and of the lots they came
from; any other id answers 404 NoSuchFootprint, exactly as an id that does not exist. Errors are
v3 bodies {"code", "message"}: BadRequest 400, TokenExpired 401, AccessDenied 403,
NoSuchFootprint 404, NotImplemented 400, InternalError 500; this package's errors are mapped by type
(pact_answer), never by their text. Without TLS the routes are not mounted at all.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from monitor.accounting.footprints import FootprintContext, customer_footprints
from monitor.errors import InputError, MonitorError, NotFoundError
from monitor.serve.pact_auth import Grant, Tokens, basic_credentials, check_secret
from monitor.serve.pact_events import EventError, Outbox, answer_request, cloud_event, parse_event
from monitor.serve.pact_query import QueryError, matches, page, parse_query
from monitor.serve.webio import client, parse_json, read_body
from monitor.store.footprints import Issued, PactClient
from monitor.store.sql import Store

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.Response]]

MAX_EVENT = 1024 * 1024
_STATUS: dict[int, type[web.HTTPException]] = {
    400: web.HTTPBadRequest,
    401: web.HTTPUnauthorized,
    403: web.HTTPForbidden,
    404: web.HTTPNotFound,
    500: web.HTTPInternalServerError,
}
NO_STORE = {"Cache-Control": "no-store"}


def pact_error(status: int, code: str, message: str, **headers: str) -> web.HTTPException:
    body = json.dumps({"code": code, "message": message})
    return _STATUS[status](text=body, content_type="application/json", headers={**NO_STORE, **headers})


def _json(data: Any, **headers: str) -> web.Response:
    return web.Response(
        text=json.dumps(data, ensure_ascii=False), content_type="application/json", headers={**NO_STORE, **headers}
    )


@dataclass
class PactService:
    store: Store
    ctx: FootprintContext
    tokens: Tokens
    outbox: Outbox = field(default_factory=Outbox)
    file_clients: Sequence[PactClient] = ()
    clock: Callable[[], float] = time.time

    def find_client(self, client_id: str) -> PactClient | None:
        return next((c for c in self.file_clients if c.client_id == client_id), None) or self.store.pact_client(
            client_id
        )

    def endpoints(self, customer: str) -> list[str]:
        clients = [*self.file_clients, *self.store.pact_clients(customer)]
        return sorted({c.events_url for c in clients if c.customer == customer and c.events_url})

    def footprints(self, customer: str) -> list[dict[str, Any]]:
        """The customer's footprints, brought up to date; new ones are announced (PublishedEvent)."""
        docs, fresh = customer_footprints(self.store, customer, self.ctx, now=self.clock())
        self.publish(customer, fresh)
        return docs

    def publish(self, customer: str, fresh: Sequence[Issued]) -> None:
        if not fresh:
            return
        event = cloud_event("PublishedEvent", self.ctx.pact.base_url, {"pfIds": [i.id for i in fresh]}, self.clock())
        for url in self.endpoints(customer):
            self.outbox.post(url, event)

    def customers(self) -> list[str]:
        return sorted({c.customer for c in [*self.file_clients, *self.store.pact_clients()] if c.events_url})


def _grant(svc: PactService, req: web.Request) -> Grant:
    header = req.headers.get("Authorization", "")
    if not header.startswith("Bearer ") or not header[7:].strip():
        raise pact_error(403, "AccessDenied", "expected Authorization: Bearer <access token from POST /auth/token>")
    found = svc.tokens.check(header[7:].strip())
    if found == "expired":
        raise pact_error(401, "TokenExpired", "the access token has expired; get a new one from POST /auth/token")
    if not isinstance(found, Grant):
        log.warning("PACT: unknown bearer token from %s on %s", client(req), req.path)
        raise pact_error(403, "AccessDenied", "invalid access token; get one from POST /auth/token")
    return found


async def _token(svc: PactService, req: web.Request) -> web.Response:
    form = await req.post()
    if form.get("grant_type") != "client_credentials":
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "unsupported_grant_type", "error_description": "expected client_credentials"}),
            content_type="application/json",
            headers=NO_STORE,
        )
    creds = basic_credentials(req.headers.get("Authorization"))
    known = await asyncio.to_thread(svc.find_client, creds[0]) if creds else None
    ok = known is not None and creds is not None and await asyncio.to_thread(check_secret, creds[1], known.secret_hash)
    if not ok or known is None:
        log.warning("PACT: client authentication failed from %s", client(req))
        raise web.HTTPUnauthorized(
            text=json.dumps({"error": "invalid_client", "error_description": "client authentication failed"}),
            content_type="application/json",
            headers={**NO_STORE, "WWW-Authenticate": 'Basic realm="pact"'},
        )
    return _json(svc.tokens.issue(known))


async def _openid(req: web.Request) -> web.Response:
    base = f"https://{req.host}"
    return _json(
        {
            "issuer": base,
            "token_endpoint": f"{base}/auth/token",
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "grant_types_supported": ["client_credentials"],
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["none"],
            "jwks_uri": f"{base}/.well-known/jwks.json",
        }
    )


async def _jwks(_: web.Request) -> web.Response:
    return _json({"keys": []})  # tokens are opaque: nothing to verify locally


async def _list(svc: PactService, req: web.Request) -> web.Response:
    grant = _grant(svc, req)
    items = list(req.query.items())
    try:
        q = parse_query(items)
    except QueryError as exc:
        raise pact_error(400, exc.code, str(exc)) from None
    docs = await asyncio.to_thread(svc.footprints, grant.customer)
    found = [d for d in docs if matches(d, q)]
    chunk, link = page(found, q, f"https://{req.host}/3/footprints", items)
    return _json({"data": chunk}, **({"Link": link} if link else {}))


async def _get(svc: PactService, req: web.Request) -> web.Response:
    grant = _grant(svc, req)
    fid = req.match_info["id"]
    docs = await asyncio.to_thread(svc.footprints, grant.customer)
    doc = next((d for d in docs if d.get("id") == fid), None)
    if doc is None:  # never says whether the id exists for someone else
        raise pact_error(404, "NoSuchFootprint", f"no footprint with id {fid[:80]!r} for this client")
    return _json({"data": doc})


async def _events(svc: PactService, req: web.Request) -> web.Response:
    grant = _grant(svc, req)
    raw = await read_body(req, MAX_EVENT)
    try:
        kind, event = parse_event(parse_json(raw, "a CloudEvent"))
    except EventError as exc:
        raise pact_error(400, "BadRequest", f"body: {exc}") from None
    if kind == "RequestCreatedEvent":
        docs = await asyncio.to_thread(svc.footprints, grant.customer)
        answer = answer_request(event, docs, svc.ctx.pact.base_url, svc.clock())
        targets = await asyncio.to_thread(svc.endpoints, grant.customer)
        for url in targets:
            svc.outbox.post(url, answer)
        if not targets:
            log.warning("PACT request %s of %s: no events endpoint registered", event["id"], grant.customer)
    log.info("PACT %s %s from client %s", kind, event["id"], grant.client_id)
    return _json({"status": "accepted", "message": f"{kind} {event['id']} processed"})


def pact_answer(req: web.Request, exc: MonitorError) -> web.HTTPException:
    """This package's error as a v3 body, by its type (as serve/webio.py's error_answer does for
    /api): NotFoundError NoSuchFootprint 404, InputError BadRequest 400, any other InternalError 500."""
    if isinstance(exc, NotFoundError):
        return pact_error(404, "NoSuchFootprint", str(exc))
    if isinstance(exc, InputError):
        return pact_error(400, "BadRequest", str(exc))
    log.error("PACT %s %s from %s failed: %s", req.method, req.path, client(req), exc)
    return pact_error(500, "InternalError", f"{req.method} {req.path}: failed; the server's log says why")


def _routes(svc: PactService) -> list[web.RouteDef]:
    def bound(handler: Callable[[PactService, web.Request], Awaitable[web.Response]]) -> Handler:
        async def answer(req: web.Request) -> web.Response:
            try:
                return await handler(svc, req)
            except MonitorError as exc:  # before the app's middleware, which answers in /api's body
                raise pact_answer(req, exc) from exc

        return answer

    return [
        web.post("/auth/token", bound(_token)),
        web.get("/.well-known/openid-configuration", _openid),
        web.get("/.well-known/jwks.json", _jwks),
        web.get("/3/footprints", bound(_list)),
        web.get("/3/footprints/{id}", bound(_get)),
        web.post("/3/events", bound(_events)),
    ]


async def _publish_loop(svc: PactService, every_s: float) -> None:
    """Issue the footprints of every customer with an events endpoint, announcing the new ones."""
    while True:
        for customer in await asyncio.to_thread(svc.customers):
            try:
                await asyncio.to_thread(svc.footprints, customer)
            except MonitorError as exc:
                log.warning("PACT: footprints of %s not refreshed: %s", customer, exc)
        await asyncio.sleep(every_s)


def add_pact_routes(app: web.Application, svc: PactService, *, tls: bool) -> bool:
    """Mount the PACT API on an HTTPS app (False, and nothing mounted, without TLS); the caller runs
    `background(svc)` beside the server (event delivery, footprint publishing)."""
    if not tls:
        log.info("PACT API not served: it needs HTTPS ([http] tls_certificate and tls_key)")
        return False
    app.add_routes(_routes(svc))
    return True


async def background(svc: PactService, publish_every_s: float | None = 60.0) -> None:
    """Deliver events and publish new footprints until cancelled."""
    async with asyncio.TaskGroup() as tg:
        tg.create_task(svc.outbox.run())
        if publish_every_s:
            tg.create_task(_publish_loop(svc, publish_every_s))
