"""A store named by URL: sqlite:///path (embedded, the default) or postgresql://user@host:port/db.

The PostgreSQL password never sits in a URL or a config file: it comes from BLACKMASS_STORE_PASSWORD
or from a secrets file (BLACKMASS_STORE_PASSWORD_FILE, or [store] password_file in the plant config).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit, urlunsplit

from monitor.collectors.secrets import read_secret
from monitor.errors import InputError, StoreError
from monitor.store import PASSWORD_ENV, PASSWORD_FILE_ENV, STORE_FILE

if TYPE_CHECKING:  # the engines (and polars, psycopg) load only when a store is opened: CLI start-up
    from monitor.store.sql import Store

__all__ = [
    "PASSWORD_ENV",
    "PASSWORD_FILE_ENV",
    "check_url",
    "default_url",
    "open_store",
    "pg_conninfo",
    "sqlite_path",
    "store_url",
]
SCHEMES = ("sqlite", "postgresql", "postgres")
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "")

log = logging.getLogger(__name__)


def default_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / STORE_FILE}"


def store_url(url: str | None, data_dir: Path | None, where: str = "--store") -> str:
    """The URL a command uses: the one given, else the SQLite file in the data directory."""
    if url:
        return url
    if data_dir is None:
        raise StoreError(f"{where}: expected a store URL or --data-dir, got neither (hint: --store sqlite:///path)")
    return default_url(data_dir)


def sqlite_path(url: str, where: str = "--store") -> Path | None:
    """The file of a sqlite:/// URL, None for other schemes (checked by open_store)."""
    if not url.startswith("sqlite:"):
        return None
    if not url.startswith("sqlite:///") or len(url) <= len("sqlite:///"):
        raise StoreError(f"{where}: expected sqlite:///path/to/file.db, got {url!r} (hint: three slashes)")
    return Path(url[len("sqlite:///") :])  # sqlite:///relative/file.db, sqlite:////absolute/file.db


def _password(where: str, password_file: Path | None) -> str | None:
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    file = password_file or (Path(os.environ[PASSWORD_FILE_ENV]) if os.environ.get(PASSWORD_FILE_ENV) else None)
    if file is None:
        return None
    try:
        return read_secret(file, "store password").decode("utf-8").strip()
    except (InputError, UnicodeDecodeError) as exc:
        raise StoreError(f"{where}: {exc}") from None


def masked(url: str) -> str:
    """The URL for a message: any password (in the netloc or the query) replaced by ***."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = f"{parts.username or ''}:***@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    query = "&".join(
        f"{k}=***" if unquote(k).lower() == "password" else f"{k}={v}" if v else k
        for k, _, v in (q.partition("=") for q in parts.query.split("&") if q)
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _pg_parts(url: str, where: str) -> dict[str, str]:
    """The URL as libpq reads it (percent-decoded): what it would connect with."""
    from psycopg.conninfo import conninfo_to_dict  # noqa: PLC0415
    from psycopg.errors import ProgrammingError  # noqa: PLC0415

    try:
        return {k: str(v) for k, v in conninfo_to_dict(url).items() if v is not None}
    except ProgrammingError:
        raise StoreError(
            f"{where}: not a PostgreSQL connection URL: {masked(url)!r} (hint: postgresql://user@host:5432/db)"
        ) from None


def check_url(url: str, where: str = "--store") -> None:
    """Refuse what can never work, before anything is opened: unknown scheme, password in the URL."""
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme not in SCHEMES:
        raise StoreError(
            f"{where}: expected sqlite:///path or postgresql://user@host:port/db, got {masked(url)!r} "
            f"(hint: the scheme must be one of {', '.join(SCHEMES)})"
        )
    if scheme == "sqlite":
        sqlite_path(url, where)
        return
    parts = urlsplit(url)
    if parts.password is not None or "password" in _pg_parts(url, where):  # after libpq's own decoding
        raise StoreError(
            f"{where}: the URL carries a password; refused so that it never lands in a config, a shell "
            f"history or a log (hint: set {PASSWORD_ENV} or a secrets file in {PASSWORD_FILE_ENV})"
        )
    if not parts.path.strip("/"):
        raise StoreError(
            f"{where}: expected a database name in {masked(url)!r} (hint: postgresql://user@host:5432/blackmass)"
        )


def open_store(
    url: str,
    *,
    where: str = "--store",
    password_file: Path | None = None,
    must_exist: bool = False,
    connect_timeout_s: float = 30.0,
) -> Store:
    """The store behind `url`; schema migrations run as it opens. StoreError names `where` and the URL."""
    check_url(url, where)
    path = sqlite_path(url, where)
    if path is not None:
        from monitor.store.batches import BatchStore  # noqa: PLC0415 - each engine loads only when used

        if must_exist and not path.exists():
            raise StoreError(f"{path}: no batch store here (hint: --data-dir of a monitor or demo run, or --store)")
        return BatchStore(path)
    from monitor.store.pg import PostgresStore  # noqa: PLC0415 - each engine loads only when used

    return PostgresStore(url, pg_conninfo(url, where, password_file), timeout_s=connect_timeout_s)


def pg_conninfo(url: str, where: str = "--store", password_file: Path | None = None) -> str:
    """The libpq connection string: the URL plus the password from the environment or a secrets file."""
    from psycopg.conninfo import make_conninfo  # noqa: PLC0415
    from psycopg.errors import ProgrammingError  # noqa: PLC0415

    password = _password(where, password_file)
    extra = {"password": password} if password else {}
    parts = _pg_parts(url, where)
    if "sslmode" not in parts:
        local = parts.get("host", "").startswith("/") or parts.get("host", "localhost") in LOCAL_HOSTS
        extra["sslmode"] = "prefer" if local else "verify-full"
        # said at start-up without -v when the connection may fall back to plain text
        (log.warning if local else log.info)(
            "%s: sslmode=%s (%s; set ?sslmode= in the URL to choose)",
            masked(url),
            extra["sslmode"],
            "a local server: encrypted when it offers TLS, else plain text"
            if local
            else "off-host: the server's certificate must verify",
        )
    try:
        return make_conninfo(url, **extra)
    except ProgrammingError:
        raise StoreError(f"{where}: not a PostgreSQL connection URL: {masked(url)!r}") from None
