"""MQTT → Samples: Sparkplug B (a host application) or plain JSON topics, with its own supervisor.

Sparkplug (3.0): our STATE is published retained (online, and offline as the will); NBIRTH and
DBIRTH give each metric's name, alias and type; NDATA/DDATA are read by alias. A sequence number
out of order, data before a birth, or an NDEATH (the broker's will for the node) marks the node's
tags stale and asks for a rebirth (NCMD "Node Control/Rebirth"); the span is a gap the engine
flags. A metric's time is its own timestamp (the edge node's clock), else the payload's, else
the receive time. The session is persistent and subscriptions QoS 1: while we are away the
broker keeps what was published, and it is delivered when we are back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter
from typing import Unpack

import aiomqtt

from monitor.collectors.cancelling import honour_cancel
from monitor.collectors.health import CollectorHealth, ConnState, Gap
from monitor.collectors.mqtt_link import client, explain, json_value
from monitor.collectors.source_settings import MqttPoint, MqttSettings
from monitor.collectors.sparkplug_proto import DecodeError, Metric, decode_payload, rebirth_request
from monitor.collectors.wiring import SampleSink, Wiring, WiringArgs, health_of
from monitor.core.samples import Sample
from monitor.errors import MonitorError

log = logging.getLogger(__name__)

NS = "spBv1.0"
REBIRTH_AGAIN_S = 2.0  # wall seconds of data without a birth before the rebirth request is repeated


class MqttCollector:
    """One broker: Sparkplug B metrics of one edge node (kind "sparkplug") or JSON topics (kind "mqtt")."""

    def __init__(self, settings: MqttSettings, sink: SampleSink, **wiring: Unpack[WiringArgs]) -> None:
        self.settings = settings
        self.wiring = Wiring.of(sink, wiring, "sparkplug")
        self.source = self.wiring.source
        self.state = ConnState.DISCONNECTED
        self.reconnects = 0
        self.samples: Counter[str] = Counter()
        self.last_sample_wall: float | None = None
        self.last_error: str | None = None
        self.points = settings.by_metric()
        self.topics = {p.topic: p for p in settings.points if p.topic}
        self.aliases: dict[tuple[str, int], MqttPoint] = {}  # (device, alias) -> point, from the births
        self.stale: dict[str, str] = {}  # tag -> why its values are not current
        self.seq: int | None = None  # the next sequence number expected from the node
        self.rebirths = self.gap_count = 0
        self._last_data: float | None = None  # time of the last value taken (a gap starts here)
        self._client: aiomqtt.Client | None = None
        self.connected = asyncio.Event()
        self.births = 0
        self.bd_seq: int | None = None  # the node's birth/death sequence of its current session
        self._awaiting_birth = False  # a rebirth was asked: data until the birth is dropped quietly
        self._asked_at = float("-inf")
        self._lost_at: float | None = None  # when the link to the broker went down (None: up, or never up)
        self.session_kept: bool | None = None  # the last CONNACK's "session present"
        self.duplicates = 0  # messages the broker delivered twice (QoS 1 redelivery), dropped

    @property
    def state_topic(self) -> str:
        return f"{NS}/STATE/{self.settings.host_id}"

    def health(self) -> CollectorHealth:
        return health_of(self, 0, len(self.settings.points), self.stale)

    def _state(self, online: bool) -> bytes:
        return json.dumps({"online": online, "timestamp": int(self.wiring.wall() * 1000)}).encode()

    async def run(self) -> None:
        """Run forever: connect, subscribe, collect; on any loss back off (capped) and retry."""
        s = self.settings
        delay = s.reconnect_min_s
        while True:
            honour_cancel()
            self.state = ConnState.CONNECTING
            will = aiomqtt.Will(self.state_topic, self._state(False), qos=1, retain=True)
            try:
                async with client(s, self.source, will if s.kind == "sparkplug" else None) as c:
                    self._client = c
                    self._session_back(bool(c.session_present))
                    await self._subscribe(c)
                    self.state = ConnState.CONNECTED
                    self.connected.set()
                    delay = s.reconnect_min_s
                    try:
                        async for message in c.messages:
                            await self.handle(str(message.topic), bytes(message.payload or b""))
                            honour_cancel()  # a publish's wait_for may have swallowed it (Python 3.11)
                    finally:  # a clean stop says so: the broker's will is only for a lost connection
                        await self._offline(c)
            except (aiomqtt.MqttError, OSError, MonitorError) as exc:  # refused, unreachable, no password: down
                self.last_error = f"broker {s.broker}: {explain(exc, s)}"
                log.warning("mqtt source %s: %s; retrying in %.1f s", self.source, self.last_error, delay)
            finally:
                if self._client is not None:
                    self._lost_at = self.wiring.now()
                self._client = None
                self.connected.clear()
            self.state = ConnState.BACKOFF
            self.reconnects += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, s.reconnect_max_s)

    def _session_back(self, kept: bool) -> None:
        """Connected again: a broker that kept our session hands over what was published meanwhile
        (QoS 1); one that did not (restarted without persistence, session expired) lost it: the span
        since the link went down is a gap the engine flags on every lot it touches."""
        lost_at, self._lost_at = self._lost_at, None
        self.session_kept = kept
        if kept or lost_at is None:
            return
        now = self.wiring.now()
        self.gap_count += 1
        log.warning(
            "mqtt source %s: broker %s kept no session for us: what was published in the %.1f s away is lost (a gap)",
            self.source,
            self.settings.broker,
            now - lost_at,
        )
        self.wiring.gap(Gap(lost_at, now, recovered=False, samples=0))

    async def _offline(self, c: aiomqtt.Client) -> None:
        if self.settings.kind != "sparkplug":
            return
        with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
            await asyncio.wait_for(c.publish(self.state_topic, self._state(False), qos=1, retain=True), 2.0)

    async def _subscribe(self, c: aiomqtt.Client) -> None:
        s = self.settings
        if s.kind == "mqtt":
            for topic in self.topics:
                await c.subscribe(topic, qos=s.qos)
            return
        await c.publish(self.state_topic, self._state(True), qos=1, retain=True)
        await c.subscribe(f"{NS}/{s.group}/+/{s.edge_node}/#", qos=s.qos)
        if self.seq is None:  # no birth seen in this session's history: ask for one
            await self.rebirth("no birth certificate yet")

    async def handle(self, topic: str, payload: bytes) -> None:
        """One message from the broker."""
        if self.settings.kind == "mqtt":
            await self._json(topic, payload)
            return
        parts = topic.split("/")
        if len(parts) < 4 or parts[0] != NS:  # noqa: PLR2004 - namespace/group/type/node
            return
        kind, device = parts[2], parts[4] if len(parts) > 4 else ""  # noqa: PLR2004
        if kind not in ("NBIRTH", "DBIRTH", "NDATA", "DDATA", "DDEATH", "NDEATH"):
            return
        try:
            p = decode_payload(payload)
        except DecodeError as exc:
            log.warning("mqtt source %s: %s: not a Sparkplug B payload: %s", self.source, topic, exc)
            return
        if kind == "NDEATH":
            death = _bd_seq(p.metrics)
            if death is None or self.bd_seq is None or death == self.bd_seq:  # else an older session's will
                await self._dead("node death (NDEATH)")
            return
        if kind == "NBIRTH":
            self._awaiting_birth = False
            self.bd_seq = _bd_seq(p.metrics)
            self.seq = p.seq
            self.aliases = {k: v for k, v in self.aliases.items() if k[0] != ""}
        elif self.seq is None and self._awaiting_birth:
            if (
                self.wiring.wall() - self._asked_at > REBIRTH_AGAIN_S
            ):  # the request may have gone before the node listened
                await self.rebirth("still no birth certificate")
            return
        elif self.seq is not None and p.seq == (self.seq - 1) % 256:
            self.duplicates += 1  # QoS 1 is at least once: the broker resent one whose PUBACK our cut lost
            return
        elif self.seq is None or p.seq != self.seq:
            await self._dead(f"sequence {p.seq} where {self.seq} was expected")
            return
        self.seq = ((p.seq or 0) + 1) % 256
        if kind == "DDEATH":
            self._mark_stale(device, "device death (DDEATH)")
            return
        await self._take(device, p.metrics, p.timestamp_ms, birth=kind.endswith("BIRTH"))

    async def _take(self, device: str, metrics: tuple[Metric, ...], payload_ms: int | None, *, birth: bool) -> None:
        now = self.wiring.now()
        out = []
        for m in metrics:
            point = None
            if m.name is not None:
                point = self.points.get((device, m.name))
                if birth and point is not None and m.alias is not None:
                    self.aliases[(device, m.alias)] = point
            elif m.alias is not None:
                point = self.aliases.get((device, m.alias))
            if point is None or m.value is None:
                continue
            ms = m.timestamp_ms if m.timestamp_ms is not None else payload_ms
            out.append(self._sample(point, m.value, ms / 1000.0 if ms is not None else now))
        if birth:
            self._revived(device, now)
        await self._deliver(out)

    def _sample(self, point: MqttPoint, value: float | str, ts: float) -> Sample:
        if isinstance(value, float):
            value = value * point.scale + point.offset
        return Sample(point.tag, ts, value)

    async def _deliver(self, out: list[Sample]) -> None:
        if not out:
            return
        self.samples["good"] += len(out)
        self.last_sample_wall = self.wiring.wall()
        self._last_data = max(s.ts for s in out)
        await self.wiring.deliver(out)

    def _mark_stale(self, device: str | None, why: str) -> None:
        for p in self.settings.points:
            if device is None or p.device == device:
                self.stale[p.tag] = why

    def _revived(self, device: str, now: float) -> None:
        """A birth: the node's (or device's) tags are current again; a stale span was a gap."""
        was = [t for t, _ in self.stale.items() if any(p.tag == t and p.device == device for p in self.settings.points)]
        for t in was:
            del self.stale[t]
        self.births += 1
        if was and self._last_data is not None:
            self.gap_count += 1
            self.wiring.gap(Gap(self._last_data, now, recovered=False, samples=0))

    async def _dead(self, why: str) -> None:
        log.warning(
            "mqtt source %s: edge node %s: %s; tags stale, rebirth asked", self.source, self.settings.edge_node, why
        )
        self.seq = None
        self._mark_stale(None, why)
        await self.rebirth(why)

    async def rebirth(self, why: str) -> None:
        """NCMD Node Control/Rebirth to our edge node."""
        s = self.settings
        if self._client is None:
            return
        self.rebirths += 1
        self._awaiting_birth = True
        self._asked_at = self.wiring.wall()
        log.info("mqtt source %s: asking %s/%s to rebirth (%s)", self.source, s.group, s.edge_node, why)
        topic = f"{NS}/{s.group}/NCMD/{s.edge_node}"
        await self._client.publish(topic, rebirth_request(int(self.wiring.wall() * 1000)), qos=0)

    async def _json(self, topic: str, payload: bytes) -> None:
        point = self.topics.get(topic)
        if point is None:
            return
        try:
            value, ts = json_value(payload, self.settings.value_field, self.settings.ts_field)
        except ValueError as exc:
            log.warning("mqtt source %s: topic %s: %s", self.source, topic, exc)
            return
        if value is not None:
            await self._deliver([self._sample(point, value, ts if ts is not None else self.wiring.now())])


def _bd_seq(metrics: tuple[Metric, ...]) -> int | None:
    """The bdSeq metric of an NBIRTH or NDEATH: which session of the node it belongs to."""
    for m in metrics:
        if m.name == "bdSeq" and isinstance(m.value, float):
            return int(m.value)
    return None
