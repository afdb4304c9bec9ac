"""The HTTP face: /metrics and /healthz (more routes join in api modules). Localhost by default."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

log = logging.getLogger(__name__)


@web.middleware
async def json_errors(request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
    """Every error answers JSON: {"error": ..., "detail": ...} with its proper status."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except web.HTTPException as exc:
        if exc.content_type == "application/json" or exc.status < 400:
            raise
        return web.Response(
            status=exc.status,
            content_type="application/json",
            text=json.dumps(
                {
                    "error": exc.reason.lower().replace(" ", "_"),
                    "detail": f"{request.method} {request.path}: {exc.reason}",
                }
            ),
        )


def make_app(registry: CollectorRegistry, health: Callable[[], dict[str, Any]]) -> web.Application:
    async def metrics(_: web.Request) -> web.Response:
        body = await asyncio.to_thread(generate_latest, registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        h = health()
        return web.Response(
            text=json.dumps(h), content_type="application/json", status=200 if h.get("status") == "ok" else 503
        )

    app = web.Application(middlewares=[json_errors], client_max_size=32 * 1024 * 1024)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    return app


async def serve(app: web.Application, host: str, port: int, started: asyncio.Event | None = None) -> None:
    """Serve until cancelled; the socket is closed on the way out."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        log.info("serving /metrics and /healthz on http://%s:%d", host, port)
        if started is not None:
            started.set()
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
