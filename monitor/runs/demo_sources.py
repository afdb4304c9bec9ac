"""`demo --sources opcua,modbus,sparkplug`: the simulator's bagging scale speaks Modbus TCP and its dryer
Sparkplug B through a broker; the monitor's config gains those two sources, written as a plant
engineer would (the same as the worked example in docs/sources.md). Without opcua (`--sources
sparkplug` or `modbus,sparkplug`), the edge node publishes every other tag of the line as well."""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace
from urllib.parse import urlsplit

from monitor.collectors.health import ConnState
from monitor.collectors.modbus_decode import Point
from monitor.collectors.source_settings import ModbusSettings, MqttPoint, MqttSettings
from monitor.config import MonitorConfig
from monitor.config.sources import Sources, SourceSettings
from monitor.errors import MonitorError
from monitor.runs.app import Monitor
from monitor.simulator.modbus_face import ScaleTerminal
from monitor.simulator.proxy import TcpRelay
from monitor.simulator.server import PlantServer, free_port
from monitor.simulator.source_outages import ORDER, SourceOutages
from monitor.simulator.sparkplug_edge import GROUP, DryerEdgeNode

KNOWN = ("opcua", "modbus", "sparkplug")
SOURCE_FAULTS = {
    "source-down=modbus": "the bagging scale terminal (Modbus TCP) goes away from the second lot on",
    "source-down=sparkplug": "the dryer's Sparkplug edge node dies (NDEATH) from the second lot on",
    "source-outage=modbus": "the scale terminal goes away for 1200 plant s from the second lot's start, then is back",
    "source-outage=sparkplug": "the monitor's link to the broker is cut for 1200 plant s (after the scale's outage)",
}
BAG_COUNT = "BlackMass.BagCount"
SETTLE_WALL_S = 2.0  # wall seconds the engine waits past a window for the slower sources (plant s = x speed):
# longer than an outage of a source that replays (OUTAGE_S is half a wall second at x2400) plus its
# reconnect, on a loaded machine too
LINE_DEVICE = "Line"  # the edge node's device carrying a whole line (no OPC-UA source)
MODBUS_TIMEOUT_WALL_S = 1.5  # a starved machine answers late; lots wait on the scale's watermark, not on this


def check_sources(sources: tuple[str, ...], broker: str | None) -> None:
    unknown = [s for s in sources if s not in KNOWN]
    if unknown or not ({"opcua", "sparkplug"} & set(sources)):
        raise MonitorError(
            f"--sources {','.join(sources)}: expected opcua or sparkplug (the one that carries the lot id) "
            "plus any of modbus, sparkplug, opcua"
        )
    if "sparkplug" in sources and not broker:
        raise MonitorError("--sources ...sparkplug needs --broker mqtt://host:port (a running MQTT broker)")


def scale_points() -> tuple[Point, ...]:
    """The scale terminal's register map (monitor/simulator/modbus_face.py) as the monitor reads it."""
    at, count = 4, BAG_COUNT  # the weighing's time register; the counter whose rise sends the bag
    return (
        Point(tag=BAG_COUNT, address=0, dtype="uint32"),
        Point(tag="BlackMass.BagNetWeight", address=2, dtype="float32", order="CDAB", time_address=at, trigger=count),
        Point(tag="BlackMass.BagId", address=10, dtype="string", length=10, time_address=at, trigger=count),
        Point(tag="BlackMass.BagTemp", table="input", address=0, dtype="int16", scale=0.1),
    )


def attach_faces(server: PlantServer, sources: tuple[str, ...], broker: str | None, modbus_port: int) -> None:
    """The simulator alone (`blackmass simulate --sources ...`): its scale terminal on `modbus_port`,
    its dryer's edge node on `broker` (run server.edge.run() beside the plant)."""
    check_sources(sources, broker)
    if "modbus" in sources:
        server.scale = ScaleTerminal("127.0.0.1", modbus_port)
    if "sparkplug" in sources and broker:
        taken = {p.tag for p in scale_points()} if "modbus" in sources else set()
        server.edge = _edge(server, broker, f"{server.plant.cfg.line}-edge", sources, taken)
    if "opcua" not in sources:  # no OPC-UA client to wait for: the plant runs from the start
        server.start_on_subscribe = False


def attach_sources(
    cfg: MonitorConfig, server: PlantServer, sources: tuple[str, ...], broker: str | None, speed: float
) -> MonitorConfig:
    """Give `server` the faces `sources` asks for and `cfg` the matching sources and points."""
    check_sources(sources, broker)
    settings: dict[str, SourceSettings] = {"opcua": cfg.opcua} if cfg.opcua and "opcua" in sources else {}
    assigned: dict[str, str] = {}
    if "modbus" in sources:
        port = free_port()
        server.scale = ScaleTerminal("127.0.0.1", port)
        pts = scale_points()
        settings["modbus"] = ModbusSettings(
            host="127.0.0.1", port=port, poll_interval_ms=50, timeout_s=MODBUS_TIMEOUT_WALL_S, points=pts
        )
        assigned |= {p.tag: "modbus" for p in pts}
    if "sparkplug" in sources and broker:
        node = f"{cfg.line.line}-edge"
        server.edge = _edge(server, broker, node, sources, set(assigned))
        broker = _link(server, broker, sources)
        known = set(cfg.all_tags())  # the monitor's tags among the edge node's metrics
        mpts = tuple(
            MqttPoint(tag=tag, metric=name, device=server.edge.device)
            for tag, name in server.edge.metrics.items()
            if tag in known
        )
        settings["sparkplug"] = MqttSettings(
            broker=broker,
            group=GROUP,
            edge_node=node,
            host_id=f"blackmass-{cfg.line.line}",
            client_id=f"blackmass-demo-{cfg.line.line}-{os.getpid()}",
            reconnect_min_s=0.05,  # a local broker: back within a fraction of the settle
            reconnect_max_s=0.25,
            timeout_s=0.5,  # a connection the cut link drops before CONNACK is retried, not waited on
            points=mpts,
        )
        assigned |= {p.tag: "sparkplug" for p in mpts}
    outages = tuple(n for n in ORDER if f"source-outage={n}" in server.source_faults and n in sources)
    if outages:
        server.outages = SourceOutages(
            outages, scale=server.scale, link=server.outages.link if server.outages else None
        )
    primary = "opcua" if "opcua" in settings else assigned[cfg.line.batch_id_tag]
    srcs = Sources(primary=primary, settings=settings, nodes={}, assigned=assigned)
    op = cfg.opcua if "opcua" in settings else None
    return replace(cfg, sources=srcs, opcua=op, settle_s=max(cfg.settle_s, SETTLE_WALL_S * speed))


def _edge(server: PlantServer, broker: str, node: str, sources: tuple[str, ...], taken: set[str]) -> DryerEdgeNode:
    """The dryer's edge node; with no OPC-UA source, one publishing every tag of the plant but those
    `taken` (the scale's) as metrics of device "Line" named as the tags, text values as Strings."""
    if "opcua" in sources:
        return DryerEdgeNode(broker, node)
    values = server.plant.values
    texts = frozenset(t for t, v in values.items() if isinstance(v, str))
    edge = DryerEdgeNode(broker, node, {t: t for t in values if t not in taken}, device=LINE_DEVICE, texts=texts)
    edge.take(server.plant.ts, values)  # its births carry the line's state before it runs (the lot id idle)
    return edge


async def listening(monitor: Monitor, server: PlantServer) -> None:
    """Until every source of the monitor and the edge node are connected: a line with no OPC-UA source
    starts its plant then (nobody subscribes to the simulator's OPC-UA server to start it)."""
    while not (  # noqa: ASYNC110 - the collectors share no connected event; their states are the condition
        all(c.health().state is ConnState.CONNECTED for c in monitor.sources.values())
        and (server.edge is None or server.edge.connected.is_set())
    ):
        await asyncio.sleep(0.02)
    server.clock.start()


def _link(server: PlantServer, broker: str, sources: tuple[str, ...]) -> str:
    """The broker URL the monitor uses: with source-outage=sparkplug, a relay the fault can cut."""
    if "source-outage=sparkplug" not in server.source_faults or "sparkplug" not in sources:
        return broker
    url = urlsplit(broker)
    relay = TcpRelay("127.0.0.1", free_port(), url.port or 1883)
    server.outages = SourceOutages((), link=relay)
    return f"mqtt://127.0.0.1:{relay.listen_port}"
