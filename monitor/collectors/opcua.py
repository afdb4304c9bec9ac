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
from typing import Any

from asyncua import Client, ua
from asyncua.common.subscription import DataChangeEvent, OverflowPolicy, StatusChangeEvent

from monitor.collectors.addressing import resolve_address
from monitor.collectors.backfill import backfill
from monitor.collectors.clock_gate import ClockGate
from monitor.collectors.datavalues import DATA_CHANGE_FILTER, RevisedIntervals, by_reason, counter_wraps, to_sample
from monitor.collectors.health import CollectorHealth, ConnState, Gap
from monitor.collectors.security import PASSWORD_ENV, credentials, secure
from monitor.collectors.server_clock import ServerClock
from monitor.collectors.settings import OpcuaSettings
from monitor.collectors.timestamps import TimestampJudge
from monitor.core.samples import SERVER_CLOCK, Quality, Sample
from monitor.errors import CollectorError, ConfigError

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


def _honour_cancel() -> None:
    """asyncua can swallow a CancelledError (see docs/design-notes.md); a pending cancel of ours still stops us."""
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
        clock: Callable[[], float] | None = None,
        on_types: Callable[[dict[str, int]], None] | None = None,
        on_cycles: Callable[[dict[str, float]], None] | None = None,
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
        # our clock: receive times and the server clock's offset are read on it (the demo gives the plant's)
        self._clock = clock or wall
        self.judge = TimestampJudge(settings.clock)
        self.server_clock = ServerClock(settings, source, self._clock, self.judge)
        self.gate = ClockGate(self.judge, lambda tag, dv, got, now: to_sample(tag, dv, got, self.judge, now))
        self._clock_read_wall = float("-inf")
        self.unresolved: dict[str, str] = {}
        self.on_types = on_types  # tag -> where its integer data type wraps
        self.on_cycles = on_cycles  # tag -> the server's revised sampling interval (s)
        self.revised_ms: dict[str, float] = {}

    @property
    def aligned(self) -> float | None:
        """Seconds subtracted from the server's timestamps; None until decided (kept with checkpoints)."""
        return self.server_clock.aligned

    @aligned.setter
    def aligned(self, value: float | None) -> None:
        self.server_clock.aligned = value

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
            dict(self.unresolved),
            self.server_clock.offset,
            self.judge.offset,
            by_reason(self.judge.replaced),
            self.gate.pending_tags,
            self.gate.waiting,
            self.judge.tag_offset,
            self.server_clock.problem,
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
            await self.server_clock.align(client)
            sub = await client.create_subscription(
                self.settings.publishing_interval_ms,
                handler=None,
                queue_maxsize=200_000,
                overflow=OverflowPolicy.DISCONNECT,
            )
            self.gate.new_session()
            handles = await self._subscribe(sub, namespaces, client)
            _honour_cancel()
            await self._learn_types(client, handles)
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
            await self._consume(sub, handles, lost, client)
        finally:
            self.state = ConnState.DISCONNECTED
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.disconnect(), 2.0)

    async def _subscribe(self, sub: Any, namespaces: list[str], client: Client) -> dict[int, str]:
        """Create monitored items in batches; a bad node is logged, counted and skipped, never fatal."""
        requests: list[ua.MonitoredItemCreateRequest] = []
        handles: dict[int, str] = {}
        failed = 0
        self.unresolved = {}
        items = [*self.tags.items(), (SERVER_CLOCK, f"i={ua.ObjectIds.Server_ServerStatus_CurrentTime}")]
        for handle, (tag, address) in enumerate(items, start=1):
            try:
                node_id = await resolve_address(address, namespaces, client)
            except (LookupError, ValueError, ConfigError, ua.UaError) as exc:
                log.error("%s: tag %s (%s) not resolvable: %s", self.source, tag, address, exc)
                self.unresolved[tag] = f"not resolvable: {exc}"
                failed += 1
                continue
            sampling = self.settings.sampling.get(tag)
            params = ua.MonitoringParameters(
                ClientHandle=handle,
                SamplingInterval=sampling.interval_ms if sampling else self.settings.sampling_interval_ms,
                QueueSize=self.settings.queue_size,
                DiscardOldest=True,
                Filter=sampling.data_filter() if sampling else DATA_CHANGE_FILTER,
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
        revised = RevisedIntervals(sub)
        for i in range(0, len(requests), self.settings.batch_size):
            chunk = requests[i : i + self.settings.batch_size]
            results = await revised.create(chunk)
            for req, res in zip(chunk, results, strict=True):
                if isinstance(res, ua.StatusCode):
                    tag = handles.pop(req.RequestedParameters.ClientHandle)
                    log.error("%s: tag %s refused by server: %s", self.source, tag, res.name)
                    self.unresolved[tag] = f"refused by the server: {res.name}"
                    failed += 1
                elif handles[req.RequestedParameters.ClientHandle] != SERVER_CLOCK:
                    ok += 1  # the configured tags; the server's clock rides along uncounted
        self.failed_nodes, self.subscribed_nodes = failed, ok
        self.revised_ms = {handles[h]: ms for h, ms in revised.by_handle.items() if h in handles}
        if self.on_cycles is not None:
            self.on_cycles({t: ms / 1000.0 for t, ms in self.revised_ms.items() if t != SERVER_CLOCK and ms > 0})
        if ok == 0 and requests:
            raise LookupError("no node of the configuration could be subscribed")
        return handles

    async def _consume(self, sub: Any, handles: dict[int, str], lost: asyncio.Event, client: Client) -> None:
        while not lost.is_set():
            _honour_cancel()
            if self._wall() - self._clock_read_wall >= self.settings.clock_check_s:
                self._clock_read_wall = self._wall()
                await self.server_clock.read(client)
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
        await backfill(self, client, handles)

    async def _learn_types(self, client: Client, handles: dict[int, str]) -> None:
        """Where each integer counter wraps, from its node's DataType (for rollover when unset)."""
        tags = [t for t in handles.values() if t != SERVER_CLOCK]
        wraps = await counter_wraps(client, [self._node_ids[t] for t in tags], tags, self.source)
        if wraps and self.on_types is not None:
            self.on_types(wraps)

    def _deliver(self, samples: list[Sample]) -> None:
        for x in samples:
            if x.tag == SERVER_CLOCK:
                continue
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
            if tag == SERVER_CLOCK:
                tick = self.server_clock.tick(item.Value)
                if tick is not None:
                    out += self.gate.tick(tick)
                continue
            out += self.gate.admit(tag, item.Value, self._clock(), self.server_clock.now())
        out += self.gate.release(self._clock())
        if out:
            self._deliver(out)
            self.last_sample_wall = wall
        return out
