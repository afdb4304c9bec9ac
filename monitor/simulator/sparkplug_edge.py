"""The simulator's dryer as a Sparkplug B edge node (Sparkplug 3.0) publishing through a real broker.

Its own protobuf encoding (no code shared with the monitor): NBIRTH (bdSeq, Node Control/Rebirth),
DBIRTH of device "Dryer" with every metric's name, alias and type, then DDATA by alias with each
value's plant timestamp. NDEATH is its will. An NCMD Node Control/Rebirth makes it publish its
births again. Messages go out QoS 1 (a monitor with a persistent session misses none).

On a line with no OPC-UA source (`--sources sparkplug`) the same node publishes every tag of the line
as a metric of device "Line" (named as the tag; lot id, attributes and bag ids as Strings).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import struct
from collections.abc import Mapping
from urllib.parse import urlsplit

import aiomqtt

log = logging.getLogger(__name__)

GROUP = "blackmass"
DEVICE = "Dryer"
# plant tag -> Sparkplug metric name (the names a dryer's PLC programmer would give)
METRICS = {
    "Dryer.ProductTemp": "Dryer/ProductTemperature",
    "Dryer.Pressure": "Dryer/Pressure",
    "Dryer.CondensateTotalizer": "Dryer/CondensateTotal",
}
INT64, DOUBLE, BOOLEAN, STRING = 4, 10, 11, 12


def _varint(v: int) -> bytes:
    out = bytearray()
    while True:
        b, v = v & 0x7F, v >> 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def _field(num: int, wire: int, body: bytes) -> bytes:
    key = _varint(num << 3 | wire)
    return key + (_varint(len(body)) + body if wire == 2 else body)  # noqa: PLR2004 - length-delimited


def metric(
    *, name: str | None = None, alias: int | None = None, ts_ms: int, dtype: int, value: float | bool | int | str | None
) -> bytes:
    out = b""
    if name is not None:
        out += _field(1, 2, name.encode())
    if alias is not None:
        out += _field(2, 0, _varint(alias))
    out += _field(3, 0, _varint(ts_ms)) + _field(4, 0, _varint(dtype))
    if value is None:  # no value yet: is_null
        out += _field(7, 0, _varint(1))
    elif dtype == DOUBLE:
        out += _field(13, 1, struct.pack("<d", float(value)))
    elif dtype == BOOLEAN:
        out += _field(14, 0, _varint(1 if value else 0))
    elif dtype == STRING:
        out += _field(15, 2, str(value).encode())
    else:
        out += _field(11, 0, _varint(int(value) & 0xFFFFFFFFFFFFFFFF))
    return out


def payload(ts_ms: int, metrics: list[bytes], seq: int | None) -> bytes:
    out = _field(1, 0, _varint(ts_ms)) + b"".join(_field(2, 2, m) for m in metrics)
    return out + (_field(3, 0, _varint(seq)) if seq is not None else b"")


class DryerEdgeNode:
    """Connects to the broker, publishes births and data; rebirths on request."""

    def __init__(
        self, broker: str, node: str, metrics: Mapping[str, str] = METRICS, *, device: str = DEVICE,
        texts: frozenset[str] = frozenset(),
    ) -> None:  # fmt: skip
        url = urlsplit(broker)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 1883
        self.node, self.metrics, self.device, self.texts = node, dict(metrics), device, texts  # texts: String tags
        self.values: dict[str, tuple[float, float | str]] = {}  # tag -> (plant ts, value)
        self.seq = 0
        self.bd_seq = 0
        self._client: aiomqtt.Client | None = None
        self.connected = asyncio.Event()
        self.down = False  # the fault: the node went away (its will was published)
        self.published = self.rebirths = 0
        self._task: asyncio.Task[None] | None = None

    def _topic(self, kind: str, device: str = "") -> str:
        return f"spBv1.0/{GROUP}/{kind}/{self.node}" + (f"/{device}" if device else "")

    def _next_seq(self) -> int:
        seq, self.seq = self.seq, (self.seq + 1) % 256
        return seq

    async def run(self) -> None:
        """Stay connected (reconnecting after a broker outage) and answer rebirth requests."""
        self._task = asyncio.current_task()
        while not self.down:
            death = payload(0, [metric(name="bdSeq", ts_ms=0, dtype=INT64, value=self.bd_seq)], None)
            will = aiomqtt.Will(self._topic("NDEATH"), death, qos=1)
            try:
                async with aiomqtt.Client(
                    self.host, self.port, identifier=f"sim-{self.node}-{os.getpid()}", will=will
                ) as c:
                    await c.subscribe(self._topic("NCMD"), qos=1)
                    self._client = c
                    await self._births()
                    self.connected.set()
                    async for message in c.messages:
                        if b"Node Control/Rebirth" in bytes(message.payload or b""):
                            self.rebirths += 1
                            await self._births()
                        if (task := asyncio.current_task()) and task.cancelling():
                            raise asyncio.CancelledError  # swallowed by a publish's wait_for (Python 3.11)
            except aiomqtt.MqttError as exc:
                log.warning("simulator edge node %s: broker: %s; reconnecting", self.node, exc)
            finally:
                self._client = None
                self.connected.clear()
            await asyncio.sleep(0.5)
            self.bd_seq = (self.bd_seq + 1) % 256

    async def _births(self) -> None:
        if self._client is None:
            return
        self.seq = 0
        now = int(max((ts for ts, _ in self.values.values()), default=0.0) * 1000)
        node = [
            metric(name="bdSeq", ts_ms=now, dtype=INT64, value=self.bd_seq),
            metric(name="Node Control/Rebirth", ts_ms=now, dtype=BOOLEAN, value=False),
        ]
        await self._client.publish(self._topic("NBIRTH"), payload(now, node, self._next_seq()), qos=1)
        dev = []  # every metric, with its alias and type; one without a value yet is null
        for i, (tag, name) in enumerate(self.metrics.items()):
            ts, value = self.values.get(tag, (now / 1000.0, None))
            dev.append(metric(name=name, alias=i + 1, ts_ms=int(ts * 1000), dtype=self.dtype(tag), value=value))
        await self._client.publish(self._topic("DBIRTH", self.device), payload(now, dev, self._next_seq()), qos=1)

    def dtype(self, tag: str) -> int:
        return STRING if tag in self.texts else DOUBLE

    def take(self, ts: float, values: Mapping[str, float | str]) -> list[bytes]:
        """Keep the device's values of plant time ts (the births carry them); their DDATA metrics."""
        changed = []
        for i, tag in enumerate(self.metrics):
            v = values.get(tag)
            if tag in self.texts and v is not None:
                value: float | str = str(v)
            elif isinstance(v, int | float):
                value = float(v)
            else:
                continue
            self.values[tag] = (ts, value)
            changed.append(metric(alias=i + 1, ts_ms=int(ts * 1000), dtype=self.dtype(tag), value=value))
        return changed

    async def publish(self, ts: float, values: dict[str, float | str]) -> None:
        """One plant step: DDATA of the device's changed metrics, by alias, stamped on the plant clock."""
        ms = int(ts * 1000)
        changed = self.take(ts, values)
        if changed and self._client is not None and not self.down:
            with contextlib.suppress(aiomqtt.MqttError):
                msg = payload(ms, changed, self._next_seq())
                await self._client.publish(self._topic("DDATA", self.device), msg, qos=1)
                self.published += 1

    async def go_down(self) -> None:
        """The fault: the node dies (NDEATH, as the broker would send its will) and stays away."""
        self.down = True
        if self._client is not None:
            death = payload(0, [metric(name="bdSeq", ts_ms=0, dtype=INT64, value=self.bd_seq)], None)
            with contextlib.suppress(aiomqtt.MqttError):
                await self._client.publish(self._topic("NDEATH"), death, qos=1)
        if self._task is not None:
            self._task.cancel()  # its connection closes; it publishes nothing more
