"""The simulator's OPC-UA face: an asyncua server whose variables the plant writes each step."""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any
from urllib.parse import urlsplit

from asyncua import Server, ua

from monitor.simulator.clock import PlantClock
from monitor.simulator.historian import PlantHistory
from monitor.simulator.lims import Lab
from monitor.simulator.lots import Lot, TruthWriter, truth_row
from monitor.simulator.modbus_face import ScaleTerminal
from monitor.simulator.plant import OUTAGE_S, TOTALIZER_TAG, Plant
from monitor.simulator.plc import PlcFace, PlcProfile
from monitor.simulator.proxy import TcpRelay
from monitor.simulator.publish_clock import stamp_publish_time
from monitor.simulator.server_security import ServerSecurity, apply, new_server
from monitor.simulator.source_outages import SourceOutages
from monitor.simulator.sparkplug_edge import DryerEdgeNode

log = logging.getLogger(__name__)

# tag -> (engineering unit, description); strings are the lot attributes and bag ids
TAG_UNITS: dict[str, str] = {
    "Feed.LotId": "",
    "Feed.Chemistry": "",
    "Feed.FeedForm": "",
    "Feed.Supplier": "",
    "Feed.Rate": "t/h",
    "Feed.Totalizer": "kg",
    "Shredder.O2": "vol %",
    "Shredder.Power": "kW",
    "Shredder.Current": "A",
    "Shredder.GasTemp": "degC",
    "Shredder.LEL": "%LEL",
    "Shredder.N2Flow": "Nm3/h",
    "Dryer.ProductTemp": "degC",
    "Dryer.Pressure": "mbar(a)",
    "Dryer.CondensateTotalizer": "kg",
    "Magnet.FerrousTotalizer": "kg",
    "EddyCurrent.AluminiumTotalizer": "kg",
    "EddyCurrent.CopperTotalizer": "kg",
    "Classifier.LightTotalizer": "kg",
    "Baghouse.FinesTotalizer": "kg",
    "BlackMass.BagId": "",
    "BlackMass.BagNetWeight": "kg",
    "BlackMass.BagTemp": "degC",
    "Energy.ShredderKWh": "kWh",
    "Energy.DryerKWh": "kWh",
    "Energy.TotalKWh": "kWh",
}


STOP_WITHIN_S = 10.0  # wall seconds the OPC-UA server gets to close its sessions at stop
UNSET_DATETIME = ua.DateTime(1601, 1, 1, tzinfo=UTC)  # encodes as DateTime 0: "not set" (null-server-ts)


def free_port() -> int:
    """A TCP port free on localhost now (the one helper the demo and the tests use too)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PlantServer:
    """Runs the plant against its clock and publishes every tag on an asyncua server."""

    plant: Plant
    clock: PlantClock
    endpoint: str
    truth: TruthWriter | None = None
    lab: Lab | None = None
    start_on_subscribe: bool = True  # the plant waits for its first client: a test rig sees every lot
    security: ServerSecurity | None = None
    profile: PlcProfile = field(default_factory=PlcProfile)
    scale: ScaleTerminal | None = None  # --sources modbus: the bagging scale terminal (Modbus TCP)
    edge: DryerEdgeNode | None = None  # --sources sparkplug: the dryer's edge node (Sparkplug B)
    source_faults: frozenset[str] = frozenset()  # source-down=NAME: that face goes away from lot 2 on
    outages: SourceOutages | None = None  # source-outage=NAME: each face away for a while, in turn

    def __post_init__(self) -> None:
        self.face = PlcFace(self.profile, ("Feed.Totalizer", *TOTALIZER_TAG.values()), self.plant.cfg.step_s)
        self._initial = self.face.initial(self.plant.values, self.plant.ts)
        self._server: Server | None = None
        self._nodes: dict[str, ua.NodeId] = {}
        self.ns_index = 0
        self.history = PlantHistory()
        self._published: dict[str, ua.DataValue] = {}  # the last value of each tag, restored on restart
        self._down_until: float | None = None  # plant time the server or the network comes back
        self.restarts = 0
        self._relay: TcpRelay | None = None
        self._serve_at = self.endpoint
        if "network-outage" in self.plant.faults:  # clients reach the server through a relay we can cut
            url = urlsplit(self.endpoint)
            inner = free_port()
            self._serve_at = url._replace(netloc=f"{url.hostname}:{inner}").geturl()
            self._relay = TcpRelay(url.hostname or "127.0.0.1", url.port or 4840, inner)

    def _side_parts(self) -> list[ScaleTerminal | TcpRelay]:
        """What runs beside the OPC-UA server: the scale terminal and the relays the faults cut."""
        link = self.outages.link if self.outages is not None else None
        return [p for p in (self.scale, self._relay, link) if p is not None]

    async def start(self) -> None:
        for part in self._side_parts():
            await part.start()
        await self._start_server()

    async def _start_server(self) -> None:
        server = new_server(self.security)
        server.iserver.disabled_clock = True  # CurrentTime is the plant's (PLC's) clock: see tick()
        await server.init()
        server.set_endpoint(self._serve_at)
        server.set_server_name(f"blackmass simulator {self.plant.cfg.line}")
        await apply(server, self.security)
        server.iserver.history_manager.set_storage(self.history)
        self._serve_plant_clock(server)
        stamp_publish_time(server, lambda: self.plant.ts + self.profile.clock_skew_s)  # its clock: the last step's
        if self.restarts:  # a restarted server may order its namespaces differently: clients must re-resolve
            await server.register_namespace(f"urn:blackmass:simulator:restart-{self.restarts}")
        idx = await server.register_namespace(self.plant.cfg.namespace_uri)
        self.ns_index = idx
        line = await server.nodes.objects.add_object(idx, f"Line_{self.plant.cfg.line}")
        units: dict[str, Any] = {}
        for tag, first in self._initial.items():
            unit_name, var_name = tag.split(".", 1)
            if unit_name not in units:
                units[unit_name] = await line.add_object(ua.NodeId(ua.String(unit_name), ua.Int16(idx)), unit_name)
            vtype = getattr(ua.VariantType, first.vtype)
            node = await units[unit_name].add_variable(
                ua.NodeId(ua.String(tag), ua.Int16(idx)), var_name, ua.Variant(first.value, vtype), varianttype=vtype
            )
            eu = TAG_UNITS.get(tag, "")
            if eu:
                await node.write_attribute(ua.AttributeIds.Description, ua.DataValue(ua.Variant(ua.LocalizedText(eu))))
            await node.write_attribute(ua.AttributeIds.Historizing, ua.DataValue(ua.Variant(True)))
            access = ua.AccessLevel.CurrentRead.mask | ua.AccessLevel.HistoryRead.mask
            await node.write_attribute(
                ua.AttributeIds.AccessLevel, ua.DataValue(ua.Variant(access, ua.VariantType.Byte))
            )
            # back with the last values and their source times; the first values stamped on the PLC's clock
            dv = self._published.get(tag) or self._datavalue(tag, first.ts, first.value, 0, first.vtype)[1]
            await server.write_attribute_value(node.nodeid, dv)
            self._nodes[tag] = node.nodeid
        await server.start()
        self._server = server
        log.info(
            "simulator serving %d tags at %s (ns=%d %s)",
            len(self._nodes),
            self.endpoint,
            idx,
            self.plant.cfg.namespace_uri,
        )

    async def stop(self) -> None:
        for part in self._side_parts():
            await part.stop()
        await self._stop_server()

    async def _stop_server(self) -> None:
        if self._server is None:
            return
        server, self._server = self._server, None
        try:
            # asyncua closes each client's session before its listener; a session whose close never
            # finishes (seen rarely at demo end) must not keep the demo from ending
            async with asyncio.timeout(STOP_WITHIN_S):
                await server.stop()
        except TimeoutError:
            log.warning("simulator: the OPC-UA server did not stop within %.0f s; left to the loop", STOP_WITHIN_S)

    def monitored_items(self) -> int:
        """Monitored items clients hold on this server (asyncua keeps no public count)."""
        if self._server is None:
            return 0
        subs = self._server.iserver.subscription_service.subscriptions.values()
        return sum(len(getattr(sub.monitored_item_srv, "_monitored_items", {})) for sub in subs)

    async def write(self, ts: float, values: dict[str, float | str], status: int = 0) -> None:
        """Publish one step's values as the PLC profile puts them on the wire (recorded while down too)."""
        for w in self.face.step(ts, values):
            await self._publish(w.tag, w.ts, w.value, status, w.vtype)
        if self.scale is not None:
            self.scale.publish(ts, values)
        if self.edge is not None:
            await self.edge.publish(ts, values)

    async def _publish(self, tag: str, ts: float, value: float | int | str, status: int, vtype: str = "") -> None:
        recorded, dv = self._datavalue(tag, ts, value, status, vtype or self.face.vtype(tag, value))
        self.history.record(tag, recorded)
        self._published[tag] = dv
        if self._server is not None:
            await self._server.write_attribute_value(self._nodes[tag], dv)

    def _datavalue(
        self, tag: str, ts: float, value: float | int | str, status: int, vtype: str
    ) -> tuple[ua.DataValue, ua.DataValue]:
        """(what the historian keeps, what the wire carries) for `tag`'s value of plant time ts."""
        source, server = self.face.stamps(tag, ts)  # the PLC's clocks and the server's
        dv = ua.DataValue(
            ua.Variant(value, getattr(ua.VariantType, vtype)),
            StatusCode=ua.StatusCode(ua.UInt32(status)),
            SourceTimestamp=ua.DateTime.fromtimestamp(source, UTC),
            ServerTimestamp=UNSET_DATETIME if server is None else ua.DateTime.fromtimestamp(server, UTC),
        )
        if self.profile.no_source_ts:
            return dv, ua.DataValue(dv.Value, StatusCode=dv.StatusCode, ServerTimestamp=dv.ServerTimestamp)
        return dv, dv

    def _serve_plant_clock(self, server: Server) -> None:
        """Reads of CurrentTime answer the plant clock at that instant (clients measure offsets on it);
        the writes of tick() still notify subscribers but no longer replace that answer."""
        node = ua.NodeId(ua.Int32(ua.ObjectIds.Server_ServerStatus_CurrentTime))
        aspace = server.iserver.aspace

        def now(_node: ua.NodeId, _attr: ua.AttributeIds) -> ua.DataValue:
            t = ua.DateTime.fromtimestamp(self.clock.now() + self.profile.clock_skew_s, UTC)
            stamp = UNSET_DATETIME if self.profile.null_server_ts else t
            return ua.DataValue(ua.Variant(t, ua.VariantType.DateTime), SourceTimestamp=t, ServerTimestamp=stamp)

        def keep(*_: object) -> ua.DataValue:
            return ua.DataValue()  # the value lives in the clock, not in the node

        aspace.set_attribute_value_callback(node, ua.AttributeIds.Value, now)
        aspace.set_attribute_value_setter(node, ua.AttributeIds.Value, keep)

    async def tick(self) -> None:
        """Notify Server/ServerStatus/CurrentTime subscribers of the plant's time (plus the PLC's skew).

        The time of the last step published, not the clock's: the plant computes a step's values
        at its end, and a subscriber may take CurrentTime as "everything stamped before has come".
        """
        if self._server is None:
            return
        now = ua.DateTime.fromtimestamp(self.plant.ts + self.profile.clock_skew_s, UTC)
        node = ua.NodeId(ua.Int32(ua.ObjectIds.Server_ServerStatus_CurrentTime))
        await self._server.write_attribute_value(node, ua.DataValue(ua.Variant(now, ua.VariantType.DateTime)))

    def truth_row(self, lot: Lot) -> dict[str, object]:
        """The lot's truth row, as far as it is observable on the wire (quantised, off-step counters)."""
        row = truth_row(lot, self.plant.cfg.line)
        row["start"] = self.face.lot_id_at.get((lot.wire_id, lot.start_ts), lot.start_ts)  # same-scan-edges
        if not self.face.observes_counters_differently or lot.end_ts is None:
            return row
        delays = self.plant.cfg.delays_s
        for stream, tag in (("feed", "Feed.Totalizer"), *TOTALIZER_TAG.items()):
            d = delays.get(stream, 0.0)
            extra = self.face.observed_kg(tag, lot.start_ts + d, lot.end_ts + d)
            key = f"{stream}_kg"
            row[key] = round(float(row[key]) + extra, 4)  # type: ignore[arg-type]
        return row

    async def _fault_events(self) -> None:
        """Start and end the server-restart and network-outage faults on plant time."""
        faults = self.plant.faults
        if self.source_faults and self.plant.lots_started >= 2:  # noqa: PLR2004 - from the second lot on
            await self._source_down()
        if self.outages is not None:
            await self.outages.step(self.plant.ts, self.plant.lots_started)
        if "mid-lot" in self.plant.events and self._down_until is None:
            if "server-restart" in faults:
                log.warning("simulator: fault server-restart: server down for %.0f plant s", OUTAGE_S)
                await self._stop_server()
                self._down_until = self.plant.ts + OUTAGE_S
            elif self._relay is not None:
                log.warning("simulator: fault network-outage: clients cut off for %.0f plant s", OUTAGE_S)
                self._relay.cut()
                self._down_until = self.plant.ts + OUTAGE_S
        if self._down_until is not None and self.plant.ts >= self._down_until:
            self._down_until = float("inf")  # each fault plays once
            if self._server is None:
                self.restarts += 1
                await self._start_server()
                log.warning("simulator: server back (namespace index now %d)", self.ns_index)
            if self._relay is not None:
                self._relay.restore()
                log.warning("simulator: network back")

    async def _source_down(self) -> None:
        """source-down=modbus / =sparkplug: that device goes away for the rest of the run."""
        if "source-down=modbus" in self.source_faults and self.scale is not None:
            log.warning("simulator: fault source-down=modbus: the scale terminal goes away")
            await self.scale.stop()
            self.scale = None
        if "source-down=sparkplug" in self.source_faults and self.edge is not None:
            log.warning("simulator: fault source-down=sparkplug: the dryer's edge node dies")
            await self.edge.go_down()
            self.edge = None

    async def run(self) -> None:
        """Step the plant as fast as its clock allows, forever (cancel to stop)."""
        step = self.plant.cfg.step_s
        while True:
            if not self.clock.started and (not self.start_on_subscribe or self.monitored_items() > 0):
                self.clock.start()
                log.info("simulator: plant clock started at x%g", self.clock.speed)
            self.clock.lead_s = step  # plant time never leads the published steps by more than one step
            while self.clock.started and self.plant.ts + step <= self.clock.now():
                # a step yields to the loop: catching up after a stall must not starve the monitor, nor
                # hold off a cancellation (writes to the address space do not yield by themselves)
                await asyncio.sleep(0)
                ts, changed, finished = self.plant.step()
                await self.write(ts, changed)
                self.clock.published = ts
                if round(ts / step) % 10 == 0:  # CurrentTime while catching up (it may last) too
                    await self.tick()
                for g in self.plant.glitches:
                    await self._publish(g.tag, g.ts, g.value, g.status)
                await self._fault_events()
                for lot in finished:
                    if self.truth is not None:
                        self.truth.write(self.truth_row(lot))
                    if self.lab is not None:
                        self.lab.lot_finished(lot, ts)
                    log.info("simulator: lot %s outputs complete", lot.batch_id)
                if self.lab is not None:
                    self.lab.tick(ts)
                if finished:  # what the wire said is kept only while a lot may still need it
                    lots = [*self.plant.unfinished, *([self.plant.lot] if self.plant.lot else [])]
                    starts = [x.start_ts for x in lots]
                    self.face.trim_before(min(starts, default=ts) - 86_400.0)
            if self.clock.started:
                await self.tick()
            _honour_cancel()
            await asyncio.sleep(min(0.05, max(0.005, self.clock.wall_delay(step) / 2)))


def _honour_cancel() -> None:
    """A cancel the edge node's publish swallowed (Python 3.11's asyncio.wait_for returns a result that
    came with the cancel) still stops the plant: a demo must always stop."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
