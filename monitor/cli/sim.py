"""The CLI's simulator commands: demo (simulator and monitor in one process), simulate, export-history."""

from __future__ import annotations

import argparse
import faulthandler
import os
import sys
import time
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitor.cli.data import DEFAULT_PLANT, DEFAULT_SIM, resolve_path, store_option
from monitor.cli.plant import ROW, print_batch
from monitor.collectors.credentials import PASSWORD_ENV
from monitor.errors import MonitorError
from monitor.simulator.plc import PROFILES, parse_profile
from monitor.store.url import default_url

STOP_GRACE_S = 30.0  # wall seconds a demo may take to stop after its --duration before its stacks are dumped

if TYPE_CHECKING:
    from monitor.runs.demo import SimOptions
    from monitor.simulator.plc import PlcProfile


def sim_knobs(p: argparse.ArgumentParser, *, faults: bool = True) -> None:
    """The simulator's knobs; `faults` False: the list of faults (the simulator, numpy) is not loaded, for a
    parser that will not parse (another command runs, or the top-level --help)."""
    p.add_argument("--data-dir", required=True, type=Path, help="where ground_truth.csv (and the store) go")
    p.add_argument("--line", help="the simulated line's name: its lot ids, OPC-UA namespace and batches (default L1)")
    p.add_argument("--speed", type=float, default=600.0, help="plant seconds per wall second (default 600)")
    p.add_argument("--duration", type=float, default=None, help="stop after this many wall seconds")
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        help="random seed of the lot schedule and noise (default 1 for line L1, another per line name)",
    )
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
    choices, listed = None, "see the command's own --help"
    if faults:
        from monitor.runs.demo_sources import SOURCE_FAULTS  # noqa: PLC0415 - start-up: see monitor/cli/data.py
        from monitor.simulator.plant import FAULTS  # noqa: PLC0415

        every = {**FAULTS, **SOURCE_FAULTS}
        choices, listed = sorted(every), "; ".join(f"{k}: {v}" for k, v in every.items()).replace("%", "%%")
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        choices=choices,
        metavar="NAME",
        help=f"inject a fault from the third lot on (repeatable): {listed}",
    )
    p.add_argument(
        "--plc-profile",
        default="",
        metavar="NAME[,NAME...]",
        help="play real-PLC habits (docs/plc-integration.md): "
        + "; ".join(f"{k}: {v}" for k, v in PROFILES.items()).replace("%", "%%"),
    )
    p.add_argument("--lots", type=int, default=0, help="play this many lots, then the line stops (0: for ever)")
    p.add_argument(
        "--sources",
        default="opcua",
        help="the simulator's faces feeding the monitor: opcua plus any of modbus (the bagging scale, Modbus TCP) "
        "and sparkplug (the dryer, Sparkplug B; needs --broker) (default opcua); without opcua (sparkplug or "
        "modbus,sparkplug): a line with no OPC-UA source, every other tag a metric of the edge node",
    )
    p.add_argument("--broker", help="MQTT broker for --sources ...sparkplug, e.g. mqtt://127.0.0.1:1883")


def add_sim_commands(sub: Any, *, faults: bool = True) -> None:
    """demo and simulate (with --export-history); `faults`: see sim_knobs."""
    demo = sub.add_parser("demo", help="built-in plant simulator plus the monitor, in one process")
    sim_knobs(demo, faults=faults)
    demo.add_argument("--config", default=DEFAULT_PLANT, help="plant TOML (default config/plant.toml)")
    demo.add_argument("--port", type=int, default=9464, help="HTTP port of /metrics (default 9464)")
    store_option(demo, data_dir_required=True)

    sim = sub.add_parser("simulate", help="run only the plant simulator (an OPC-UA server)")
    sim_knobs(sim, faults=faults)
    sim.add_argument("--endpoint", default="opc.tcp://127.0.0.1:4840/blackmass", help="OPC-UA endpoint to serve")
    sim.add_argument("--config", default=None, help="accepted for symmetry; the simulator reads --sim-config")
    sim.add_argument(
        "--lims-dir",
        type=Path,
        help="where the simulated lab writes its assay files (default <data-dir>/lims: the inbox of "
        "`blackmass run --data-dir` on the same folder)",
    )
    sim.add_argument("--start-now", action="store_true", help="start the plant clock without waiting for a client")
    sim.add_argument("--modbus-port", type=int, default=5020, help="--sources ...modbus: the scale terminal's port")
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


def cmd_export_history(a: argparse.Namespace) -> int:
    from monitor.runs.demo import make_plant  # noqa: PLC0415 - see the import note in monitor/cli/data.py
    from monitor.simulator.export import export_history  # noqa: PLC0415

    t = time.monotonic()
    o = _sim_options(a)
    done = export_history(make_plant(o), a.export_history, a.days, o.data_dir / "ground_truth.csv")
    print(
        f"{done.rows:,} samples of {done.days:g} plant-days ({done.lots} lots) -> {a.export_history}; "
        f"truth -> {o.data_dir / 'ground_truth.csv'} ({time.monotonic() - t:.1f} s)"
    )
    return 0


def _sim_options(a: argparse.Namespace) -> SimOptions:
    from monitor.runs.demo import SimOptions  # noqa: PLC0415

    return SimOptions(
        data_dir=a.data_dir,
        sim_config=resolve_path(a.sim_config),
        seeds=resolve_path(a.seeds),
        speed=a.speed,
        seed=line_seed(a.line) if a.seed is None else a.seed,
        noise=not a.no_noise,
        assay_delay_h=a.assay_delay,
        faults=frozenset(f for f in a.fault if not f.startswith(("source-down=", "source-outage="))),
        source_faults=frozenset(f for f in a.fault if f.startswith(("source-down=", "source-outage="))),
        sources=tuple(x.strip() for x in a.sources.split(",") if x.strip()),
        broker=a.broker,
        profile=_profile(a.plc_profile),
        lots=a.lots,
        line=a.line,
        lims_dir=getattr(a, "lims_dir", None),
    )


def line_seed(line: str | None) -> int:
    """The default seed: 1 for L1 (and no --line), a stable other one per line, so lines play apart."""
    return 1 if line in (None, "L1") else zlib.crc32(line.encode()) % 1_000_000 + 2


def _profile(text: str) -> PlcProfile:
    try:
        return parse_profile(text)
    except ValueError as exc:
        raise MonitorError(f"--plc-profile {text}: {exc}") from exc


async def demo(a: argparse.Namespace) -> int:
    from monitor.runs.demo import run_demo  # noqa: PLC0415 - see the import note in monitor/cli/data.py

    print(
        f"plant simulator at x{a.speed:g}; /metrics on http://127.0.0.1:{a.port}/metrics; "
        f"store {a.store or default_url(a.data_dir)}"
    )
    print(ROW.format("batch", "chem", "feed form", "feed t", "black t", "yield %", "closure %", "flags"))
    if a.duration is not None:
        # a demo that does not stop within 30 s of its duration dumps every thread's stack to stderr:
        # a rare stall at shutdown was seen under load and never caught in the act
        faulthandler.dump_traceback_later(a.duration + STOP_GRACE_S, exit=False)
    try:
        monitor = await run_demo(
            _sim_options(a),
            config=resolve_path(a.config),
            port=a.port,
            duration=a.duration,
            on_batch=print_batch,
            store_url=a.store,
        )
    finally:
        faulthandler.cancel_dump_traceback_later()
    print(f"{monitor.completed} batches completed")
    print(next_steps(a.data_dir, a.store))
    return 0


def next_steps(data_dir: Path, store: str | None) -> str:
    """Where the demo's data is and the three commands a newcomer tries next."""
    exe = Path(sys.argv[0])
    here = Path.cwd()
    cmd = str(exe.relative_to(here)) if exe.is_absolute() and exe.is_relative_to(here) else exe.name or "blackmass"
    where = f"--store {store}" if store else f"--data-dir {data_dir}"
    return "\n".join(
        [
            f"data: {data_dir}/ (store: {store or default_url(data_dir)}; lab assays: {data_dir / 'lims'}/; "
            f"plant truth: {data_dir / 'ground_truth.csv'})",
            "next:",
            f"  {cmd} report {where} --format pdf --out report.pdf     # the batch report",
            f"  {cmd} serve {where}                                    # the API: http://127.0.0.1:9470/api/batches",
            f"  {cmd} report {where} --format csv --out -              # one row per lot, to the terminal",
        ]
    )


async def simulate(a: argparse.Namespace) -> int:
    from asyncio import timeout  # noqa: PLC0415 - start-up: see monitor/cli/data.py

    from monitor.runs.demo import plant_server  # noqa: PLC0415 - see the import note in monitor/cli/data.py
    from monitor.simulator.server_security import ServerSecurity  # noqa: PLC0415

    o = _sim_options(a)
    server = plant_server(o, a.endpoint, start_on_subscribe=not a.start_now)
    if o.sources != ("opcua",):
        from monitor.runs.demo_sources import attach_faces  # noqa: PLC0415

        attach_faces(server, o.sources, o.broker, a.modbus_port)
        faces = [f"scale terminal modbus://127.0.0.1:{a.modbus_port}"] * bool(server.scale)
        edge = "dryer" if "opcua" in o.sources else "line (every tag a metric of device Line)"
        faces += [f"{edge} edge node {o.broker} (group blackmass)"] * bool(server.edge)
        print(f"faces: {', '.join(faces)} (docs/sources.md)")
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
    lims = a.lims_dir or a.data_dir / "lims"
    print(
        f"simulator on {a.endpoint} at x{a.speed:g}; ground truth -> {a.data_dir / 'ground_truth.csv'}; "
        f"assays -> {lims}"
    )
    try:
        async with timeout(a.duration):
            if server.edge is None:
                await server.run()
            else:
                from asyncio import TaskGroup  # noqa: PLC0415

                async with TaskGroup() as tg:
                    tg.create_task(server.run())
                    tg.create_task(server.edge.run())
    except TimeoutError:
        pass
    finally:
        await server.stop()
    return 0
