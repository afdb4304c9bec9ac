"""The plant-wide commands: `serve` (API and reports over a whole store) and `store migrate|upgrade`."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from monitor.cli.data import resolve_path
from monitor.errors import ConfigError, MonitorError
from monitor.store.url import open_store, sqlite_path, store_url


def add_store_commands(sub: Any) -> None:
    """`serve` and `store` on the top-level subparsers."""
    sv = sub.add_parser("serve", help="the HTTP API and report downloads of every line in a store (no collector)")
    sv.add_argument("--store", help="store URL (sqlite:///path or postgresql://user@host:port/db)")
    sv.add_argument("--data-dir", type=Path, help="a data directory: its blackmass.db is the store unless --store")
    sv.add_argument(
        "--config",
        default="config/plant.toml",
        help="plant config, or a serve config of [plant], [http], [pact], [passport] (default config/plant.toml)",
    )
    sv.add_argument("--seeds", default="seeds", help="reference data for assays uploaded on the web (default seeds/)")
    sv.add_argument("--port", type=int, default=9470, help="HTTP port (default 9470)")
    sv.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    sv.add_argument("--tls-certificate", type=Path, default=None, help="serve HTTPS with this PEM certificate")
    sv.add_argument("--tls-key", type=Path, default=None, help="the certificate's PEM private key (mode 0600)")

    st = sub.add_parser("store", help="store maintenance: migrate between stores, upgrade the schema")
    ssub = st.add_subparsers(dest="store_cmd", required=True)
    mg = ssub.add_parser("migrate", help="copy every batch version and assay into an empty store, checked")
    mg.add_argument("--from", dest="source", required=True, metavar="URL")
    mg.add_argument("--to", dest="dest", required=True, metavar="URL")
    up = ssub.add_parser("upgrade", help="run the store's pending schema migrations")
    up.add_argument("--store", required=True, metavar="URL")


def cmd_store(a: argparse.Namespace) -> int:
    if a.store_cmd == "upgrade":
        with open_store(a.store, must_exist=True) as store:
            before, after = store.upgrade()
        print(f"{a.store}: schema version {before} -> {after}" if before != after else f"{a.store}: up to date")
        return 0
    from monitor.store.migrate import migrate  # noqa: PLC0415 - loads with the command that uses it

    t = time.monotonic()
    new_file = sqlite_path(a.dest, "--to")
    new_file = new_file if new_file is not None and not new_file.exists() else None
    try:
        with (
            open_store(a.source, where="--from", must_exist=True) as source,
            open_store(a.dest, where="--to") as dest,
        ):
            checks = migrate(source, dest)
    except MonitorError:
        if new_file is not None:  # a failed copy leaves no half-made SQLite file behind
            for f in (new_file, Path(f"{new_file}-wal"), Path(f"{new_file}-shm")):
                f.unlink(missing_ok=True)
        raise
    for c in checks:
        print(f"  {c.table:<15} {c.rows:>9,} rows  checksum {c.sha256[:16]}…  equal on both sides")
    print(f"{a.source} -> {a.dest}: {sum(c.rows for c in checks):,} rows copied ({time.monotonic() - t:.1f} s)")
    return 0


def _pact(app: Any, store: Any, cfg: Any, seeds: Path, tls: bool) -> Any:
    """The PACT API service on an HTTPS app, else None (not mounted)."""
    from monitor.accounting.footprints import FootprintContext  # noqa: PLC0415
    from monitor.accounting.seeds import load_feed_grades  # noqa: PLC0415
    from monitor.serve.pact_api import PactService, add_pact_routes  # noqa: PLC0415
    from monitor.serve.pact_auth import Tokens, load_clients_file  # noqa: PLC0415

    ctx = FootprintContext(
        passport=cfg.passport, pact=cfg.pact, grades=load_feed_grades(seeds) if seeds.exists() else None
    )
    file_clients = load_clients_file(cfg.pact.clients_file) if cfg.pact.clients_file else ()
    svc = PactService(store, ctx, Tokens(cfg.pact.token_ttl_s), file_clients=file_clients)
    return svc if add_pact_routes(app, svc, tls=tls) else None


def mount_web(app: Any, store: Any, cfg: Any, *, token: str | None, seeds: Path) -> None:
    """The web pages on `serve`: assay uploads when the config is a plant config naming the line's
    spec (as `blackmass assays import --store` does); shipments (tables of either store) always."""
    from monitor.accounting.assay_import import Accountant  # noqa: PLC0415
    from monitor.accounting.seeds import load_feed_grades  # noqa: PLC0415
    from monitor.serve.web.mount import READ_TOKEN_ENV, WebSettings, add_web  # noqa: PLC0415

    plant = cfg.plant_config
    settings = WebSettings(
        token=token,
        read_token=os.environ.get(READ_TOKEN_ENV) or cfg.http.read_token,
        grafana_url=cfg.http.grafana_url,
        plant=cfg.plant_name,
    )
    accountant = (
        Accountant(store, plant.line, load_feed_grades(seeds), ghg=plant.ghg, origin=plant.origin) if plant else None
    )
    add_web(app, store, settings, accountant=accountant)


async def serve_store(a: argparse.Namespace) -> int:
    from asyncio import TaskGroup, to_thread  # noqa: PLC0415 - start-up: see monitor/cli/data.py

    from prometheus_client import CollectorRegistry  # noqa: PLC0415

    from monitor.config.serve import load_serve_config  # noqa: PLC0415
    from monitor.serve.api import add_api  # noqa: PLC0415 - the HTTP stack loads only for servers
    from monitor.serve.http import make_app, serve, tls_context  # noqa: PLC0415
    from monitor.serve.pact_api import background  # noqa: PLC0415
    from monitor.serve.passport_api import add_passport_routes  # noqa: PLC0415
    from monitor.serve.runbooks import add_runbooks  # noqa: PLC0415
    from monitor.serve.schemas import add_schema_routes  # noqa: PLC0415

    if a.store is None and a.data_dir is None:
        raise MonitorError("serve: say which store: --data-dir DIR (its blackmass.db) or --store URL")
    if (a.tls_certificate is None) != (a.tls_key is None):
        raise ConfigError("serve", "--tls-certificate/--tls-key", "both or neither", "one of them")
    path = resolve_path(a.config)
    cfg = load_serve_config(path if path.exists() else None)
    cert, key = a.tls_certificate or cfg.http.tls_certificate, a.tls_key or cfg.http.tls_key
    tls = tls_context(cert, key) if cert and key else None
    with open_store(store_url(a.store, a.data_dir), where="serve --store", must_exist=True) as store:
        lines = await to_thread(store.lines)
        kind = store.url.split(":", 1)[0]  # never the file's path or the database host on an open endpoint

        def health() -> dict[str, Any]:
            return {"status": "ok", "store": kind, "lines": store.lines()}

        app = make_app(CollectorRegistry(auto_describe=False), health)
        token = os.environ.get("BLACKMASS_API_TOKEN") or None
        add_api(app, store, None, token=token, plant=cfg.plant_name)
        add_runbooks(app)
        add_passport_routes(app, store, cfg.passport, token=token)  # shipments are tables of either store
        add_schema_routes(app)
        seeds = resolve_path(a.seeds)
        mount_web(app, store, cfg, token=token, seeds=seeds)
        pact = _pact(app, store, cfg, seeds, tls is not None)
        scheme = "https" if tls else "http"
        where = f"{scheme}://{a.host}:{a.port}"
        extra = " and the PACT v3 API" if pact else ""
        print(f"serving {store.url} ({len(lines)} line(s): {', '.join(lines) or 'none yet'}) on {where}{extra}")
        async with TaskGroup() as tg:
            if pact is not None:
                tg.create_task(background(pact))
            tg.create_task(serve(app, a.host, a.port, tls=tls))
    return 0
