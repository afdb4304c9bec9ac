"""The `blackmass` command. The CLI prints; library code logs."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

# Only what every command needs is imported here; the OPC-UA library, the HTTP server and the
# PDF stack load with the commands that use them, so `report` and `replay` start in a fraction
# of the time (replay's speed is measured against a bare read of the file, start-up included).
from monitor.cli.data import (
    DEFAULT_PLANT,
    DEFAULT_SIM,
    cmd_assays_import,
    cmd_reconcile,
    cmd_replay,
    cmd_report,
    resolve_path,
)
from monitor.cli.passport import add_commands as add_passport_commands
from monitor.cli.passport import cmd_passport, cmd_shipment
from monitor.cli.store import add_store_commands, cmd_store, serve_store
from monitor.collectors.credentials import CLIENT_URI, PASSWORD_ENV, USER_ENV
from monitor.config import MonitorConfig, load_config
from monitor.core.results import BatchResult
from monitor.errors import MonitorError
from monitor.reports.exports import FORMATS
from monitor.simulator.plant import FAULTS
from monitor.simulator.plc import PROFILES, parse_profile
from monitor.store.url import default_url

if TYPE_CHECKING:
    from monitor.runs.demo import SimOptions
    from monitor.simulator.plc import PlcProfile


STORE_HELP = (
    "batch store URL: sqlite:///path (default sqlite:///<data-dir>/blackmass.db) or postgresql://user@host:port/db "
    "(password from BLACKMASS_STORE_PASSWORD or the file in BLACKMASS_STORE_PASSWORD_FILE)"
)


def _store_opt(p: argparse.ArgumentParser, *, data_dir_required: bool) -> None:
    p.add_argument("--store", metavar="URL", help=STORE_HELP)
    if not data_dir_required:
        p.add_argument("--data-dir", type=Path, help="a data directory: its blackmass.db is the store unless --store")


def _sim_knobs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", required=True, type=Path, help="where ground_truth.csv (and the store) go")
    p.add_argument("--line", help="the simulated line's name: its lot ids, OPC-UA namespace and batches (default L1)")
    p.add_argument("--speed", type=float, default=600.0, help="plant seconds per wall second (default 600)")
    p.add_argument("--duration", type=float, default=None, help="stop after this many wall seconds")
    p.add_argument("--seed", type=int, default=1, help="random seed of the lot schedule and noise")
    p.add_argument("--no-noise", action="store_true", help="exact measurements (truth = what the scales say)")
    p.add_argument("--sim-config", default=DEFAULT_SIM, help="simulator TOML (default config/simulator.toml)")
    p.add_argument("--seeds", default="seeds", help="reference-data folder (default seeds/)")
    p.add_argument(
        "--assay-delay",
        type=float,
        default=8.0,
        metavar="HOURS",
        help="plant hours from a lot's last output to its final assays (preliminary at a quarter; 0 = final at once)",
    )
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        choices=sorted(FAULTS),
        metavar="NAME",
        help="inject a fault from the third lot on (repeatable): "
        + "; ".join(f"{k}: {v}" for k, v in FAULTS.items()).replace("%", "%%"),
    )
    p.add_argument(
        "--plc-profile",
        default="",
        metavar="NAME[,NAME...]",
        help="play real-PLC habits (docs/plc-integration.md): "
        + "; ".join(f"{k}: {v}" for k, v in PROFILES.items()).replace("%", "%%"),
    )
    p.add_argument("--lots", type=int, default=0, help="play this many lots, then the line stops (0: for ever)")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="blackmass", description="Black-mass plant monitor and metal accounting")
    ap.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = ap.add_subparsers(dest="cmd", required=True)

    demo = sub.add_parser("demo", help="built-in plant simulator plus the monitor, in one process")
    _sim_knobs(demo)
    demo.add_argument("--config", default=DEFAULT_PLANT, help="plant TOML (default config/plant.toml)")
    demo.add_argument("--port", type=int, default=9464, help="HTTP port of /metrics (default 9464)")
    _store_opt(demo, data_dir_required=True)

    sim = sub.add_parser("simulate", help="run only the plant simulator (an OPC-UA server)")
    _sim_knobs(sim)
    sim.add_argument("--endpoint", default="opc.tcp://127.0.0.1:4840/blackmass", help="OPC-UA endpoint to serve")
    sim.add_argument("--config", default=None, help="accepted for symmetry; the simulator reads --sim-config")
    sim.add_argument("--start-now", action="store_true", help="start the plant clock without waiting for a client")
    sim.add_argument(
        "--security",
        type=Path,
        metavar="DIR",
        help="serve Basic256Sha256 Sign/SignAndEncrypt only, with DIR/simulator-cert.der (made when missing); "
        "client certificates in DIR/trusted are the only ones accepted",
    )
    sim.add_argument("--user", help=f"require this user; the password comes from {PASSWORD_ENV}")
    sim.add_argument(
        "--export-history",
        type=Path,
        metavar="FILE",
        help="serve nothing: write --days plant-days of every tag to FILE (.parquet or .csv, the replay format) "
        "and ground_truth.csv to --data-dir, as fast as the plant steps",
    )
    sim.add_argument("--days", type=float, default=30.0, help="plant-days for --export-history (default 30)")

    rp = sub.add_parser("replay", help="run a historian export (Parquet/CSV) through the core into the store")
    rp.add_argument("file", type=Path)
    _store_opt(rp, data_dir_required=False)
    rp.add_argument("--line", help="file the lots under this line (default: the export's own, else the config's)")
    rp.add_argument("--config", default=DEFAULT_PLANT)
    rp.add_argument("--seeds", default="seeds", help="reference-data folder (default seeds/)")

    certs = sub.add_parser("certs", help="make a self-signed OPC-UA application certificate and key")
    certs.add_argument("--out", required=True, type=Path, help="folder for NAME-cert.der and NAME-key.pem")
    certs.add_argument("--name", default="blackmass-monitor")
    certs.add_argument("--uri", default=CLIENT_URI, help=f"application URI (default {CLIENT_URI})")
    certs.add_argument("--server", action="store_true", help="a server certificate (default: client)")

    run = sub.add_parser("run", help="run the monitor against an OPC-UA server")
    run.add_argument("--config", default=DEFAULT_PLANT)
    run.add_argument("--endpoint", default=None, help="override [opcua] endpoint")
    run.add_argument("--data-dir", required=True, type=Path, help="checkpoints, LIMS inbox (and the SQLite store)")
    _store_opt(run, data_dir_required=True)
    run.add_argument("--port", type=int, default=None, help="override [http] port")
    run.add_argument("--host", default=None, help="override [http] host (default 127.0.0.1)")
    run.add_argument("--seeds", default="seeds", help="reference-data folder (default seeds/)")

    assays = sub.add_parser("assays", help="lab assays (LIMS CSV)")
    asub = assays.add_subparsers(dest="assays_cmd", required=True)
    imp = asub.add_parser("import", help="import an assay file; all rows or none")
    imp.add_argument("file", type=Path)
    _store_opt(imp, data_dir_required=False)
    imp.add_argument("--config", default=DEFAULT_PLANT)
    imp.add_argument("--seeds", default="seeds")

    rec = sub.add_parser(
        "reconcile", help="reconcile one balance node from a CSV (stream,direction,measured_kg,rel_sigma)"
    )
    rec.add_argument("file", type=Path)
    rec.add_argument("--json", action="store_true", help="machine-readable output")

    rep = sub.add_parser("report", help="export batch results")
    _store_opt(rep, data_dir_required=False)
    rep.add_argument("--format", choices=sorted(FORMATS), default="csv")
    rep.add_argument("--out", required=True, help="file, or - for standard output")
    rep.add_argument("--line", action="append", help="one line, or several (repeat, or separate by commas)")
    rep.add_argument("--chemistry")
    rep.add_argument("--batch")
    rep.add_argument("--from", dest="start_from", help="batches starting at or after (date or datetime, UTC)")
    rep.add_argument("--to", dest="start_to", help="batches starting before (date or datetime, UTC)")
    rep.add_argument("--include-partial", action="store_true", help="also batches whose start the monitor did not see")

    chk = sub.add_parser("check-config", help="validate a plant TOML and summarise it")
    chk.add_argument("file")
    chk.add_argument("--endpoint", help="also resolve every tag on this live server (opc.tcp://…; '-' = the config's)")

    add_store_commands(sub)

    br = sub.add_parser("browse", help="list an OPC-UA server's variables with their node ids")
    br.add_argument("url")
    br.add_argument("--depth", type=int, default=6)
    add_passport_commands(sub)
    return ap


def cmd_check_config(a: argparse.Namespace) -> int:
    cfg = load_config(a.file)
    streams = ", ".join(f"{s.name}({s.source.value})" for s in cfg.line.streams)
    print(f"{a.file}: OK — line {cfg.line.line}, endpoint {cfg.opcua.endpoint}")
    print(f"  streams: {streams}")
    print(f"  {len(cfg.tag_addresses())} tags subscribed, {len(cfg.process)} process values on /metrics")
    sec = cfg.opcua.security
    user = sec.username or os.environ.get(USER_ENV)
    print(
        f"  OPC-UA security: {sec.policy}/{sec.mode}; user: {user or 'anonymous'}"
        + (f" (password {'set' if os.environ.get(PASSWORD_ENV) or sec.password_file else 'MISSING'})" if user else "")
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
    print(f"  store: {cfg.store_url or 'sqlite:///<data-dir>/blackmass.db (default)'}")
    if not a.endpoint:
        return 0
    return asyncio.run(_probe(cfg if a.endpoint == "-" else cfg.with_endpoint(a.endpoint)))


async def _probe(cfg: MonitorConfig) -> int:
    from monitor.runs.probe import probe  # noqa: PLC0415 - see the import note at the top

    checks = await probe(cfg)
    bad = [c for c in checks if c.problem]
    print(f"  {cfg.opcua.endpoint}: {len(checks) - len(bad)} of {len(checks)} tags resolve with a usable type")
    for c in checks:
        mark = "MISSING" if c.problem.startswith("missing") else "TYPE" if c.problem else "ok"
        print(f"    {mark:<8} {c.tag:<34} {c.node_id or c.address:<48} {c.data_type:<10} {c.problem}")
    return 1 if bad else 0


def cmd_export_history(a: argparse.Namespace) -> int:
    from monitor.runs.demo import make_plant  # noqa: PLC0415 - see the import note at the top
    from monitor.simulator.export import export_history  # noqa: PLC0415

    t = time.monotonic()
    o = _sim_options(a)
    done = export_history(make_plant(o), a.export_history, a.days, o.data_dir / "ground_truth.csv")
    print(
        f"{done.rows:,} samples of {done.days:g} plant-days ({done.lots} lots) -> {a.export_history}; "
        f"truth -> {o.data_dir / 'ground_truth.csv'} ({time.monotonic() - t:.1f} s)"
    )
    return 0


def cmd_certs(a: argparse.Namespace) -> int:
    from monitor.collectors.security import fingerprint, make_certificate  # noqa: PLC0415

    cert, key = make_certificate(a.out, a.name, a.uri, server=a.server)
    print(f"certificate {cert} (sha256 {fingerprint(cert.read_bytes())}…)\nprivate key {key} (mode 600)")
    print("give the certificate to the server's trusted clients; keep the key on this machine")
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


def _sim_options(a: argparse.Namespace) -> SimOptions:
    from monitor.runs.demo import SimOptions  # noqa: PLC0415

    return SimOptions(
        data_dir=a.data_dir,
        sim_config=resolve_path(a.sim_config),
        seeds=resolve_path(a.seeds),
        speed=a.speed,
        seed=a.seed,
        noise=not a.no_noise,
        assay_delay_h=a.assay_delay,
        faults=frozenset(a.fault),
        profile=_profile(a.plc_profile),
        lots=a.lots,
        line=a.line,
    )


def _profile(text: str) -> PlcProfile:
    try:
        return parse_profile(text)
    except ValueError as exc:
        raise MonitorError(f"--plc-profile {text}: {exc}") from exc


async def _demo(a: argparse.Namespace) -> int:
    from monitor.runs.demo import run_demo  # noqa: PLC0415 - see the import note at the top

    print(
        f"plant simulator at x{a.speed:g}; /metrics on http://127.0.0.1:{a.port}/metrics; "
        f"store {a.store or default_url(a.data_dir)}"
    )
    print(ROW.format("batch", "chem", "feed form", "feed t", "black t", "yield %", "closure %", "flags"))
    monitor = await run_demo(
        _sim_options(a),
        config=resolve_path(a.config),
        port=a.port,
        duration=a.duration,
        on_batch=print_batch,
        store_url=a.store,
    )
    print(f"{monitor.completed} batches completed")
    return 0


async def _simulate(a: argparse.Namespace) -> int:
    from monitor.runs.demo import plant_server  # noqa: PLC0415 - see the import note at the top
    from monitor.simulator.server_security import ServerSecurity  # noqa: PLC0415

    server = plant_server(_sim_options(a), a.endpoint, start_on_subscribe=not a.start_now)
    if a.security is not None:
        users = {}
        if a.user:
            password = os.environ.get(PASSWORD_ENV)
            if not password:
                raise MonitorError(f"--user {a.user}: set its password in {PASSWORD_ENV}")
            users[a.user] = password
        server.security = ServerSecurity.in_folder(a.security, users)
        print(f"security: Basic256Sha256 Sign/SignAndEncrypt; server certificate {server.security.certificate}")
    await server.start()
    print(f"simulator on {a.endpoint} at x{a.speed:g}; ground truth -> {a.data_dir / 'ground_truth.csv'}")
    try:
        async with asyncio.timeout(a.duration):
            await server.run()
    except TimeoutError:
        pass
    finally:
        await server.stop()
    return 0


async def _run(a: argparse.Namespace) -> int:
    from monitor.runs.app import Monitor  # noqa: PLC0415 - see the import note at the top

    cfg = load_config(resolve_path(a.config))
    if a.endpoint:
        cfg = cfg.with_endpoint(a.endpoint)
    monitor = Monitor(cfg, a.data_dir, seeds=resolve_path(a.seeds), on_batch=print_batch, store_url=a.store)
    print(f"monitoring {cfg.opcua.endpoint}; store {monitor.store.url}")
    await monitor.run(host=a.host, port=a.port)
    return 0


async def _browse(a: argparse.Namespace) -> int:
    from monitor.collectors.browse import browse  # noqa: PLC0415 - see the import note at the top

    async for path, node_id, value in browse(a.url, depth=a.depth):
        print(f"{path:<50} {node_id:<60} {value!r}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(a.verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("asyncua").setLevel(max(level, logging.ERROR if a.verbose < 2 else logging.DEBUG))
    try:
        if a.cmd == "report":
            return cmd_report(a)
        if a.cmd == "check-config":
            return cmd_check_config(a)
        if a.cmd == "assays":
            return cmd_assays_import(a)
        if a.cmd == "reconcile":
            return cmd_reconcile(a)
        if a.cmd == "certs":
            return cmd_certs(a)
        if a.cmd == "replay":
            return cmd_replay(a)
        if a.cmd == "passport":
            return cmd_passport(a)
        if a.cmd == "shipment":
            return cmd_shipment(a)
        if a.cmd == "store":
            return cmd_store(a)
        if a.cmd == "simulate" and a.export_history is not None:
            return cmd_export_history(a)
        runner = {"demo": _demo, "simulate": _simulate, "run": _run, "browse": _browse, "serve": serve_store}[a.cmd]
        with contextlib.suppress(KeyboardInterrupt):
            return asyncio.run(runner(a))
        return 130
    except MonitorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
