"""[sources.NAME] (kind = opcua | modbus | sparkplug | mqtt) and [points."TAG"] (which source a tag
comes from, and where in it). Today's single [opcua] section is the source named "opcua".

A tag with no [points] entry comes from the line's one OPC-UA source ("opcua" when [opcua] is
given); a tag whose source is unknown is refused, naming the tag and the known sources. A line with no
OPC-UA source names every tag's source (docs/sources.md, "A line with no OPC-UA source").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

from monitor.collectors.credentials import check_endpoint
from monitor.collectors.modbus_decode import ORDERS, TABLES, TYPES, Point
from monitor.collectors.mqtt_link import check_broker
from monitor.collectors.settings import OpcuaSettings
from monitor.collectors.source_settings import ModbusSettings, MqttPoint, MqttSettings
from monitor.config.sections import Reader, parse_clock, parse_sampling, parse_security
from monitor.errors import ConfigError

KINDS = ("opcua", "modbus", "sparkplug", "mqtt")
SourceSettings = OpcuaSettings | ModbusSettings | MqttSettings
LEGACY = "opcua"  # the source today's [opcua] section is
_T = TypeVar("_T")


@dataclass(frozen=True, kw_only=True)
class Sources:
    """Every source of the line and which one each tag comes from."""

    primary: str  # the first OPC-UA source (its server clock leads); with none, the lot id's source
    settings: Mapping[str, SourceSettings]
    nodes: Mapping[str, str]  # tag -> explicit OPC-UA node of a [points] entry
    assigned: Mapping[str, str]  # tag -> its source, for tags named in [points] (the rest: primary)

    def source_of(self, tag: str) -> str:
        return self.assigned.get(tag, self.primary)

    def kind(self, name: str) -> str:
        s = self.settings[name]
        return "opcua" if isinstance(s, OpcuaSettings) else "modbus" if isinstance(s, ModbusSettings) else s.kind


def parse_opcua(op: Reader, root: Reader, where: str, name: str) -> OpcuaSettings:
    """An OPC-UA source: [opcua] or [sources.NAME] with kind = "opcua" (same keys)."""
    endpoint = op.text("endpoint")
    check_endpoint(endpoint, where)
    if not endpoint.startswith("opc.tcp://"):
        raise ConfigError(where, f"{op.prefix}endpoint", "an opc.tcp://host:port/path URL", endpoint)
    opcua = OpcuaSettings(
        endpoint=endpoint,
        namespace_uri=op.text("namespace_uri", ""),
        publishing_interval_ms=op.num("publishing_interval_ms", 250, lo=10),
        sampling_interval_ms=op.num("sampling_interval_ms", 0, lo=0),
        queue_size=int(op.num("queue_size", 1000, lo=1, hi=100_000)),
        timeout_s=op.num("timeout_s", 4, lo=0.1),
        reconnect_min_s=op.num("reconnect_min_s", 0.5, lo=0.01),
        reconnect_max_s=op.num("reconnect_max_s", 10, lo=0.1),
        batch_size=int(op.num("batch_size", 500, lo=1, hi=5000)),
        backfill=op.flag("backfill", True),
        backfill_max_s=op.num("backfill_max_s", 86_400, lo=0),
        security=parse_security(op, where),
        clock=parse_clock(op),
        clock_check_s=op.num("clock_check_s", 5.0, lo=0.1),
        clock_margin_s=op.num("clock_margin_s", 0.0, lo=0.0),
        sampling=parse_sampling(root) if name == LEGACY or op.prefix.startswith("sources.") else {},
    )
    op.done("kind")
    return opcua


def _modbus(r: Reader) -> ModbusSettings:
    s = ModbusSettings(
        host=r.text("host"),
        port=int(r.num("port", 502, lo=1, hi=65535)),
        unit=int(r.num("unit", 1, lo=0, hi=255)),
        poll_interval_ms=r.num("poll_interval_ms", 500, lo=1),
        timeout_s=r.num("timeout_s", 2.0, lo=0.05),
        max_registers=int(r.num("max_registers", 125, lo=1, hi=125)),
        max_bits=int(r.num("max_bits", 2000, lo=1, hi=2000)),
        reconnect_min_s=r.num("reconnect_min_s", 0.5, lo=0.01),
        reconnect_max_s=r.num("reconnect_max_s", 10, lo=0.1),
    )
    r.done("kind")
    return s


def _mqtt(r: Reader, kind: str, name: str) -> MqttSettings:
    broker = r.text("broker")
    check_broker(broker, r.where, f"{r.prefix}broker")
    base = Path(r.where).parent
    pw, ca = r.opt_text("password_file"), r.opt_text("ca_file")
    if "password" in r.table:
        raise ConfigError(r.where, f"{r.prefix}password", "no password in a config file", "a password",
                          "set BLACKMASS_MQTT_PASSWORD or password_file")  # fmt: skip
    sparkplug = kind == "sparkplug"
    s = MqttSettings(
        broker=broker,
        kind=kind,
        group=r.text("group") if sparkplug else "",
        edge_node=r.text("edge_node") if sparkplug else "",
        host_id=r.text("host_id", "blackmass"),
        client_id=r.text("client_id", f"blackmass-{name}"),
        qos=int(r.num("qos", 1, lo=0, hi=2)),
        keepalive_s=int(r.num("keepalive_s", 30, lo=1)),
        timeout_s=r.num("timeout_s", 10.0, lo=0.05),
        reconnect_min_s=r.num("reconnect_min_s", 0.5, lo=0.01),
        reconnect_max_s=r.num("reconnect_max_s", 10, lo=0.1),
        username=r.opt_text("username"),
        password_file=base / pw if pw else None,
        ca_file=base / ca if ca else None,
        value_field=r.text("value_field", "value"),
        ts_field=r.text("ts_field", "ts"),
    )
    r.done("kind")
    return s


def parse_sources(root: Reader, where: str) -> dict[str, SourceSettings]:
    """[opcua] (the source "opcua") and every [sources.NAME], in the order written."""
    out: dict[str, SourceSettings] = {}
    if "opcua" in root.table or "sources" not in root.table:
        out[LEGACY] = parse_opcua(root.sub("opcua"), root, where, LEGACY)
    table = root.sub("sources", required=False)
    for name in table.table:
        r = table.sub(name)
        kind = r.choice("kind", "opcua", KINDS)
        if name in out:
            raise ConfigError(
                where, f"sources.{name}", "a name no other source has", name, "[opcua] is the source 'opcua'"
            )
        if kind == "opcua":
            out[name] = parse_opcua(r, root, where, name)
        elif kind == "modbus":
            out[name] = _modbus(r)
        else:
            out[name] = _mqtt(r, kind, name)
    table.done(*table.table)
    if not out:
        raise ConfigError(where, "sources", "at least one [sources.NAME] (or [opcua])", None,
                          'e.g. [sources.uns] kind = "sparkplug"')  # fmt: skip
    return out


def _modbus_point(tag: str, r: Reader) -> Point:
    table = r.choice("table", "holding", TABLES)
    bits = table in ("coil", "discrete")
    dtype = r.choice("type", "bool" if bits else "uint16", (*TYPES, "string", "bool"))
    if bits != (dtype == "bool"):
        raise ConfigError(
            r.where, f"{r.prefix}type", "bool for coils and discrete inputs, a number type for registers", dtype
        )
    taddr = r.get("time_address")
    return Point(
        tag=tag,
        table=table,
        address=int(r.num("address", lo=0, hi=65535)),
        dtype=dtype,
        order=r.choice("order", "ABCD", ORDERS),
        scale=r.num("scale", 1.0),
        offset=r.num("offset", 0.0),
        length=int(r.num("length", 1, lo=1, hi=123)),
        time_address=None if taddr is None else int(r.num("time_address", lo=0, hi=65535)),
        time_order=r.choice("time_order", "ABCD", ORDERS),
        trigger=r.opt_text("trigger"),
    )


def parse_points(root: Reader, where: str, sources: dict[str, SourceSettings], tags: list[str]) -> Sources:
    """[points."TAG"]: each tag's source and its place there; every tag the line uses gets a known source.
    `tags[0]` is the lot id's tag: with no OPC-UA source, its source is the primary."""
    table = root.sub("points", required=False)
    opcua = [n for n, s in sources.items() if isinstance(s, OpcuaSettings)]
    known = ", ".join(sorted(sources))
    modbus: dict[str, list[Point]] = {}
    mqtt: dict[str, list[MqttPoint]] = {}
    nodes: dict[str, str] = {}
    assigned: dict[str, str] = {}
    for tag in table.table:
        r = table.sub(tag)
        name = r.text("source")
        if name not in sources:
            raise ConfigError(where, f"points.{tag}.source", f"a known source ({known})", name,
                              f"tag {tag!r}: add [sources.{name}] or name one of {known}")  # fmt: skip
        s = sources[name]
        if isinstance(s, ModbusSettings):
            modbus.setdefault(name, []).append(_modbus_point(tag, r))
        elif isinstance(s, MqttSettings):
            mqtt.setdefault(name, []).append(_mqtt_point(tag, r, s))
        elif (node := r.opt_text("node")) is not None:
            nodes[tag] = node
        r.done()
        assigned[tag] = name
    table.done(*table.table)
    for tag in tags:
        if tag not in assigned and (not opcua or (len(opcua) > 1 and LEGACY not in sources)):
            why = "with several OPC-UA sources" if opcua else "with no OPC-UA source"
            raise ConfigError(where, f"points.{tag}.source", f"the source of tag {tag!r} (one of {known})", None,
                              f"{why}, name each tag's in [points.\"{tag}\"] source = …")  # fmt: skip
    primary = (LEGACY if LEGACY in opcua else opcua[0]) if opcua else assigned[tags[0]]
    _check_triggers(where, modbus)
    out = dict(sources)
    for name, pts in modbus.items():
        out[name] = replace(_as(sources[name], ModbusSettings), points=tuple(pts))
    for name, mpts in mqtt.items():
        out[name] = replace(_as(sources[name], MqttSettings), points=tuple(mpts))
    return Sources(primary=primary, settings=out, nodes=nodes, assigned=assigned)


def _mqtt_point(tag: str, r: Reader, s: MqttSettings) -> MqttPoint:
    topic = r.text("topic") if s.kind == "mqtt" else ""
    return MqttPoint(
        tag=tag,
        metric=r.text("metric", tag) if s.kind == "sparkplug" else "",
        device=r.text("device", "") if s.kind == "sparkplug" else "",
        topic=topic,
        scale=r.num("scale", 1.0),
        offset=r.num("offset", 0.0),
    )


def _check_triggers(where: str, modbus: Mapping[str, list[Point]]) -> None:
    for name, pts in modbus.items():
        tags = {p.tag for p in pts}
        for p in pts:
            if p.trigger is not None and p.trigger not in tags:
                raise ConfigError(
                    where, f"points.{p.tag}.trigger", f"a tag of source {name} ({', '.join(sorted(tags))})", p.trigger
                )


def _as(value: object, kind: type[_T]) -> _T:
    assert isinstance(value, kind)
    return value
