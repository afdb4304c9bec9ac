"""The simulated server stamps PublishTime on its own clock, and the collector's subscription reads it.

A real asyncua server with the simulator's hook, a real client session with the collector's
SequencedSubscription: each Notice carries the PublishTime of its message, on the clock the server
was given (here a plant clock two days ahead of the wall), at or after every value it carries.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from asyncua import Client, Server, ua

from monitor.collectors.sequence import Lost, Notice, SequencedSubscription, Tally
from monitor.collectors.server_clock import safe_epoch
from monitor.simulator.publish_clock import stamp_publish_time
from monitor.simulator.server import free_port

PLANT_T = 1_760_000_000.0 + 2 * 86_400.0  # the plant clock's time at each publish (not the wall's)


async def test_each_notice_carries_its_message_publish_time_on_the_server_clock() -> None:
    server = Server()
    await server.init()
    url = f"opc.tcp://127.0.0.1:{free_port()}"
    server.set_endpoint(url)
    idx = await server.register_namespace("urn:test:publish-clock")
    var = await server.nodes.objects.add_variable(idx, "Counter", 0.0)
    plant = {"t": PLANT_T}
    stamp_publish_time(server, lambda: plant["t"])
    async with server, Client(url) as client:
        queue: asyncio.Queue[Notice | Lost] = asyncio.Queue()
        params = ua.CreateSubscriptionParameters(RequestedPublishingInterval=50, PublishingEnabled=True)
        params.RequestedLifetimeCount, params.RequestedMaxKeepAliveCount = 1000, 10
        sub = SequencedSubscription(client.uaclient.session, params, 0, queue, lambda: None, Tally())
        await sub.init()
        await sub.subscribe_data_change(client.get_node(var.nodeid))
        first = await asyncio.wait_for(queue.get(), 10.0)  # the initial value
        for k in range(1, 4):
            plant["t"] = PLANT_T + 60.0 * k
            stamp = datetime.fromtimestamp(plant["t"] - 1.0, UTC)
            await server.write_attribute_value(var.nodeid, ua.DataValue(ua.Variant(float(k)), SourceTimestamp=stamp))
            notice = await asyncio.wait_for(queue.get(), 10.0)
            assert isinstance(notice, Notice)
            (data,) = notice.data
            (item,) = data.MonitoredItems
            assert item.Value.Value.Value == float(k)
            assert notice.published == PLANT_T + 60.0 * k  # the server's (plant) clock, not the wall's
            assert notice.published >= (safe_epoch(item.Value.SourceTimestamp) or 0.0)
        assert isinstance(first, Notice) and first.published == PLANT_T
