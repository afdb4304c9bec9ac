"""An asyncua server that enforces modest limits and can lose a publish response.

asyncua's server advertises 10000 for every OperationLimit and enforces none; real PLC servers
(S7-1500: 1000 items per subscription, embedded stacks: a handful per call) do. The hooks below
wrap the server's subscription and attribute services — reach-in: asyncua has no public hook for
service limits, and a lost response must happen inside the server to carry a real sequence gap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from asyncua import Server, ua
from asyncua.common.utils import ServiceError

_O = ua.ObjectIds


@dataclass
class Limits:
    per_call: int = 0  # MaxMonitoredItemsPerCall enforced (BadTooManyOperations)
    per_subscription: int = 0  # items per subscription (BadTooManyMonitoredItems beyond)
    per_read: int = 0  # MaxNodesPerRead enforced
    advertise: bool = True  # write them into OperationLimits / ServerCapabilities
    refused_calls: list[str] = field(default_factory=list)  # what the server refused, for the test


async def advertise(server: Server, limits: Limits) -> None:
    for node, value in (
        (_O.Server_ServerCapabilities_OperationLimits_MaxMonitoredItemsPerCall, limits.per_call),
        (_O.Server_ServerCapabilities_OperationLimits_MaxNodesPerRead, limits.per_read),
        (_O.Server_ServerCapabilities_MaxMonitoredItemsPerSubscription, limits.per_subscription),
    ):
        await server.write_attribute_value(
            ua.NodeId(node), ua.DataValue(ua.Variant(value, ua.VariantType.UInt32), SourceTimestamp=datetime.now(UTC))
        )


def enforce(server: Server, limits: Limits) -> None:
    """Refuse calls and items beyond `limits` as a strict server does."""
    svc = server.iserver.subscription_service
    create = svc.create_monitored_items
    placed: dict[int, int] = {}

    async def create_limited(params: ua.CreateMonitoredItemsParameters) -> list[ua.MonitoredItemCreateResult]:
        items = list(params.ItemsToCreate)
        if limits.per_call and len(items) > limits.per_call:
            limits.refused_calls.append(f"CreateMonitoredItems {len(items)}")
            raise ServiceError(ua.StatusCodes.BadTooManyOperations)
        room = len(items)
        if limits.per_subscription:
            room = max(0, limits.per_subscription - placed.get(params.SubscriptionId, 0))
        params.ItemsToCreate = items[:room]
        results = list(await create(params)) if room else []
        placed[params.SubscriptionId] = placed.get(params.SubscriptionId, 0) + len(results)
        full = ua.MonitoredItemCreateResult(StatusCode=ua.StatusCode(ua.StatusCodes.BadTooManyMonitoredItems))
        return results + [full] * (len(items) - room)

    svc.create_monitored_items = create_limited
    attributes = server.iserver.attribute_service
    read = attributes.read

    def read_limited(params: ua.ReadParameters) -> list[ua.DataValue]:
        if limits.per_read and len(params.NodesToRead) > limits.per_read:
            limits.refused_calls.append(f"Read {len(params.NodesToRead)}")
            raise ServiceError(ua.StatusCodes.BadTooManyOperations)
        return list(read(params))

    attributes.read = read_limited


def lose_publish(server: Server, carries: Callable[[Any], bool], *, forget: bool) -> list[int]:
    """The first publish response whose notification data `carries` never reaches the client: a
    keep-alive naming the next sequence number goes instead. With `forget` the server drops it from
    its retransmission queue too (Republish then finds nothing). Returns the lost sequence numbers."""
    svc = server.iserver.subscription_service
    create = svc.create_subscription
    lost: list[int] = []

    async def create_hooked(*args: Any, **kwargs: Any) -> ua.CreateSubscriptionResult:
        result = await create(*args, **kwargs)
        internal = svc.subscriptions[result.SubscriptionId]
        forward = internal.pub_result_callback

        async def maybe_drop(res: ua.PublishResult, *rest: Any) -> Any:
            msg = res.NotificationMessage
            if not lost and msg.NotificationData and carries(msg.NotificationData):
                lost.append(msg.SequenceNumber)
                if forget:
                    internal._not_acknowledged_results.pop(msg.SequenceNumber, None)
                keep_alive = ua.PublishResult()
                keep_alive.SubscriptionId = res.SubscriptionId
                keep_alive.NotificationMessage.SequenceNumber = msg.SequenceNumber + 1
                keep_alive.AvailableSequenceNumbers = list(internal._not_acknowledged_results)
                return await forward(keep_alive, *rest)
            return await forward(res, *rest)

        internal.pub_result_callback = maybe_drop
        return result

    svc.create_subscription = create_hooked
    return lost


def items(notification: ua.DataChangeNotification) -> list[ua.MonitoredItemNotification]:
    return list(notification.MonitoredItems)


def carries_value(value: object) -> Callable[[Any], bool]:
    def test(data: Any) -> bool:
        return any(
            isinstance(n, ua.DataChangeNotification)
            and any(
                i.Value is not None and i.Value.Value is not None and i.Value.Value.Value == value
                for i in n.MonitoredItems
            )
            for n in data
        )

    return test
