"""A store named by URL: sqlite:///path (embedded, the default) or postgresql://user@host:port/db.

The PostgreSQL password never sits in a URL or a config file: it comes from BLACKMASS_STORE_PASSWORD
or from a secrets file (BLACKMASS_STORE_PASSWORD_FILE, or [store] password_file in the plant config).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from monitor.errors import StoreError
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
        return file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise StoreError(f"{where}: cannot read the store password file {file}: {exc}") from exc


def check_url(url: str, where: str = "--store") -> None:
    """Refuse what can never work, before anything is opened: unknown scheme, password in the URL."""
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme not in SCHEMES:
        raise StoreError(
            f"{where}: expected sqlite:///path or postgresql://user@host:port/db, got {url!r} "
            f"(hint: the scheme must be one of {', '.join(SCHEMES)})"
        )
    if scheme == "sqlite":
        sqlite_path(url, where)
        return
    parts = urlsplit(url)
    if parts.password is not None or "password=" in parts.query:
        raise StoreError(
            f"{where}: the URL carries a password; refused so that it never lands in a config, a shell "
            f"history or a log (hint: set {PASSWORD_ENV} or a secrets file in {PASSWORD_FILE_ENV})"
        )
    if not parts.path.strip("/"):
        raise StoreError(f"{where}: expected a database name in {url!r} (hint: postgresql://user@host:5432/blackmass)")


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
    try:
        return make_conninfo(url, **({"password": password} if password else {}))
    except ProgrammingError as exc:
        raise StoreError(f"{where}: not a PostgreSQL connection URL: {url!r}: {exc}") from exc
