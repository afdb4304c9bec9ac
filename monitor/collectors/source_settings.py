"""How the collectors reach a Modbus device or an MQTT broker: the settings config builds for them.

OPC-UA servers have their own (settings.py). Passwords never live here: MQTT's comes from
BLACKMASS_MQTT_PASSWORD or a password file, like the OPC-UA one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from monitor.collectors.modbus_decode import Point


@dataclass(frozen=True, kw_only=True)
class ModbusSettings:
    """One Modbus TCP device (a scale terminal, an analyser, a PLC's Modbus server)."""

    host: str
    port: int = 502
    unit: int = 1
    poll_interval_ms: float = 500.0
    timeout_s: float = 2.0
    max_registers: int = 125  # per read request (the protocol's limit; some devices allow fewer)
    max_bits: int = 2000
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 10.0
    points: tuple[Point, ...] = ()


@dataclass(frozen=True, slots=True)
class MqttPoint:
    """One tag from MQTT: a Sparkplug metric (device "" = the node's own) or a plain JSON topic."""

    tag: str
    metric: str = ""  # Sparkplug: the metric's name (default: the tag)
    device: str = ""  # Sparkplug: the device id; "" for a node metric
    topic: str = ""  # plain MQTT: the topic carrying {"value": ..., "ts": ...}
    scale: float = 1.0
    offset: float = 0.0


@dataclass(frozen=True, kw_only=True)
class MqttSettings:
    """A broker and what to take from it: Sparkplug B (kind "sparkplug") or JSON topics (kind "mqtt")."""

    broker: str  # mqtt://host:port or mqtts://host:port
    kind: str = "sparkplug"
    group: str = ""  # Sparkplug group id
    edge_node: str = ""  # Sparkplug edge node id
    host_id: str = "blackmass"  # our Sparkplug host application id (its STATE topic)
    client_id: str = ""  # default: blackmass-<source name> (a persistent session is kept under it)
    qos: int = 1
    keepalive_s: int = 30
    timeout_s: float = 10.0  # the wait for the broker's CONNACK (a link that drops before it) and a publish's ack
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 10.0
    username: str | None = None
    password_file: Path | None = None
    ca_file: Path | None = None  # mqtts: the CA to trust (default: the system's)
    points: tuple[MqttPoint, ...] = ()
    value_field: str = "value"  # plain MQTT: the JSON fields
    ts_field: str = "ts"

    def by_metric(self) -> Mapping[tuple[str, str], MqttPoint]:
        return {(p.device, p.metric or p.tag): p for p in self.points}
