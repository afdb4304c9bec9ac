"""OPC-UA subscriptions → Samples, with one supervisor that reconnects with capped backoff.

Why our own supervisor and not asyncua's auto_reconnect: after a server restart the namespace
array may be reordered and asyncua would re-create monitored items with stale indices. Each
session here re-reads the namespace array and re-resolves every `nsu=` address. Calls are sized
to the server's limits (subscribing.py), notification sequence numbers are checked (sequence.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Unpack

from asyncua import Client, ua

from monitor.collectors.addressing import resolve_address
from monitor.collectors.backfill import backfill
from monitor.collectors.cancelling import honour_cancel
from monitor.collectors.clock_gate import ClockGate
from monitor.collectors.clock_watch import FrozenClockWatch
from monitor.collectors.connecting import connect
from monitor.collectors.datavalues import by_reason, counter_wraps, to_sample
from monitor.collectors.decoding import Decoder
from monitor.collectors.health import CollectorHealth, ConnState, Gap
from monitor.collectors.limits import ServerLimits, read_limits
from monitor.collectors.readback import lost_span, read_back
from monitor.collectors.sequence import Lost, Notice, Tally
from monitor.collectors.server_clock import ServerClock
from monitor.collectors.settings import OpcuaSettings
from monitor.collectors.subscribing import CURRENT_TIME, Placement, Subscriber, item_request
from monitor.collectors.timestamps import TimestampJudge
from monitor.collectors.wire_fix import client as new_client
from monitor.collectors.wiring import SampleSink, Wiring, WiringArgs, health_of
from monitor.core.samples import SERVER_CLOCK, Quality, Sample
from monitor.errors import CollectorError, ConfigError

log = logging.getLogger(__name__)

_QUEUED_MESSAGES = 20_000  # notification messages waiting for us; beyond it the session restarts


class OpcuaCollector:
    """Subscribes to `tags` (tag → address) and hands each publish's samples to `sink`."""

    def __init__(
        self,
        settings: OpcuaSettings,
        tags: Mapping[str, str],
        sink: SampleSink,
        *,
        on_types: Callable[[dict[str, int]], None] | None = None,
        on_cycles: Callable[[dict[str, float]], None] | None = None,
        **wiring: Unpack[WiringArgs],
    ) -> None:
        self.settings = settings
        self.tags = dict(tags)
        self.wiring = Wiring.of(sink, wiring, "opcua")
        self.source = source = self.wiring.source
        self.state = ConnState.DISCONNECTED
        self.reconnects = 0
        self.samples: Counter[str] = Counter()
        self.last_sample_wall: float | None = None
        self.failed_nodes = 0
        self.subscribed_nodes = 0
        self.subscribed = asyncio.Event()
        self._sessions = 0
        self.last_error: str | None = None
        self.resume_from: float | None = None  # source time to backfill from on the first session (checkpoint)
        self.gaps: list[Gap] = []  # the latest 100
        self.gap_count = self.unrecovered_gaps = self.backfilled = 0
        self._last_ts: dict[str, float] = {}  # newest source time delivered per tag
        self._node_ids: dict[str, ua.NodeId] = {}
        self.judge = TimestampJudge(settings.clock)
        self.server_clock = ServerClock(settings, source, self.wiring.now, self.judge)
        self._clock_read_wall = float("-inf")
        self.unresolved: dict[str, str] = {}
        self.on_types = on_types  # tag -> where its integer data type wraps
        self.on_cycles = on_cycles  # tag -> the server's revised sampling interval (s)
        self.revised_ms: dict[str, float] = {}
        self.limits = ServerLimits()  # as the server advertised them on the last session
        self.clock_watch = FrozenClockWatch(source)
        self.subscriptions = 0
        self.sequence = Tally()  # notification messages republished and lost
        self.gate = ClockGate(self.judge, lambda tag, dv, got, now, alt: to_sample(tag, dv, got, self.judge, now, alt))
        self.judge.clocks.publishing_s = settings.publishing_interval_ms / 1000.0
        self.decoder = Decoder(self.gate, self.server_clock, self.clock_watch, self.wiring.now, self.wiring.wall)

    @property
    def aligned(self) -> float | None:
        """Seconds subtracted from the server's timestamps; None until decided (kept with checkpoints)."""
        return self.server_clock.aligned

    @aligned.setter
    def aligned(self, value: float | None) -> None:
        self.server_clock.aligned = value

    def health(self) -> CollectorHealth:
        link = health_of(
            self,
            self.failed_nodes,
            self.subscribed_nodes,
            self.unresolved,
            unrecovered=self.unrecovered_gaps,
            backfilled=self.backfilled,
        )
        return replace(
            link,
            clock_offset_s=self.server_clock.offset,
            clock_aligned_s=self.judge.offset,
            timestamps_replaced=by_reason(self.judge.replaced),
            clock_pending=self.gate.pending_tags,
            samples_waiting=self.gate.waiting,
            tag_offsets=self.judge.tag_offset,
            tag_clocks_redecided=dict(self.judge.clocks.redecided),
            clock_problem=self.server_clock.problem,
            server_clock_frozen=self.clock_frozen,
            subscriptions=self.subscriptions,
            notifications_republished=self.sequence.republished,
            notifications_lost=self.sequence.lost,
            limits=self.limits,
        )

    @property
    def clock_frozen(self) -> bool:
        """The server's CurrentTime has stopped advancing while values keep arriving."""
        return self.clock_watch.frozen

    async def run(self) -> None:
        """Run forever: connect, subscribe, collect; on any loss back off (capped) and retry."""
        delay = self.settings.reconnect_min_s
        while True:
            honour_cancel()
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
        client = new_client(self.settings.endpoint, timeout=self.settings.timeout_s, watchdog_intervall=1.0)
        lost = asyncio.Event()

        async def on_lost(exc: Exception) -> None:
            log.warning("%s: connection lost: %r", self.source, exc)
            lost.set()

        client.connection_lost_callback = on_lost
        await connect(client, self.settings)
        try:
            honour_cancel()
            if self._sessions:
                self.reconnects += 1
            self._sessions += 1
            namespaces = await client.get_namespace_array()
            await self.server_clock.align(client)
            self.limits = await read_limits(client, self.source)
            queue: asyncio.Queue[Notice | Lost] = asyncio.Queue(maxsize=_QUEUED_MESSAGES)
            self.gate.new_session()
            placement, handles = await self._subscribe(client, namespaces, queue, lost.set)
            honour_cancel()
            await self._learn_types(client, handles)
            # what was missed goes to the core before anything the new subscription delivered
            await self._backfill(client, handles)
            self.state = ConnState.CONNECTED
            self.last_error = None
            self.subscribed.set()
            log.info(
                "%s: connected to %s, %d nodes subscribed in %d subscription(s), %d failed",
                self.source,
                self.settings.endpoint,
                self.subscribed_nodes,
                self.subscriptions,
                self.failed_nodes,
            )
            await self._consume(queue, placement, handles, lost, client)
        finally:
            self.state = ConnState.DISCONNECTED
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.disconnect(), 2.0)

    async def _subscribe(
        self, client: Client, namespaces: list[str], queue: asyncio.Queue[Notice | Lost], on_full: Callable[[], None]
    ) -> tuple[Placement, dict[int, str]]:
        """Create monitored items within the server's limits; a bad node is logged, counted and skipped."""
        requests: list[ua.MonitoredItemCreateRequest] = []
        handles: dict[int, str] = {}
        self.unresolved = {}
        for handle, (tag, address) in enumerate(self.tags.items(), start=1):
            try:
                node_id = await resolve_address(address, namespaces, client)
            except (LookupError, ValueError, ConfigError, ua.UaError) as exc:
                log.error("%s: tag %s (%s) not resolvable: %s", self.source, tag, address, exc)
                self.unresolved[tag] = f"not resolvable: {exc}"
                continue
            requests.append(item_request(handle, node_id, tag, self.settings))
            handles[handle] = tag
            self._node_ids[tag] = node_id
        s = self.settings
        subscriber = Subscriber(client, s, self.limits, queue, on_full, self.sequence, self.source)
        placement = await subscriber.place(requests, lambda h: item_request(h, CURRENT_TIME, SERVER_CLOCK, s))
        handles.update(dict.fromkeys(placement.clock_handles, SERVER_CLOCK))
        self.decoder.start(placement.clock_handles, max(1.0, 4 * s.publishing_interval_ms / 1000.0))
        for handle, why in placement.refused.items():
            tag = handles.pop(handle, SERVER_CLOCK)
            log.error("%s: tag %s %s", self.source, tag, why)
            self.unresolved[tag] = why
        self.subscriptions = len(placement.subscriptions)
        self.failed_nodes = len([t for t in self.unresolved if t != SERVER_CLOCK])
        self.subscribed_nodes = len([t for t in handles.values() if t != SERVER_CLOCK])
        self.revised_ms = {handles[h]: ms for h, ms in placement.revised_ms.items() if h in handles}
        clock_ms = max(self.revised_ms.get(SERVER_CLOCK, 0.0), s.publishing_interval_ms)
        self.clock_watch.after_s = max(s.clock_frozen_s, 3 * clock_ms / 1000.0, 2 * s.clock_check_s)
        if self.on_cycles is not None:
            self.on_cycles({t: ms / 1000.0 for t, ms in self.revised_ms.items() if t != SERVER_CLOCK and ms > 0})
        if self.subscribed_nodes == 0 and requests:
            raise LookupError("no node of the configuration could be subscribed")
        return placement, handles

    async def _consume(
        self,
        queue: asyncio.Queue[Notice | Lost],
        placement: Placement,
        handles: dict[int, str],
        lost: asyncio.Event,
        client: Client,
    ) -> None:
        while not lost.is_set():
            honour_cancel()
            if self.wiring.wall() - self._clock_read_wall >= self.settings.clock_check_s:
                self._clock_read_wall = self.wiring.wall()
                await self.server_clock.read(client)
            items: list[Notice | Lost] = []
            with contextlib.suppress(TimeoutError):
                items.append(await asyncio.wait_for(queue.get(), 0.5))
            while not queue.empty():  # what the server has delivered meanwhile goes in one go
                items.append(queue.get_nowait())
            batch: list[Sample] = []
            status: ua.StatusCode | None = None
            for item in items:
                if isinstance(item, Lost):
                    batch += await self._read_back(client, item, placement, handles)
                    continue
                samples, bad = self.decoder.decode(item.data, handles, item.published)
                batch += samples
                status = status or bad
            batch = self.decoder.release(batch)
            if self.clock_watch.check(self.wiring.wall()):  # the server's clock stands still: ours vouches instead
                ours = self.wiring.now() - self.judge.clocks.delivery_delay() - self.settings.clock_margin_s
                batch += self.gate.tick(Sample(SERVER_CLOCK, ours, None, retimed=True))
            if batch:
                self._deliver(batch)
                await self.wiring.deliver(batch)
            if status is not None:
                log.warning("%s: subscription status %s", self.source, status.name)
                return

    async def _read_back(self, client: Client, item: Lost, place: Placement, handles: dict[int, str]) -> list[Sample]:
        """Notifications lost for good: the subscription's items are read as they are now, the span is a gap."""
        tags = [handles[h] for h in place.by_subscription.get(item.subscription, []) if h in handles]
        nodes = {t: self._node_ids[t] for t in tags if t != SERVER_CLOCK}
        dvs = await read_back(client, nodes, self.limits.nodes_per_read, self.source, item.sequence_numbers)
        now = self.server_clock.now()
        samples = [to_sample(tag, dv, self.wiring.now(), self.judge, now) for tag, dv in dvs.items()]
        newest = max([*self._last_ts.values(), self.decoder.last_tick or float("-inf")])
        missed = [x.ts for x in samples if x.ts > self._last_ts.get(x.tag, float("-inf"))]
        interval = self.settings.publishing_interval_ms / 1000.0
        self._note_gap(lost_span(newest, interval, now, [x.ts for x in samples], missed))
        return samples

    async def _backfill(self, client: Client, handles: dict[int, str]) -> None:
        """After a gap in the session: what the server's history holds since each tag's last value."""
        since = {t: self._last_ts.get(t, self.resume_from) for t in handles.values() if t != SERVER_CLOCK}
        known = {t: ts for t, ts in since.items() if ts is not None}
        if not known:
            return
        wall = self.wiring.wall()
        convert = lambda tag, dv: to_sample(tag, dv, wall, self.judge, self.server_clock.now())  # noqa: E731
        gap, samples = await backfill(client, known, self._node_ids, self.settings, convert, self.source)
        self._note_gap(gap)
        self.backfilled += len(samples)
        if samples:
            self._deliver(samples)
            await self.wiring.deliver(samples)

    def _note_gap(self, gap: Gap) -> None:
        self.gaps = [*self.gaps[-99:], gap]
        self.gap_count += 1
        self.unrecovered_gaps += not gap.recovered
        self.wiring.gap(gap)

    async def _learn_types(self, client: Client, handles: dict[int, str]) -> None:
        """Where each integer counter wraps, from its node's DataType (for rollover when unset)."""
        tags = [t for t in handles.values() if t != SERVER_CLOCK]
        nodes = [self._node_ids[t] for t in tags]
        wraps = await counter_wraps(client, nodes, tags, self.source, self.limits.nodes_per_read)
        if wraps and self.on_types is not None:
            self.on_types(wraps)

    def _deliver(self, samples: list[Sample]) -> None:
        wall = self.wiring.wall()
        values = 0
        for x in samples:
            if x.tag == SERVER_CLOCK:
                continue
            values += 1
            self.samples[x.quality.name.lower()] += 1
            if x.quality is not Quality.BAD and x.ts > self._last_ts.get(x.tag, float("-inf")):
                self._last_ts[x.tag] = x.ts
        if values:
            self.last_sample_wall = wall
        self.clock_watch.values(values, wall)
