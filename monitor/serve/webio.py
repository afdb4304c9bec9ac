"""What every API route shares (serve/api.py, serve/passport_api.py): the one error body and the
mapping of this package's errors to HTTP statuses, a request body read whole or refused, and the
bearer-token gate that logs and throttles failed attempts per client.

Errors answer JSON {"error", "detail"}; a route raises (NotFoundError, InputError, StoreError, or
`json_error` for a status of its own) and `error_answer`, run by the app's middleware
(serve/http.py), picks the status by the error's type, never by its text.

A body is read to its end, whatever the TCP writes or the transfer encoding (chunked or
Content-Length): 413 beyond the limit, 408 when the client stalls; never a prefix.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from aiohttp import web

from monitor.errors import InputError, MonitorError, NotFoundError, StoreError

log = logging.getLogger(__name__)

BODY_TIMEOUT_S = 60.0
FAILS_PER_MINUTE = 10  # failed authentications a client may make in a minute before 429
_WINDOW_S = 60.0
STORE_RETRY_S = 30  # Retry-After of a 503 when the store refused
_STATUS: dict[int, type[web.HTTPException]] = {
    400: web.HTTPBadRequest,
    401: web.HTTPUnauthorized,
    403: web.HTTPForbidden,
    404: web.HTTPNotFound,
    408: web.HTTPRequestTimeout,
    409: web.HTTPConflict,
    429: web.HTTPTooManyRequests,
    500: web.HTTPInternalServerError,
    503: web.HTTPServiceUnavailable,
}


def error_body(error: str, detail: str) -> str:
    """The one error body of every route: {"error": a snake_case word, "detail": what and why}."""
    return json.dumps({"error": error, "detail": detail})


def json_error(status: int, error: str, detail: str, **kw: Any) -> web.HTTPException:
    """The HTTP error to raise: `status` with the error body."""
    return _STATUS[status](text=error_body(error, detail), content_type="application/json", **kw)


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(data, ensure_ascii=False), status=status, content_type="application/json")


def error_answer(req: web.Request, exc: MonitorError) -> web.HTTPException:
    """A refused request's answer, by the error's type: NotFoundError 404, InputError 400 (nothing
    changed), StoreError 503 (retry later; the detail stays in the log), any other 500."""
    if isinstance(exc, NotFoundError):
        return json_error(404, "not_found", str(exc))
    if isinstance(exc, InputError):
        return json_error(400, "bad_request", str(exc))
    if isinstance(exc, StoreError):
        log.error("%s %s from %s: the store refused: %s", req.method, req.path, client(req), exc)
        detail = "the store is unavailable; retry later"
        return json_error(503, "store_unavailable", detail, headers={"Retry-After": str(STORE_RETRY_S)})
    log.error("%s %s from %s failed: %s", req.method, req.path, client(req), exc)
    return json_error(500, "internal_error", f"{req.method} {req.path}: failed; the server's log says why")


def too_large(limit: int, got: int) -> web.HTTPException:
    return web.HTTPRequestEntityTooLarge(
        max_size=limit,
        actual_size=got,
        text=error_body("too_large", f"request body: at most {limit} bytes, got {got} or more"),
        content_type="application/json",
    )


async def read_body(req: web.Request, limit: int, timeout_s: float = BODY_TIMEOUT_S) -> bytes:
    """The whole request body (up to `limit` bytes), read until the client's end of it."""
    if req.content_length is not None and req.content_length > limit:
        raise too_large(limit, req.content_length)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in req.content.iter_any():
                size += len(chunk)
                if size > limit:
                    raise too_large(limit, size)
                chunks.append(chunk)
    except TimeoutError:
        raise json_error(408, "timeout", f"request body: not complete after {timeout_s:.0f} s ({size} bytes)") from None
    if req.content_length is not None and size != req.content_length:  # the client hung up midway
        raise json_error(400, "bad_request", f"request body: {size} of {req.content_length} bytes arrived")
    return b"".join(chunks)


MAX_JSON_DEPTH = 32
_QUOTE, _BACKSLASH, _OPEN, _CLOSE = ord('"'), ord("\\"), (ord("["), ord("{")), (ord("]"), ord("}"))


def json_depth(raw: bytes) -> int:
    """How deeply arrays and objects nest in `raw` (strings skipped): checked before json.loads,
    whose recursion would otherwise end in a 500."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == _BACKSLASH:
                escaped = True
            elif byte == _QUOTE:
                in_string = False
        elif byte == _QUOTE:
            in_string = True
        elif byte in _OPEN:
            depth += 1
            deepest = max(deepest, depth)
        elif byte in _CLOSE:
            depth -= 1
    return deepest


def parse_json(raw: bytes, what: str) -> object:
    """The JSON body, or 400 naming what was expected (too deep, not JSON)."""
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise json_error(400, "bad_request", f"body: JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise json_error(400, "bad_request", f"body: expected JSON {what}: {exc}") from None


def client(req: web.Request) -> str:
    return req.remote or "unknown"


class Gate:
    """`Authorization: Bearer <token>` for writes; failures logged (who, where) and throttled."""

    def __init__(self, token: str | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.token, self.clock = token, clock
        self._fails: dict[str, deque[float]] = {}

    def _recent(self, who: str) -> deque[float]:
        fails = self._fails.setdefault(who, deque())
        while fails and fails[0] < self.clock() - _WINDOW_S:
            fails.popleft()
        if not fails:
            self._fails.pop(who, None)
        return fails

    def check(self, req: web.Request) -> None:
        """Return when the request carries the token, else raise 403 (no token set), 429 or 401."""
        if not self.token:
            raise json_error(403, "forbidden", "writes are disabled: no BLACKMASS_API_TOKEN is configured")
        who = client(req)
        recent = self._recent(who)
        if len(recent) >= FAILS_PER_MINUTE:
            wait = max(1, int(recent[0] + _WINDOW_S - self.clock()) + 1)
            raise json_error(
                429,
                "too_many_requests",
                f"{len(recent)} failed authentications from {who} in the last minute; retry in {wait} s",
                headers={"Retry-After": str(wait)},
            )
        given = req.headers.get("Authorization", "")
        if given.startswith("Bearer ") and hmac.compare_digest(given[7:].encode(), self.token.encode()):
            return
        self._fails.setdefault(who, deque()).append(self.clock())
        log.warning(
            "authentication failed: %s %s from %s (%s; %d in the last minute)",
            req.method,
            req.path,
            who,
            "no bearer token" if not given.startswith("Bearer ") else "wrong token",
            len(self._fails[who]),
        )
        raise json_error(
            401,
            "unauthorized",
            "expected 'Authorization: Bearer <token>'"
            if not given.startswith("Bearer ")
            else "token not accepted (it is not this server's BLACKMASS_API_TOKEN)",
            headers={"WWW-Authenticate": 'Bearer realm="blackmass"'},
        )


GATE = web.AppKey("blackmass_gate", Gate)


def gate(app: web.Application, token: str | None) -> Gate:
    """The app's one gate (so throttling counts a client's failures on every write route); every
    route set that joins the app must bring the same token, else ValueError (a write route would
    otherwise answer to another token than the one its caller configured)."""
    if GATE not in app:
        app[GATE] = Gate(token)
    if app[GATE].token != token:
        raise ValueError("serve/webio.gate: this app's write routes already answer to another API token")
    return app[GATE]
