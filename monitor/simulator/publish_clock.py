"""The simulated server stamps each NotificationMessage's PublishTime on its own (plant) clock.

A real server stamps PublishTime with the clock its CurrentTime reads; asyncua stamps the host's
wall clock, which a simulation running at x2400 is not. Every value a message carries happened at
or before its PublishTime, so a client may use it as the server's clock at the publish (no pipeline
latency in it, unlike its own receive time). Republished messages keep their first stamp.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from typing import Any

from asyncua import Server, ua


def stamp_publish_time(server: Server, clock: Callable[[], float]) -> None:
    """Every subscription `server` creates from now on stamps its messages with `clock()` (epoch s)."""
    svc = server.iserver.subscription_service
    create = svc.create_subscription

    async def create_stamped(*args: Any, **kwargs: Any) -> ua.CreateSubscriptionResult:
        result = await create(*args, **kwargs)
        internal = svc.subscriptions[result.SubscriptionId]
        forward = internal.pub_result_callback

        async def stamped(res: ua.PublishResult, *rest: Any) -> Any:
            res.NotificationMessage.PublishTime = ua.DateTime.fromtimestamp(clock(), UTC)
            return await forward(res, *rest)

        internal.pub_result_callback = stamped
        return result

    svc.create_subscription = create_stamped  # type: ignore[method-assign]
