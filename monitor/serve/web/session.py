"""Browser sessions: the API token typed once into a login form, then an HttpOnly, SameSite=Strict
cookie; a CSRF token in every form, checked on every write.

Sessions live in this process's memory (a restart logs everyone out, nothing is written to disk):
at most MAX_SESSIONS, the least recently used dropped first, each ending IDLE_S after its last use.
A session made by the read token (`[http] read_token`) reads; only the API token writes.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, replace

from aiohttp import web

from monitor.serve.webio import client

log = logging.getLogger(__name__)

COOKIE = "bm_session"
IDLE_S = 12 * 3600.0
MAX_SESSIONS = 10_000
FAILS_PER_MINUTE = 10


@dataclass(frozen=True, slots=True)
class Session:
    sid: str
    csrf: str
    can_read: bool
    can_write: bool
    seen: float


class Sessions:
    """The live sessions of this server, and the two tokens a login may present."""

    def __init__(self, token: str | None, read_token: str | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.token, self.read_token, self.clock = token, read_token, clock
        self.by_id: OrderedDict[str, Session] = OrderedDict()
        self.fails: dict[str, deque[float]] = {}

    @property
    def reads_need_login(self) -> bool:
        return bool(self.read_token)

    def current(self, req: web.Request) -> Session | None:
        """The request's live session (its cookie), or None."""
        sid = req.cookies.get(COOKIE, "")
        s = self.by_id.get(sid)
        if s is None or self.clock() - s.seen > IDLE_S:
            self.by_id.pop(sid, None)
            return None
        s = replace(s, seen=self.clock())
        self.by_id[sid] = s
        self.by_id.move_to_end(sid)
        return s

    def start(self, *, can_read: bool, can_write: bool) -> Session:
        """A new session (a fresh id and CSRF token). When the table is full the least recently used
        session that cannot write goes first: a flood of anonymous visits logs no engineer out."""
        s = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), can_read, can_write, self.clock())
        self.by_id[s.sid] = s
        while len(self.by_id) > MAX_SESSIONS:
            old = next((k for k, v in self.by_id.items() if not v.can_write), next(iter(self.by_id)))
            del self.by_id[old]
        return s

    def end(self, req: web.Request) -> None:
        self.by_id.pop(req.cookies.get(COOKIE, ""), None)

    def for_forms(self, req: web.Request) -> Session:
        """The session a page's forms carry the CSRF token of; an anonymous one for a new visitor."""
        s = self.current(req)
        return s if s is not None else self.start(can_read=not self.reads_need_login, can_write=False)

    def may_read(self, req: web.Request) -> bool:
        if not self.reads_need_login:
            return True
        s = self.current(req)
        if s is not None and s.can_read:
            return True
        given = req.headers.get("Authorization", "")
        return given.startswith("Bearer ") and self._grants(given[7:]) != (False, False)

    def _grants(self, presented: str) -> tuple[bool, bool]:
        """(can read, can write) for a presented token."""
        p = presented.encode()
        if self.token and hmac.compare_digest(p, self.token.encode()):
            return True, True
        if self.read_token and hmac.compare_digest(p, self.read_token.encode()):
            return True, False
        return False, False

    def throttled(self, req: web.Request) -> int:
        """Seconds this client must wait after too many failed logins (0: may try)."""
        fails = self.fails.setdefault(client(req), deque())
        while fails and fails[0] < self.clock() - 60.0:
            fails.popleft()
        return 0 if len(fails) < FAILS_PER_MINUTE else max(1, int(fails[0] + 60.0 - self.clock()) + 1)

    def login(self, req: web.Request, presented: str) -> Session | None:
        """A new session for a token this server knows (the old one ends), or None (counted)."""
        can_read, can_write = self._grants(presented)
        if not can_read:
            self.fails.setdefault(client(req), deque()).append(self.clock())
            log.warning("web login refused from %s (%s)", client(req), "no token" if not presented else "wrong token")
            return None
        self.end(req)
        log.info("web login from %s (%s)", client(req), "writes" if can_write else "reads")
        return self.start(can_read=True, can_write=can_write)

    def csrf_ok(self, req: web.Request, s: Session, form_token: str) -> bool:
        return bool(form_token) and hmac.compare_digest(form_token.encode(), s.csrf.encode())


def set_cookie(req: web.Request, resp: web.StreamResponse, s: Session) -> None:
    """The session cookie: HttpOnly (no script reads it), SameSite=Strict (no other site sends it)."""
    resp.set_cookie(COOKIE, s.sid, httponly=True, samesite="Strict", secure=req.secure, path="/", max_age=int(IDLE_S))
