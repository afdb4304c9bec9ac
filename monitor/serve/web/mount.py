"""The mount point: `add_web` registers the pages, their static files and (with `[http] read_token`)
the login that reading needs, on an aiohttp app made by serve/http.make_app."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from aiohttp import web

from monitor.accounting.assay_import import Accountant
from monitor.serve.web.context import HERE, Web, WebSettings
from monitor.serve.web.pages import add_pages
from monitor.serve.web.writes import add_writes
from monitor.store.sql import Store

__all__ = ["READ_TOKEN_ENV", "WebSettings", "add_web"]

READ_TOKEN_ENV = "BLACKMASS_READ_TOKEN"  # wins over [http] read_token (a secret kept out of the config file)

# answered without a login even when reads need one: probes, the login itself, its stylesheet
_OPEN = ("/healthz", "/metrics", "/login", "/static/")


def _read_gate(w: Web) -> Callable[..., Any]:
    @web.middleware
    async def gate(req: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
        if req.method in ("GET", "HEAD") and not req.path.startswith(_OPEN) and not w.sessions.may_read(req):
            if req.path.startswith("/api/"):
                raise web.HTTPUnauthorized(
                    text=json.dumps(
                        {
                            "error": "unauthorized",
                            "detail": "reading needs a login or a bearer token ([http] read_token)",
                        }
                    ),
                    content_type="application/json",
                    headers={"WWW-Authenticate": 'Bearer realm="blackmass"'},
                )
            raise web.HTTPSeeOther("/login?next=" + quote(req.path))
        response: web.StreamResponse = await handler(req)
        return response

    return gate


def _warm(w: Web) -> Callable[[web.Application], Any]:
    async def warm(_: web.Application) -> None:
        """The lots are read once as the server starts (in the background: startup does not wait)."""
        w.listing.start_refresh()

    return warm


def add_web(
    app: web.Application,
    store: Store,
    settings: WebSettings,
    *,
    accountant: Accountant | None = None,
) -> Web:
    """Mount the pages on `app` (before it starts). `accountant` enables assay uploads;
    shipments (tables of either store) are always on."""
    w = Web(store, settings, accountant=accountant)
    if settings.read_token:
        app.middlewares.append(_read_gate(w))
    app.on_startup.append(_warm(w))
    app.on_cleanup.append(w.listing.stop)
    add_pages(app, w)
    add_writes(app, w)
    app.router.add_static("/static/", HERE / "static", append_version=False)
    return w
