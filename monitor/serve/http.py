"""The HTTP face: /metrics and /healthz (more routes join in api modules). Localhost by default."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from monitor.errors import ConfigError

log = logging.getLogger(__name__)


@web.middleware
async def json_errors(request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
    """Every error answers JSON: {"error": ..., "detail": ...} with its proper status."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except web.HTTPException as exc:
        if exc.content_type == "application/json" or exc.status < 400:  # noqa: PLR2004 - not an error status
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


_PATH = re.compile(r"(?<![\w.:/])/(?:[\w.@+-]+/)+[\w.@+-]*")


def without_paths(value: Any) -> Any:
    """Health for anonymous callers: file paths in messages replaced by <path> (the log has them)."""
    if isinstance(value, str):
        return _PATH.sub("<path>", value)
    if isinstance(value, dict):
        return {k: without_paths(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [without_paths(v) for v in value]
    return value


def make_app(registry: CollectorRegistry, health: Callable[[], dict[str, Any]]) -> web.Application:
    async def metrics(_: web.Request) -> web.Response:
        body = await asyncio.to_thread(generate_latest, registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        h = without_paths(health())
        return web.Response(
            text=json.dumps(h), content_type="application/json", status=200 if h.get("status") == "ok" else 503
        )

    app = web.Application(middlewares=[json_errors], client_max_size=32 * 1024 * 1024)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    return app


def tls_context(certificate: Path, key: Path) -> ssl.SSLContext:
    """A server TLS context (TLS 1.2 or newer) from PEM files; ConfigError naming the file when unusable."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(certificate, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            str(certificate), "http.tls_certificate", "a PEM certificate with its PEM key", str(exc)
        ) from exc
    return ctx


async def serve(
    app: web.Application,
    host: str,
    port: int,
    started: asyncio.Event | None = None,
    *,
    tls: ssl.SSLContext | None = None,
) -> None:
    """Serve until cancelled; the socket is closed on the way out."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, ssl_context=tls)
        await site.start()
        log.info("serving /metrics, /healthz and /api on %s://%s:%d", "https" if tls else "http", host, port)
        if started is not None:
            started.set()
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
