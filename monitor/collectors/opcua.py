"""OPC-UA subscriptions → Samples, with one supervisor that reconnects with capped backoff.

Why our own supervisor and not asyncua's auto_reconnect: after a server restart the namespace
array may be reordered and asyncua would re-create monitored items with stale indices. Each
session here re-reads the namespace array and re-resolves every `nsu=` address.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from asyncua import Client, ua
from asyncua.common.subscription import DataChangeEvent, OverflowPolicy, StatusChangeEvent

from monitor.collectors.addressing import resolve_node_id
from monitor.config import OpcuaSettings
from monitor.core.samples import Quality, Sample, quality_from_status

log = logging.getLogger(__name__)

SampleSink = Callable[[list[Sample]], Any]


class ConnState(StrEnum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    BACKOFF = "backoff"


@dataclass(frozen=True, slots=True)
class CollectorHealth:
    source: str
    state: ConnState
    reconnects: int
    samples: Mapping[str, int]  # by quality name
    last_sample_wall: float | None
    failed_nodes: int
    subscribed_nodes: int


def _epoch(dt: datetime | None) -> float | None:
    return dt.timestamp() if dt is not None else None


def to_sample(tag: str, dv: ua.DataValue, wall: float) -> Sample:
    """A DataValue as a Sample: source timestamp first, then server time, then receipt time."""
    code = dv.StatusCode.value if dv.StatusCode is not None else 0
    ts = _epoch(dv.SourceTimestamp) or _epoch(dv.ServerTimestamp) or wall
    raw = dv.Value.Value if dv.Value is not None else None
    value: float | str | None
    if isinstance(raw, str):
        value = raw
    elif isinstance(raw, int | float):  # bool is an int: a digital tag reads 0.0 / 1.0
        value = float(raw)
    else:
        value = None
    quality = quality_from_status(code)
    if value is None and quality is Quality.GOOD:
        quality = Quality.BAD
    return Sample(tag, ts, value, quality, code)


def _honour_cancel() -> None:
    """asyncua can swallow a CancelledError (DESIGN §13); a pending cancel of ours still stops us."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class OpcuaCollector:
    """Subscribes to `tags` (tag → address) and hands each publish's samples to `sink`."""

    def __init__(
        self,
        settings: OpcuaSettings,
        tags: Mapping[str, str],
        sink: SampleSink,
        *,
        source: str = "opcua",
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.tags = dict(tags)
        self.sink = sink
        self.source = source
        self._wall = wall
        self.state = ConnState.DISCONNECTED
        self.reconnects = 0
        self.samples: Counter[str] = Counter()
        self.last_sample_wall: float | None = None
        self.failed_nodes = 0
        self.subscribed_nodes = 0
        self.subscribed = asyncio.Event()
        self._sessions = 0

    def health(self) -> CollectorHealth:
        return CollectorHealth(
            self.source,
            self.state,
            self.reconnects,
            dict(self.samples),
            self.last_sample_wall,
            self.failed_nodes,
            self.subscribed_nodes,
        )

    async def run(self) -> None:
        """Run forever: connect, subscribe, collect; on any loss back off (capped) and retry."""
        delay = self.settings.reconnect_min_s
        while True:
            _honour_cancel()
            self.state = ConnState.CONNECTING
            try:
                await self._session()
                delay = self.settings.reconnect_min_s
            except (OSError, TimeoutError, ConnectionError, ua.UaError, LookupError) as exc:
                log.warning(
                    "%s: %s unreachable or lost (%s: %s); retrying in %.1fs",
                    self.source,
                    self.settings.endpoint,
                    type(exc).__name__,
                    exc,
                    delay,
                )
            except Exception:  # a session must never take the service down: log it, back off, retry
                log.exception("%s: unexpected failure of the OPC-UA session; retrying in %.1fs", self.source, delay)
            self.subscribed.clear()
            self.state = ConnState.BACKOFF
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.settings.reconnect_max_s)

    async def _session(self) -> None:
        client = Client(self.settings.endpoint, timeout=self.settings.timeout_s, watchdog_intervall=1.0)
        lost = asyncio.Event()

        async def on_lost(exc: Exception) -> None:
            log.warning("%s: connection lost: %r", self.source, exc)
            lost.set()

        client.connection_lost_callback = on_lost
        await client.connect(auto_reconnect=False)
        try:
            _honour_cancel()
            if self._sessions:
                self.reconnects += 1
            self._sessions += 1
            namespaces = await client.get_namespace_array()
            sub = await client.create_subscription(
                self.settings.publishing_interval_ms,
                handler=None,
                queue_maxsize=200_000,
                overflow=OverflowPolicy.DISCONNECT,
            )
            handles = await self._subscribe(sub, namespaces)
            _honour_cancel()
            self.state = ConnState.CONNECTED
            self.subscribed.set()
            log.info(
                "%s: connected to %s, %d nodes subscribed, %d failed",
                self.source,
                self.settings.endpoint,
                self.subscribed_nodes,
                self.failed_nodes,
            )
            await self._consume(sub, handles, lost)
        finally:
            self.state = ConnState.DISCONNECTED
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.disconnect(), 2.0)

    async def _subscribe(self, sub: Any, namespaces: list[str]) -> dict[int, str]:
        """Create monitored items in batches; a bad node is logged and skipped, never fatal."""
        flt = ua.DataChangeFilter(Trigger=ua.DataChangeTrigger.StatusValueTimestamp)
        requests: list[ua.MonitoredItemCreateRequest] = []
        handles: dict[int, str] = {}
        failed = 0
        for handle, (tag, address) in enumerate(self.tags.items(), start=1):
            try:
                node_id = resolve_node_id(address, namespaces)
            except (LookupError, ValueError) as exc:
                log.error("%s: tag %s (%s) not resolvable: %s", self.source, tag, address, exc)
                failed += 1
                continue
            params = ua.MonitoringParameters(
                ClientHandle=handle,
                SamplingInterval=self.settings.sampling_interval_ms,
                QueueSize=self.settings.queue_size,
                DiscardOldest=True,
                Filter=flt,
            )
            requests.append(
                ua.MonitoredItemCreateRequest(
                    ItemToMonitor=ua.ReadValueId(NodeId=node_id, AttributeId=ua.AttributeIds.Value),
                    MonitoringMode=ua.MonitoringMode.Reporting,
                    RequestedParameters=params,
                )
            )
            handles[handle] = tag
        ok = 0
        for i in range(0, len(requests), self.settings.batch_size):
            chunk = requests[i : i + self.settings.batch_size]
            results = await sub.create_monitored_items(chunk)
            for req, res in zip(chunk, results, strict=True):
                if isinstance(res, ua.StatusCode):
                    tag = handles.pop(req.RequestedParameters.ClientHandle)
                    log.error("%s: tag %s refused by server: %s", self.source, tag, res.name)
                    failed += 1
                else:
                    ok += 1
        self.failed_nodes, self.subscribed_nodes = failed, ok
        if ok == 0 and requests:
            raise LookupError("no node of the configuration could be subscribed")
        return handles

    async def _consume(self, sub: Any, handles: dict[int, str], lost: asyncio.Event) -> None:
        while not lost.is_set():
            _honour_cancel()
            try:
                first = await sub.next_event(timeout=0.5)
            except StopAsyncIteration:
                return
            if first is None:
                continue
            events = [first]
            queue = sub._event_queue  # drain what this publish delivered in one go
            while queue is not None and not queue.empty():
                ev = queue.get_nowait()
                if ev is None:
                    break
                events.append(ev)
            batch = self._to_samples(events, handles)
            if batch:
                result = self.sink(batch)
                if asyncio.iscoroutine(result):
                    await result
            if any(isinstance(e, StatusChangeEvent) for e in events):
                status = next(e for e in events if isinstance(e, StatusChangeEvent)).notification.Status
                if status is not None and not status.is_good():
                    log.warning("%s: subscription status %s", self.source, status.name)
                    return

    def _to_samples(self, events: list[Any], handles: dict[int, str]) -> list[Sample]:
        wall = self._wall()
        out: list[Sample] = []
        for ev in events:
            if not isinstance(ev, DataChangeEvent):
                continue
            item = ev.data.monitored_item
            tag = handles.get(item.ClientHandle)
            if tag is None:
                continue
            s = to_sample(tag, item.Value, wall)
            self.samples[s.quality.name.lower()] += 1
            out.append(s)
        if out:
            self.last_sample_wall = wall
        return out
