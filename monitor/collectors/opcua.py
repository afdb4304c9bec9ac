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
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from asyncua import Client, ua
from asyncua.common.subscription import DataChangeEvent, OverflowPolicy, StatusChangeEvent

from monitor.collectors.addressing import resolve_node_id
from monitor.collectors.security import PASSWORD_ENV, credentials, secure
from monitor.config import OpcuaSettings
from monitor.core.samples import Quality, Sample, quality_from_status
from monitor.errors import CollectorError

log = logging.getLogger(__name__)

SampleSink = Callable[[list[Sample]], Any]
_REFUSED_IDENTITY = {
    ua.StatusCodes.BadUserAccessDenied,
    ua.StatusCodes.BadIdentityTokenInvalid,
    ua.StatusCodes.BadIdentityTokenRejected,
}
_REFUSED_CERTIFICATE = {
    ua.StatusCodes.BadCertificateUntrusted,
    ua.StatusCodes.BadCertificateInvalid,
    ua.StatusCodes.BadCertificateUriInvalid,
    ua.StatusCodes.BadCertificateTimeInvalid,
    ua.StatusCodes.BadSecurityChecksFailed,
}


@dataclass(frozen=True, slots=True)
class Gap:
    """Source time with no data from the server: [start, end]; recovered when history filled it."""

    start: float
    end: float
    recovered: bool
    samples: int  # read back from the server's history


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
    gaps: int = 0
    unrecovered_gaps: int = 0
    backfilled: int = 0


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
        on_gap: Callable[[Gap], None] | None = None,
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
        self.on_gap = on_gap
        self.last_error: str | None = None
        self.resume_from: float | None = None  # source time to backfill from on the first session (checkpoint)
        self.gaps: list[Gap] = []  # the latest 100
        self.gap_count = self.unrecovered_gaps = self.backfilled = 0
        self._last_ts: dict[str, float] = {}  # newest source time delivered per tag
        self._node_ids: dict[str, ua.NodeId] = {}

    def health(self) -> CollectorHealth:
        return CollectorHealth(
            self.source,
            self.state,
            self.reconnects,
            dict(self.samples),
            self.last_sample_wall,
            self.failed_nodes,
            self.subscribed_nodes,
            self.gap_count,
            self.unrecovered_gaps,
            self.backfilled,
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
            except CollectorError as exc:  # refused credentials or certificates: said plainly, retried
                self.last_error = str(exc)
                log.error("%s: %s; retrying in %.1fs", self.source, exc, delay)
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
        await secure(client, self.settings.security)
        try:
            await client.connect(auto_reconnect=False)
        except ua.UaStatusCodeError as exc:
            if exc.code in _REFUSED_IDENTITY:
                user = credentials(self.settings.security)
                who = f"user {user.username!r}" if user else "anonymous access"
                raise CollectorError(
                    f"{self.settings.endpoint}: the server refused {who} "
                    f"({ua.StatusCode(exc.code).name}); check {PASSWORD_ENV} or [opcua.security] password_file"
                ) from exc
            if exc.code in _REFUSED_CERTIFICATE:
                raise CollectorError(
                    f"{self.settings.endpoint}: the server refused our certificate "
                    f"{self.settings.security.certificate} ({ua.StatusCode(exc.code).name}); "
                    "add it to the server's trusted clients"
                ) from exc
            raise
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
            # what was missed goes to the core before anything the new subscription delivered
            await self._backfill(client, handles)
            self.state = ConnState.CONNECTED
            self.last_error = None
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
            self._node_ids[tag] = node_id
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

    async def _backfill(self, client: Client, handles: dict[int, str]) -> None:
        """Read each tag's values since its last delivered sample from the server's history."""
        since = {tag: self._last_ts.get(tag, self.resume_from) for tag in handles.values()}
        known = {tag: t for tag, t in since.items() if t is not None}
        if not known:
            return
        gap_start = max(known.values())
        floor = gap_start - self.settings.backfill_max_s
        samples: list[Sample] = []
        recovered = self.settings.backfill
        if recovered:
            wall = self._wall()
            for tag, t in known.items():
                node = client.get_node(self._node_ids[tag])
                try:
                    dvs = await node.read_raw_history(datetime.fromtimestamp(max(t, floor), UTC), None)
                except ua.UaStatusCodeError as exc:
                    log.warning(
                        "%s: no history for %s (%s): the gap since %s stays a gap (hint: enable historizing "
                        "on the server, or set [opcua] backfill = false)",
                        self.source,
                        tag,
                        exc,
                        datetime.fromtimestamp(gap_start, UTC).isoformat(timespec="seconds"),
                    )
                    recovered = False
                    break
                samples += [x for x in (to_sample(tag, dv, wall) for dv in dvs) if x.ts > t]
        samples.sort(key=lambda x: x.ts)
        end = max((x.ts for x in samples), default=gap_start)
        gap = Gap(gap_start, end, recovered, len(samples))
        self.gaps.append(gap)
        del self.gaps[:-100]
        self.gap_count += 1
        self.unrecovered_gaps += not recovered
        self.backfilled += len(samples)
        log.warning(
            "%s: gap after %s: %d values read back from the server's history%s",
            self.source,
            datetime.fromtimestamp(gap_start, UTC).isoformat(timespec="seconds"),
            len(samples),
            "" if recovered else " (not recovered)",
        )
        if self.on_gap is not None:
            self.on_gap(gap)
        if samples:
            self._deliver(samples)
            result = self.sink(samples)
            if asyncio.iscoroutine(result):
                await result

    def _deliver(self, samples: list[Sample]) -> None:
        for x in samples:
            self.samples[x.quality.name.lower()] += 1
            if x.quality is not Quality.BAD and x.ts > self._last_ts.get(x.tag, float("-inf")):
                self._last_ts[x.tag] = x.ts

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
            out.append(to_sample(tag, item.Value, wall))
        if out:
            self._deliver(out)
            self.last_sample_wall = wall
        return out
