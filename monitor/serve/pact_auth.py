"""PACT API authentication: OAuth2 client credentials (HTTP Basic), hashed secrets, expiring tokens.

A client is a customer's system: `blackmass pact client add` makes its id and secret, prints the
secret once and stores only an scrypt hash (in the store, or in a clients file named by [pact]
clients_file). POST /auth/token trades valid credentials for an opaque bearer token that expires
after [pact] token_ttl_s; tokens live in the server's memory (a restart asks clients to log in again).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.errors import ConfigError
from monitor.store.footprints import PactClient

log = logging.getLogger(__name__)

_N, _R, _P = 2**14, 8, 1  # scrypt cost: ~50 ms and 16 MiB per check on this class of machine
MAX_TOKENS = 10_000


def hash_secret(secret: str, *, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def check_secret(secret: str, stored: str) -> bool:
    """True when `secret` matches the stored hash (constant-time); a malformed hash never matches."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(secret.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32)
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(got.hex(), digest)


def new_client(name: str, customer: str, *, events_url: str = "", now: float) -> tuple[PactClient, str]:
    """A new client and its secret (the secret is shown once and stored only as a hash)."""
    secret = secrets.token_urlsafe(32)
    client = PactClient(f"pact-{secrets.token_hex(8)}", name, customer, hash_secret(secret), now, events_url)
    return client, secret


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(client id, secret) of an `Authorization: Basic …` header; None when absent or malformed."""
    if not header or not header.startswith("Basic "):
        return None
    try:
        text = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    cid, sep, secret = text.partition(":")
    return (cid, secret) if sep and cid else None


def load_clients_file(path: Path) -> list[PactClient]:
    """[[client]] tables of client_id, name, customer, secret_hash (and events_url) from a TOML file."""
    import tomllib  # noqa: PLC0415 - only servers with a clients file read one

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(str(path), "(file)", "a TOML file of [[client]] tables", str(exc)) from exc
    out = []
    for i, c in enumerate(data.get("client", [])):
        need = ("client_id", "name", "customer", "secret_hash")
        if not isinstance(c, dict) or not all(isinstance(c.get(k), str) and c[k] for k in need):
            raise ConfigError(str(path), f"client[{i}]", f"a table with {', '.join(need)}", c)
        out.append(PactClient(c["client_id"], c["name"], c["customer"], c["secret_hash"], 0.0, c.get("events_url", "")))
    return out


@dataclass(frozen=True, slots=True)
class Grant:
    client_id: str
    customer: str
    expires: float


class Tokens:
    """Opaque bearer tokens with an expiry, checked against an injectable clock."""

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.time) -> None:
        self.ttl_s, self.clock = ttl_s, clock
        self._grants: dict[str, Grant] = {}
        self._lock = threading.Lock()

    def issue(self, client: PactClient) -> dict[str, Any]:
        token = secrets.token_urlsafe(32)
        now = self.clock()
        with self._lock:
            if len(self._grants) >= MAX_TOKENS:  # drop the expired, then the oldest: memory stays bounded
                self._grants = {k: g for k, g in self._grants.items() if g.expires > now}
                while len(self._grants) >= MAX_TOKENS:
                    self._grants.pop(next(iter(self._grants)))
            self._grants[token] = Grant(client.client_id, client.customer, now + self.ttl_s)
        log.info("PACT token issued to client %s (customer %s)", client.client_id, client.customer)
        return {"access_token": token, "token_type": "Bearer", "expires_in": int(self.ttl_s), "scope": "footprint:read"}

    def check(self, token: str) -> Grant | str:
        """The grant of a live token, else "unknown" or "expired"."""
        with self._lock:
            grant = self._grants.get(token)
        if grant is None:
            return "unknown"
        if grant.expires <= self.clock():
            return "expired"
        return grant
