"""What every HTTP write shares (serve/api.py, passport/api.py): a request body read whole or
refused, and the bearer-token gate that logs and throttles failed attempts per client.

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

from aiohttp import web

log = logging.getLogger(__name__)

BODY_TIMEOUT_S = 60.0
FAILS_PER_MINUTE = 10  # failed authentications a client may make in a minute before 429
_WINDOW_S = 60.0


def _json_error(cls: type[web.HTTPException], error: str, detail: str, **kw: object) -> web.HTTPException:
    return cls(text=json.dumps({"error": error, "detail": detail}), content_type="application/json", **kw)  # type: ignore[arg-type]


def too_large(limit: int, got: int) -> web.HTTPException:
    return web.HTTPRequestEntityTooLarge(
        max_size=limit,
        actual_size=got,
        text=json.dumps({"error": "too_large", "detail": f"request body: at most {limit} bytes, got {got} or more"}),
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
        raise _json_error(
            web.HTTPRequestTimeout, "timeout", f"request body: not complete after {timeout_s:.0f} s ({size} bytes)"
        ) from None
    if req.content_length is not None and size != req.content_length:  # the client hung up midway
        raise _json_error(
            web.HTTPBadRequest, "bad_request", f"request body: {size} of {req.content_length} bytes arrived"
        )
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
        raise _json_error(web.HTTPBadRequest, "bad_request", f"body: JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise _json_error(web.HTTPBadRequest, "bad_request", f"body: expected JSON {what}: {exc}") from None


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
            raise _json_error(
                web.HTTPForbidden, "forbidden", "writes are disabled: no BLACKMASS_API_TOKEN is configured"
            )
        who = client(req)
        recent = self._recent(who)
        if len(recent) >= FAILS_PER_MINUTE:
            wait = max(1, int(recent[0] + _WINDOW_S - self.clock()) + 1)
            raise _json_error(
                web.HTTPTooManyRequests,
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
        raise _json_error(
            web.HTTPUnauthorized,
            "unauthorized",
            "expected 'Authorization: Bearer <token>'"
            if not given.startswith("Bearer ")
            else "token not accepted (it is not this server's BLACKMASS_API_TOKEN)",
            headers={"WWW-Authenticate": 'Bearer realm="blackmass"'},
        )


GATE = web.AppKey("blackmass_gate", Gate)


def gate(app: web.Application, token: str | None) -> Gate:
    """The app's one gate (so throttling counts a client's failures on every write route)."""
    if GATE not in app:
        app[GATE] = Gate(token)
    return app[GATE]
