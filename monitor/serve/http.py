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

from monitor.errors import ConfigError, MonitorError
from monitor.serve.webio import error_answer, error_body

log = logging.getLogger(__name__)


@web.middleware
async def json_errors(request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
    """Every error answers JSON: {"error": ..., "detail": ...} with its proper status; this package's
    errors are mapped by type (webio.error_answer: NotFoundError 404, InputError 400, StoreError 503)."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except MonitorError as exc:
        raise error_answer(request, exc) from exc
    except web.HTTPException as exc:
        if exc.content_type == "application/json" or exc.status < 400:  # noqa: PLR2004 - not an error status
            raise
        return web.Response(
            status=exc.status,
            content_type="application/json",
            text=error_body(exc.reason.lower().replace(" ", "_"), f"{request.method} {request.path}: {exc.reason}"),
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
    app.on_response_prepare.append(security_headers)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    return app


CSP = (
    "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every answer: no sniffing, no framing; data never cached; a CSP on HTML; HSTS under TLS."""
    h = response.headers
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault("Referrer-Policy", "no-referrer")
    if request.path.startswith("/api/") or request.path in ("/metrics", "/healthz"):
        h.setdefault("Cache-Control", "no-store")
    if response.content_type == "text/html":
        h.setdefault("Content-Security-Policy", CSP)
    if request.secure:
        h.setdefault("Strict-Transport-Security", "max-age=31536000")


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


KEEPALIVE_S = 15.0  # a connection must send a complete request head within this, and idles no longer
MAX_CONNECTIONS = 200  # beyond this a new connection gets 503 and is closed (file descriptors stay free)


_BUSY_BODY = error_body("busy", "too many connections; retry shortly").encode()
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
    b"Retry-After: 5\r\nContent-Length: " + str(len(_BUSY_BODY)).encode() + b"\r\n\r\n" + _BUSY_BODY
)


class _Busy(asyncio.Protocol):
    """A connection past the cap: one 503 answer, then closed."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if isinstance(transport, asyncio.WriteTransport):
            transport.write(_BUSY)
        transport.close()


class _Capped:
    """The aiohttp protocol factory, refusing connections past the cap."""

    def __init__(self, server: web.Server, cap: int) -> None:
        self.server, self.cap = server, cap

    def __call__(self) -> asyncio.BaseProtocol:
        if len(self.server.connections) >= self.cap:
            log.warning("HTTP: %d connections open; a new one is refused with 503", len(self.server.connections))
            return _Busy()
        return self.server()


async def serve(
    app: web.Application,
    host: str,
    port: int,
    started: asyncio.Event | None = None,
    *,
    tls: ssl.SSLContext | None = None,
    max_connections: int = MAX_CONNECTIONS,
    keepalive_s: float = KEEPALIVE_S,
) -> None:
    """Serve until cancelled; the socket is closed on the way out. Idle and half-sent connections
    are closed after `keepalive_s`; request bodies have their own timeout (serve/webio.py read_body)."""
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=keepalive_s)
    await runner.setup()
    server: asyncio.Server | None = None
    try:
        assert runner.server is not None  # set by setup()
        server = await asyncio.get_running_loop().create_server(
            _Capped(runner.server, max_connections), host, port, ssl=tls, reuse_address=True, backlog=128
        )
        log.info("serving /metrics, /healthz and /api on %s://%s:%d", "https" if tls else "http", host, port)
        if started is not None:
            started.set()
        await asyncio.Event().wait()
    finally:
        if server is not None:
            server.close()
        await runner.cleanup()
