"""Monitored items placed within the server's limits: calls no larger than MaxMonitoredItemsPerCall,
subscriptions no fuller than MaxMonitoredItemsPerSubscription, and what a subscription refuses
(BadTooManyMonitoredItems) moved to a further subscription.

A refused service call is logged with its status code and answered with smaller calls; it never
ends the session (a server that refuses the same thing on every session would be reconnected for ever).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from asyncua import Client, ua

from monitor.collectors.datavalues import DATA_CHANGE_FILTER
from monitor.collectors.limits import REFUSED_CALL, ServerLimits, call_size, refusal
from monitor.collectors.sequence import Lost, Notice, SequencedSubscription, Tally
from monitor.collectors.settings import OpcuaSettings

log = logging.getLogger("monitor.collectors.opcua")  # the collector's log: operators filter on it

_FULL = ua.StatusCodes.BadTooManyMonitoredItems
Request = ua.MonitoredItemCreateRequest
CLOCK_HANDLE = 1_000_000  # + our subscription number: the CurrentTime item each subscription carries
CURRENT_TIME = ua.NodeId(ua.Int32(ua.ObjectIds.Server_ServerStatus_CurrentTime))


def item_request(handle: int, node_id: ua.NodeId, tag: str, settings: OpcuaSettings) -> Request:
    """A monitored item for a tag's value: its own sampling and deadband, or the defaults."""
    sampling = settings.sampling.get(tag)
    params = ua.MonitoringParameters(
        ClientHandle=handle,
        SamplingInterval=sampling.interval_ms if sampling else settings.sampling_interval_ms,
        QueueSize=settings.queue_size,
        DiscardOldest=True,
        Filter=sampling.data_filter() if sampling else DATA_CHANGE_FILTER,
    )
    return Request(
        ItemToMonitor=ua.ReadValueId(NodeId=node_id, AttributeId=ua.AttributeIds.Value),
        MonitoringMode=ua.MonitoringMode.Reporting,
        RequestedParameters=params,
    )


@dataclass
class Placement:
    """Where each monitored item went (filled by Subscriber.place)."""

    subscriptions: list[SequencedSubscription] = field(default_factory=list)
    by_subscription: dict[int, list[int]] = field(default_factory=dict)  # our number -> client handles
    revised_ms: dict[int, float] = field(default_factory=dict)  # client handle -> revised sampling interval
    refused: dict[int, str] = field(default_factory=dict)  # client handle -> why
    clock_handles: list[int] = field(default_factory=list)  # the CurrentTime items placed, one a subscription


class Subscriber:
    """Creates the session's subscriptions and their monitored items."""

    def __init__(
        self,
        client: Client,
        settings: OpcuaSettings,
        limits: ServerLimits,
        queue: asyncio.Queue[Notice | Lost],
        on_overflow: Callable[[], None],
        tally: Tally,
        source: str,
    ) -> None:
        self.client = client
        self.interval_ms = settings.publishing_interval_ms
        self.per_call = call_size(settings.batch_size, limits.monitored_items_per_call)
        self.per_subscription = limits.monitored_items_per_subscription
        self.max_subscriptions = limits.subscriptions_per_session
        self.queue = queue
        self.on_overflow = on_overflow
        self.tally = tally
        self.source = source

    async def place(self, requests: Sequence[Request], clock: Callable[[int], Request]) -> Placement:
        """Every subscription carries CurrentTime (`clock(handle)`) first, then as many tags as it takes."""
        out = Placement()
        pending = list(requests)
        while pending:
            if self.max_subscriptions and len(out.subscriptions) >= self.max_subscriptions:
                self._refuse(out, pending, "no room: the server's MaxSubscriptionsPerSession is reached")
                break
            sub = await self._subscription(len(out.subscriptions), out, pending)
            if sub is None:
                break
            tick = clock(CLOCK_HANDLE + sub.number)
            room = max(1, (self.per_subscription or len(pending) + 1) - 1)
            take, pending = [tick, *pending[:room]], pending[room:]
            spill = await self._create(sub, take, out)
            if tick.RequestedParameters.ClientHandle in out.by_subscription[sub.number]:
                out.clock_handles.append(tick.RequestedParameters.ClientHandle)
            spill = [r for r in spill if r is not tick]
            if len(spill) >= len(take) - 1:  # a new subscription took no tag: no use asking for more
                self._refuse(out, spill + pending, f"refused by the server: {ua.StatusCode(ua.UInt32(_FULL)).name}")
                break
            if spill:
                log.info(
                    "%s: subscription %d is full after %d items; %d more go to another subscription",
                    self.source,
                    sub.number,
                    len(take) - 1 - len(spill),
                    len(spill),
                )
            pending = spill + pending
        return out

    async def _subscription(self, number: int, out: Placement, pending: list[Request]) -> SequencedSubscription | None:
        params = ua.CreateSubscriptionParameters()
        params.RequestedPublishingInterval = self.interval_ms
        params.RequestedLifetimeCount = 10000
        params.RequestedMaxKeepAliveCount = self.client.get_keepalive_count(self.interval_ms)
        params.MaxNotificationsPerPublish = 0  # no limit: a publish carries everything that changed
        params.PublishingEnabled = True
        sub = SequencedSubscription(
            self.client.uaclient.session, params, number, self.queue, self.on_overflow, self.tally
        )
        try:
            await sub.init()
        except ua.UaStatusCodeError as exc:
            log.error("%s: the server refused subscription %d: %s", self.source, number, refusal(exc))
            self._refuse(out, pending, f"no subscription for it: {refusal(exc)}")
            return None
        out.subscriptions.append(sub)
        out.by_subscription[number] = []
        return sub

    async def _create(self, sub: SequencedSubscription, take: list[Request], out: Placement) -> list[Request]:
        """Create `take` in `sub`; returns the requests the subscription had no room for."""
        spill: list[Request] = []
        i = 0
        while i < len(take):
            chunk = take[i : i + self.per_call]
            try:
                results = await self._call(sub, chunk)
            except ua.UaStatusCodeError as exc:
                if exc.code in REFUSED_CALL and len(chunk) > 1:
                    self.per_call = max(1, len(chunk) // 2)
                    log.warning(
                        "%s: the server refused %d monitored items in one call (%s); now %d per call",
                        self.source,
                        len(chunk),
                        refusal(exc),
                        self.per_call,
                    )
                    continue
                if exc.code == _FULL:
                    spill += chunk
                else:
                    log.error("%s: the server refused creating monitored items: %s", self.source, refusal(exc))
                    self._refuse(out, chunk, f"refused by the server: {refusal(exc)}")
                i += len(chunk)
                continue
            for req, res in zip(chunk, results, strict=True):
                handle = req.RequestedParameters.ClientHandle
                if res.StatusCode.is_good():
                    out.by_subscription[sub.number].append(handle)
                    out.revised_ms[handle] = float(res.RevisedSamplingInterval)
                elif res.StatusCode.value == _FULL:
                    spill.append(req)
                else:
                    out.refused[handle] = f"refused by the server: {res.StatusCode.name}"
            i += len(chunk)
        return spill

    async def _call(self, sub: SequencedSubscription, chunk: Sequence[Request]) -> list[ua.MonitoredItemCreateResult]:
        params = ua.CreateMonitoredItemsParameters()
        params.SubscriptionId = sub.subscription_id
        params.TimestampsToReturn = ua.TimestampsToReturn.Both
        params.ItemsToCreate = list(chunk)
        return list(await self.client.uaclient.session.create_monitored_items(params))

    @staticmethod
    def _refuse(out: Placement, requests: Sequence[Request], why: str) -> None:
        for req in requests:
            out.refused[req.RequestedParameters.ClientHandle] = why
