"""The CLI's plant commands: run the monitor, check a config (and probe its tags), browse a server, certs."""

from __future__ import annotations

import argparse
import math
import os
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitor.cli.data import DEFAULT_PLANT, resolve_path, store_option
from monitor.collectors.credentials import CLIENT_URI, PASSWORD_ENV, USER_ENV, check_endpoint
from monitor.errors import ConfigError
from monitor.store import STORE_FILE

if TYPE_CHECKING:  # loaded by the commands that use them (start-up: see monitor/cli/data.py)
    from monitor.config import MonitorConfig
    from monitor.core.results import BatchResult


def add_plant_commands(sub: Any) -> None:
    """certs, run, check-config, browse."""
    certs = sub.add_parser(
        "certs", help="make a self-signed OPC-UA certificate and key; `certs trust --endpoint URL` pins a server's"
    )
    certs.add_argument("action", nargs="?", choices=("make", "trust"), default="make")
    certs.add_argument("--out", type=Path, help="make: folder for NAME-cert.der and NAME-key.pem")
    certs.add_argument("--endpoint", help="trust: the server (opc.tcp://…) whose certificate to show and pin")
    certs.add_argument("--pki", type=Path, default=Path("pki"), help="trust: the PKI folder (default pki/)")
    certs.add_argument("--yes", action="store_true", help="trust: pin without asking (after checking the thumbprint)")
    certs.add_argument("--name", default="blackmass-monitor")
    certs.add_argument("--uri", default=CLIENT_URI, help=f"application URI (default {CLIENT_URI})")
    certs.add_argument("--server", action="store_true", help="a server certificate (default: client)")

    run = sub.add_parser("run", help="run the monitor against an OPC-UA server")
    run.add_argument("--config", default=DEFAULT_PLANT)
    run.add_argument("--endpoint", default=None, help="override [opcua] endpoint")
    run.add_argument("--data-dir", required=True, type=Path, help="checkpoints, LIMS inbox (and the SQLite store)")
    store_option(run, data_dir_required=True)
    run.add_argument("--port", type=int, default=None, help="override [http] port")
    run.add_argument("--host", default=None, help="override [http] host (default 127.0.0.1)")
    run.add_argument("--seeds", default="seeds", help="reference-data folder (default seeds/)")

    chk = sub.add_parser("check-config", help="validate a plant TOML and summarise it")
    chk.add_argument("file")
    chk.add_argument("--endpoint", help="also resolve every tag on this live server (opc.tcp://…; '-' = the config's)")
    chk.add_argument(
        "--probe", action="store_true", help="check every tag of every source live (OPC-UA, Modbus, MQTT/Sparkplug)"
    )

    br = sub.add_parser("browse", help="list an OPC-UA server's variables with their node ids")
    br.add_argument("url")
    br.add_argument("--depth", type=int, default=6)


def cmd_check_config(a: argparse.Namespace) -> int:
    from monitor.config import load_config  # noqa: PLC0415 - see the import note in monitor/cli/data.py

    cfg = load_config(a.file)
    streams = ", ".join(f"{s.name}({s.source.value})" for s in cfg.line.streams)
    verdict = "read; the live check follows" if a.endpoint else "OK"  # never "OK" above a MISSING row
    where = f"endpoint {cfg.opcua.endpoint}" if cfg.opcua else "no OPC-UA source (the line's clock: its sources')"
    print(f"{a.file}: {verdict} — line {cfg.line.line}, {where}")
    print(f"  streams: {streams}")
    subscribed = len(cfg.tag_addresses()) if cfg.opcua else len(cfg.all_tags())
    print(f"  {subscribed} tags subscribed, {len(cfg.process)} process values on /metrics")
    if cfg.sources is not None and cfg.other_sources():
        tags = Counter(cfg.sources.source_of(t) for t in cfg.all_tags())
        named = [f"{n} ({cfg.sources.kind(n)}, {tags[n]} tags)" for n in cfg.sources.settings]
        print(f"  sources: {', '.join(named)}")
    if cfg.opcua is not None:
        sec = cfg.opcua.security
        user = sec.username or os.environ.get(USER_ENV)
        pw = "set" if os.environ.get(PASSWORD_ENV) or sec.password_file else "MISSING"
        print(
            f"  OPC-UA security: {sec.policy}/{sec.mode}; user: {user or 'anonymous'}"
            + (f" (password {pw})" * bool(user))
        )
    tls = "https" if cfg.http.tls_certificate else "http"
    print(f"  serving {tls}://{cfg.http.host}:{cfg.http.port}")
    g = cfg.ghg
    carbon = (
        f"grid {g.grid_kg_co2e_per_kwh:g} kg/kWh ({g.grid_year}), N2 {g.nitrogen_kg_co2e_per_nm3:g} kg/Nm3"
        if g
        else "no [ghg]"
    )
    key = "set" if cfg.passport.key_path()[0] else "not set"  # the path locates a secret: not printed
    print(
        f"  carbon: {carbon}; origin: {len(cfg.origin.suppliers)} suppliers, {len(cfg.origin.feed_forms)} feed forms "
        f"mapped; passport key {key}"
    )
    print(f"  store: {cfg.store_url or f'sqlite:///<data-dir>/{STORE_FILE} (default)'}")
    if a.probe:
        import asyncio  # noqa: PLC0415 - start-up: see the import note in monitor/cli/data.py

        return asyncio.run(_probe_every_source(cfg))
    if not a.endpoint:
        return 0
    import asyncio  # noqa: PLC0415 - start-up: see the import note in monitor/cli/data.py

    return asyncio.run(_probe(cfg if a.endpoint == "-" else cfg.with_endpoint(a.endpoint)))


async def _probe(cfg: MonitorConfig) -> int:
    from monitor.runs.probe import probe  # noqa: PLC0415 - see the import note in monitor/cli/data.py

    report = await probe(cfg)
    checks = report.checks
    bad = [c for c in checks if c.problem]
    missing = sum(c.problem.startswith("missing") for c in checks)
    headline = [f"{missing} of {len(checks)} tags missing"] * bool(missing)
    headline += [f"{len(bad) - missing} of {len(checks)} tags of an unusable type"] * bool(len(bad) - missing)
    assert cfg.opcua is not None  # probe() refuses a line without one
    print(f"{cfg.opcua.endpoint}: {'; '.join(headline) or f'all {len(checks)} tags resolve with a usable type'}")
    for c in checks:
        mark = "MISSING" if c.problem.startswith("missing") else "TYPE" if c.problem else "ok"
        print(f"    {mark:<8} {c.tag:<34} {c.node_id or c.address:<48} {c.data_type:<10} {c.timestamps:<8} {c.problem}")
        if c.nearest:
            print(f'{"":<13}nearest on the server: {c.nearest}  (map it: [nodes] "{c.tag}" = "{c.nearest}")')
    print(f"  timestamps the server sends: {report.timestamps}")
    if report.clock_offset_s is None:
        print("  server clock: CurrentTime unreadable or implausible (the service falls back to our receive time)")
    else:
        rtt = report.round_trip_s or 0.0
        print(f"  server clock: CurrentTime minus ours {report.clock_offset_s:+.3f} s (round trip {rtt:.3f} s)")
    print(f"  server limits: {report.limits.describe()}")
    return 1 if bad else 0


async def _probe_every_source(cfg: MonitorConfig) -> int:
    """--probe: the primary OPC-UA source as --endpoint does, then each other source."""
    from dataclasses import replace  # noqa: PLC0415

    from monitor.collectors.settings import OpcuaSettings  # noqa: PLC0415
    from monitor.collectors.source_settings import ModbusSettings  # noqa: PLC0415
    from monitor.runs.probe_sources import probe_modbus, probe_mqtt  # noqa: PLC0415

    failed = await _probe(cfg) if cfg.opcua is not None else 0
    for name, s in cfg.other_sources().items():
        if isinstance(s, OpcuaSettings):
            assert cfg.sources is not None
            print(f"source {name} (opcua):")
            failed |= await _probe(replace(cfg, opcua=s, sources=replace(cfg.sources, primary=name)))
            continue
        checks = await (probe_modbus(name, s) if isinstance(s, ModbusSettings) else probe_mqtt(name, s))
        bad = [c for c in checks if c.problem]
        verdict = f"{len(bad)} of {len(checks)} tags with a problem" if bad else f"all {len(checks)} tags read"
        print(f"source {name}: {verdict}")
        for c in checks:
            print(f"    {'ok' if not c.problem else 'PROBLEM':<8} {c.tag:<34} {c.value or c.problem}")
        failed |= int(bool(bad))
    return failed


def cmd_certs(a: argparse.Namespace) -> int:
    from monitor.collectors.security import fingerprint, make_certificate  # noqa: PLC0415

    if a.action == "trust":
        return _trust(a)
    if a.out is None:
        raise ConfigError("certs", "--out", "a folder for the certificate and key", None)

    cert, key = make_certificate(a.out, a.name, a.uri, server=a.server)
    print(f"certificate {cert} (sha256 {fingerprint(cert.read_bytes())}…)\nprivate key {key} (mode 600)")
    print("give the certificate to the server's trusted clients; keep the key on this machine")
    return 0


def _trust(a: argparse.Namespace) -> int:
    """Show the server's certificate(s) by thumbprint and pin one on confirmation."""
    import asyncio  # noqa: PLC0415 - start-up: see monitor/cli/data.py

    from monitor.collectors.security import server_certificates  # noqa: PLC0415
    from monitor.collectors.trust import pin, subject, thumbprint, why_untrusted  # noqa: PLC0415

    if not a.endpoint:
        raise ConfigError("certs trust", "--endpoint", "the server's opc.tcp:// URL", None)
    check_endpoint(a.endpoint, "certs trust", "--endpoint")
    for der in asyncio.run(server_certificates(a.endpoint)):
        print(f"{a.endpoint} presents {subject(der)}\n  thumbprint (SHA-1) {thumbprint(der)}")
        if why_untrusted(der, a.pki) is None:
            print(f"  already trusted in {a.pki}")
            continue
        ok = a.yes or input("  compare it with the server's own display; trust it? [y/N] ").strip().lower() == "y"
        if not ok:
            print("  not trusted")
            return 1
        print(f"  pinned: {pin(der, a.pki)}")
    return 0


ROW = "{:<10} {:<8} {:<20} {:>8} {:>9} {:>8} {:>9}  {}"


def print_batch(r: BatchResult) -> None:
    """A row when a batch completes; a recovery line when its assays arrive (a later version)."""
    if r.assay_status != "none":
        rec = ", ".join(
            f"{m.element.capitalize()} {m.recovery * 100:.1f}" for m in r.metals if not math.isnan(m.recovery)
        )
        print(f"  {r.batch_id} v{r.version} assays {r.assay_status}: recovery % {rec}", flush=True)
        if r.version > 1:
            return
    print(
        ROW.format(
            r.batch_id,
            r.chemistry,
            r.feed_form,
            f"{r.feed_kg / 1000:.3f}",
            f"{r.mass('black_mass') / 1000:.3f}",
            f"{r.black_mass_yield * 100:.2f}",
            f"{r.closure * 100:.2f}",
            ",".join(r.flags),
        ),
        flush=True,
    )


async def run(a: argparse.Namespace) -> int:
    from monitor.config import load_config  # noqa: PLC0415 - see the import note in monitor/cli/data.py
    from monitor.runs.app import Monitor  # noqa: PLC0415

    cfg = load_config(resolve_path(a.config))
    if a.endpoint:
        cfg = cfg.with_endpoint(a.endpoint)
    monitor = Monitor(cfg, a.data_dir, seeds=resolve_path(a.seeds), on_batch=print_batch, store_url=a.store)
    print(f"monitoring {cfg.opcua.endpoint if cfg.opcua else ', '.join(cfg.source_names())}; store {monitor.store.url}")
    await monitor.run(host=a.host, port=a.port)
    return 0


async def browse(a: argparse.Namespace) -> int:
    from monitor.collectors.browse import browse  # noqa: PLC0415 - see the import note in monitor/cli/data.py

    print(f"{'browse path (as [nodes] takes it)':<50} {'node id':<60} {'data type':<10} value")
    async for v in browse(a.url, depth=a.depth):
        print(f"{v.path:<50} {v.node_id:<60} {v.data_type:<10} {v.value!r}")
    return 0
