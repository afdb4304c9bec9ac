"""Strict servers end to end: the simulator's plant behind a server that enforces 4 monitored items
per call and per subscription, or that loses the publish response carrying a lot id; lots stored."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from asyncua import Server

import monitor.simulator.server as sim_server
from monitor.config import load_config
from tests.integration.limited_server import Limits, carries_value, enforce, lose_publish
from tests.integration.test_plc_profiles import HANG_S, ROOT, demo, stored, truth

pytestmark = pytest.mark.integration
FROZEN_METRIC = 'blackmass_collector_server_clock_frozen{line="L1",source="opcua"} 1.0'


def hook_servers(monkeypatch: pytest.MonkeyPatch, hook: Callable[[Server], Any]) -> None:
    """Every server the simulator creates gets `hook` before it starts (no public hook for service limits)."""
    make = sim_server.new_server

    def hooked(*args: Any) -> Server:
        server = make(*args)
        hook(server)
        return server

    monkeypatch.setattr(sim_server, "new_server", hooked)


def test_four_items_per_call_and_per_subscription_every_lot_is_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits = Limits(per_call=4, per_subscription=4, per_read=4, advertise=False)
    hook_servers(monkeypatch, lambda server: enforce(server, limits))
    monitor, _ = asyncio.run(demo(tmp_path, "exception", lots=3, duration=HANG_S))
    t, got = truth(tmp_path), stored(tmp_path)
    assert len(t) == 3 and sorted(got) == sorted(t)
    for bid, r in got.items():
        assert r.feed_kg == pytest.approx(float(t[bid]["feed_kg"]), rel=0.002)
        assert r.mass("black_mass") == pytest.approx(float(t[bid]["black_mass_kg"]), rel=0.002)
    h = monitor.collector.health()
    assert h.subscribed_nodes == 24 and h.failed_nodes == 0 and h.reconnects == 0
    assert h.subscriptions == 8  # CurrentTime and 3 tags a subscription
    assert any(c.startswith("CreateMonitoredItems") for c in limits.refused_calls)  # refused, and answered


def test_a_lost_lot_id_notification_is_read_back_and_flagged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lost: list[list[int]] = []
    hook_servers(monkeypatch, lambda server: lost.append(lose_publish(server, carries_value("L1-00002"), forget=True)))
    monitor, _ = asyncio.run(demo(tmp_path, "exception", lots=3, duration=HANG_S))
    t, got = truth(tmp_path), stored(tmp_path)
    assert lost[0], "the server never lost the message"
    assert len(t) == 3 and sorted(got) == sorted(t)  # the lot id change came back
    h = monitor.collector.health()
    assert h.notifications_lost == 1 and h.reconnects == 0
    (gap,) = monitor.collector.gaps
    assert not gap.recovered and gap.samples == 24  # every tag read back
    horizon = max(st.delay_s for st in load_config(ROOT / "config/plant.toml").line.streams)
    touched = {b for b, r in got.items() if gap.start < r.end + horizon and gap.end > r.start}
    assert touched and {b for b, r in got.items() if "collector_gap" in r.flags} == touched
    for bid, r in got.items():  # counters are cumulative: the values read back put the mass where it belongs
        assert r.feed_kg == pytest.approx(float(t[bid]["feed_kg"]), rel=0.002)
        assert r.mass("black_mass") == pytest.approx(float(t[bid]["black_mass_kg"]), rel=0.002)


def test_a_frozen_server_clock_degrades_healthz_and_sets_the_metric(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plant's server stops advancing CurrentTime 2 s into the run while its values keep coming."""
    tick = sim_server.PlantServer.tick
    first: list[float] = []

    async def stalling_tick(self: sim_server.PlantServer) -> None:
        first.append(first[0] if first else time.monotonic())
        if time.monotonic() - first[0] < 2.0:
            await tick(self)

    monkeypatch.setattr(sim_server.PlantServer, "tick", stalling_tick)
    seen: dict[str, Any] = {}

    async def watch(port: int) -> None:
        """/healthz until it names the frozen clock, then /metrics until it shows it (its snapshot is
        rebuilt apart from /healthz); a minute bounds a hang: the demo waits for this."""
        deadline = time.monotonic() + 60.0
        async with aiohttp.ClientSession() as http:
            while "metrics" not in seen and time.monotonic() < deadline:
                await asyncio.sleep(0.2)  # polling a service that offers nothing to wait on
                try:
                    if "health" not in seen:
                        async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                            health = await r.json()
                        if "opcua: server clock frozen" in health["problems"]:
                            seen["after_s"] = time.monotonic() - first[0]
                            seen["health"] = health
                        continue
                    async with http.get(f"http://127.0.0.1:{port}/metrics") as r:
                        text = await r.text()
                    if FROZEN_METRIC in text:
                        seen["metrics"] = text
                except aiohttp.ClientConnectionError:
                    continue  # not serving yet, or no longer

    asyncio.run(demo(tmp_path, "", lots=0, duration=HANG_S, during=watch))  # the line runs on: values keep coming
    assert "health" in seen, "a CurrentTime frozen for a minute while values kept coming was never named"
    assert seen["health"]["status"] == "degraded"
    assert "metrics" in seen, f"/healthz named the frozen clock, /metrics never showed {FROZEN_METRIC}"
    # frozen at 2 s, named after its 10 s threshold and not before; the upper bound (16 s before) leaves a
    # loaded machine room: the demo's simulator and monitor share one loop
    assert 10.0 <= seen["after_s"] <= 30.0
