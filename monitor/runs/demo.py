"""The demo: the built-in plant simulator and the monitor in one process, on free ports."""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from monitor.config import MonitorConfig, load_config
from monitor.core.spec import SourceKind
from monitor.runs.app import BatchCallback, Monitor
from monitor.runs.demo_sources import attach_sources, listening
from monitor.simulator.clock import PlantClock
from monitor.simulator.composition import load_seeds
from monitor.simulator.lims import Lab
from monitor.simulator.lots import TruthWriter, load_schedule
from monitor.simulator.plant import Plant
from monitor.simulator.plc import INT_COUNTER_KG, SAME_BAG_KG, PlcProfile
from monitor.simulator.server import PlantServer, free_port
from monitor.simulator.settings import LINE_NAMESPACE, SimConfig, load_sim_config

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class SimOptions:
    data_dir: Path
    sim_config: Path
    seeds: Path
    speed: float = 600.0
    seed: int = 1
    noise: bool = True
    t0: float | None = None
    assay_delay_h: float = 8.0
    faults: frozenset[str] = frozenset()
    profile: PlcProfile = field(default_factory=PlcProfile)
    lots: int = 0  # play this many lots, then the line stops (0: for ever)
    line: str | None = None  # --line: the simulated line's name (else the simulator config's)
    lims_dir: Path | None = None  # where the lab writes its files (default <data_dir>/lims: the monitor's inbox)
    sources: tuple[str, ...] = ("opcua",)  # --sources: which faces of the simulator feed the monitor
    broker: str | None = None  # --broker: the MQTT broker of the Sparkplug source
    source_faults: frozenset[str] = frozenset()  # source-down=NAME (demo_sources.SOURCE_FAULTS)


def sim_config(o: SimOptions) -> SimConfig:
    """The simulator's config with the lot count and the PLC profile's plant-side habits."""
    p = o.profile
    return replace(
        load_sim_config(o.sim_config, line=o.line),
        lots=o.lots,
        paused_s=p.paused_s,
        lot_ids={(True, True): "reused-int", (True, False): "reused", (False, True): "int"}.get(
            (p.reused_ids, p.int_lot_id), "plant"
        ),
        same_weight_bags_kg=SAME_BAG_KG if p.same_weight_bags else 0.0,
    )


def monitor_config(cfg: MonitorConfig, profile: PlcProfile) -> MonitorConfig:
    """The plant config as an engineer would write it for this PLC (the demo knows its simulator)."""
    if not profile.int_counters:
        return cfg
    streams = tuple(
        replace(s, scale=INT_COUNTER_KG) if s.source is SourceKind.TOTALIZER else s for s in cfg.line.streams
    )
    return replace(cfg, line=replace(cfg.line, streams=streams))


def make_plant(o: SimOptions) -> Plant:
    return Plant(
        sim_config(o),
        load_seeds(o.seeds),
        load_schedule(o.seeds / "demo_lots.csv"),
        t0=float(int(time.time())) if o.t0 is None else o.t0,
        seed=o.seed,
        noise=o.noise,
        faults=o.faults,
    )


def for_line(cfg: MonitorConfig, line: str | None) -> MonitorConfig:
    """The monitor config of simulated line `line`: its name and the simulator's namespace for it."""
    if line is None:
        return cfg
    opcua = replace(cfg.opcua, namespace_uri=LINE_NAMESPACE.format(line=line)) if cfg.opcua else None
    return replace(cfg, line=replace(cfg.line, line=line), opcua=opcua)


def plant_server(o: SimOptions, endpoint: str, *, start_on_subscribe: bool = True) -> PlantServer:
    plant = make_plant(o)
    t0 = plant.t0
    o.data_dir.mkdir(parents=True, exist_ok=True)
    inbox = o.lims_dir or o.data_dir / "lims"
    lab = Lab(inbox, np.random.default_rng(o.seed + 10_000), o.noise, o.assay_delay_h, line=plant.cfg.line)
    return PlantServer(
        plant,
        PlantClock(t0, o.speed),
        endpoint,
        TruthWriter(o.data_dir / "ground_truth.csv"),
        lab=lab,
        start_on_subscribe=start_on_subscribe,
        profile=o.profile,
        source_faults=o.source_faults,
    )


async def _expire_when(stop: asyncio.Event, deadline: asyncio.Timeout) -> None:
    """The caller's stop event ends the demo as its duration would."""
    await stop.wait()
    deadline.reschedule(asyncio.get_running_loop().time())


async def run_demo(
    o: SimOptions,
    *,
    config: Path,
    port: int,
    duration: float | None,
    on_batch: BatchCallback | None = None,
    on_monitor: Callable[[Monitor], None] | None = None,
    store_url: str | None = None,
    stop: asyncio.Event | None = None,
) -> Monitor:
    """Run simulator + monitor until `duration` wall seconds have passed or `stop` is set (a test ends
    the demo when what it waits for has happened; the duration then only bounds a hang); returns the
    monitor."""
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}/blackmass"
    server = plant_server(o, endpoint)
    cfg = monitor_config(for_line(load_config(config), o.line).with_endpoint(endpoint), o.profile)
    if o.sources != ("opcua",):
        cfg = attach_sources(cfg, server, o.sources, o.broker, o.speed)
    # one process: the monitor's clock is the plant's, so ages and clock offsets read in plant seconds
    monitor = Monitor(cfg, o.data_dir, seeds=o.seeds, on_batch=on_batch, clock=server.clock.now, store_url=store_url)
    if on_monitor is not None:
        on_monitor(monitor)
    await server.start()
    log.info("demo: simulator %s, /metrics on port %d", endpoint, port)
    loop = asyncio.get_running_loop()
    # a demo that does not stop (seen rarely, the loop idle in select) names the tasks it waits on
    watch = loop.call_later(duration + STOP_WATCH_S, _log_tasks) if duration is not None else None
    try:
        async with asyncio.timeout(duration) as deadline, asyncio.TaskGroup() as tg:
            tg.create_task(server.run(), name="simulator")
            if "opcua" not in o.sources:  # no OPC-UA client starts the plant: it starts when all listen
                tg.create_task(listening(monitor, server), name="listening")
            if server.edge is not None:
                tg.create_task(server.edge.run(), name="edge-node")
            tg.create_task(monitor.run(port=port), name="monitor")
            if stop is not None:
                tg.create_task(_expire_when(stop, deadline), name="stop")
    except TimeoutError:
        pass
    finally:
        await server.stop()
        if watch is not None:
            watch.cancel()
    return monitor


STOP_WATCH_S = 25.0  # wall seconds past --duration before the unfinished tasks are logged


def _log_tasks() -> None:
    for task in asyncio.all_tasks():
        text = io.StringIO()
        task.print_stack(limit=8, file=text)
        log.error("demo still waiting %.0f s after its duration on %s:\n%s", STOP_WATCH_S, task, text.getvalue())
