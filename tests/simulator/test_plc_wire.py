"""Issue 18: each timestamp habit of the simulator's PLC profiles is on the wire as it claims.

A plain asyncua client (no monitor code) subscribes to every tag of the simulator's server and
records each data change with its SourceTimestamp and ServerTimestamp; the plant plays one or two
lots of the demo plant (60-s steps) at 10,000x. The profiles are read back against the plant's own clock:
null-server-ts leaves ServerTimestamp at DateTime 0 (1601-01-01), source-skew moves only the source
timestamps, mixed-clocks only the lot-id controller's, same-scan-edges writes a new lot id with
the first feed counter step (one source timestamp), and ground truth stays on the true clock.
"""

from __future__ import annotations

import asyncio
import csv
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from asyncua import Client, Node, ua

from monitor.runs.demo import SimOptions, plant_server
from monitor.simulator.plc import LOT_TAGS, parse_profile
from monitor.simulator.server import TAG_UNITS, PlantServer, free_port

ROOT = Path(__file__).resolve().parents[2]
NS = "urn:blackmass:simulator:L1"
UNSET = datetime(1601, 1, 1, tzinfo=UTC)
COUNTERS = [t for t, unit in TAG_UNITS.items() if t.endswith("Totalizer")]
WAIT_S = 60.0  # wall seconds two lots may take on a loaded machine (about 10 s when idle)


@dataclass(frozen=True)
class Change:
    tag: str
    value: object
    source: datetime | None
    server: datetime | None


@dataclass
class Wire:
    """What the client saw, the plant's clock at the end, and CurrentTime read against it."""

    changes: list[Change]
    server: PlantServer
    current_time: ua.DataValue
    clock_before: float  # plant clock just before and after the CurrentTime read
    clock_after: float
    truth: list[dict[str, str]]

    def of(self, tag: str) -> list[Change]:
        return [c for c in self.changes if c.tag == tag]

    def lot_starts(self) -> list[Change]:
        return [c for c in self.of("Feed.LotId") if c.value not in ("", 0)]


class Collector:
    """Records every data change; `done` is set on the first one that comes after `until()` holds."""

    def __init__(self, names: dict[str, str], until: Callable[[], bool]) -> None:
        self.names, self.until = names, until
        self.changes: list[Change] = []
        self.done = asyncio.Event()

    def datachange_notification(self, node: Node, val: object, data: object) -> None:
        dv = data.monitored_item.Value  # type: ignore[attr-defined]
        self.changes.append(Change(self.names[node.nodeid.to_string()], val, dv.SourceTimestamp, dv.ServerTimestamp))
        if self.until():
            self.done.set()


async def play(profile: str, tmp: Path, *, lots: int = 2) -> Wire:
    opts = SimOptions(
        data_dir=tmp,
        sim_config=ROOT / "config/simulator.toml",
        seeds=ROOT / "seeds",
        speed=10_000.0,
        seed=5,
        noise=False,
        assay_delay_h=0,
        profile=parse_profile(profile),
        lots=lots,
    )
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}/blackmass"
    server = plant_server(opts, endpoint)
    await server.start()
    try:
        # the server plays at 10,000x on this client's event loop: on a loaded machine a request may wait
        # seconds for its answer, which asyncua's 4 s default takes for a dead server (it disconnects)
        async with Client(endpoint, timeout=WAIT_S) as client, asyncio.TaskGroup() as tg:
            idx = await client.get_namespace_index(NS)
            nodes = {f"ns={idx};s={tag}": tag for tag in TAG_UNITS}
            plant = server.plant  # done: the line played its lots and their last products left (a change)
            names = {ua.NodeId.from_string(k).to_string(): v for k, v in nodes.items()}
            collector = Collector(names, lambda: plant.stopped and not plant.unfinished)
            sub = await client.create_subscription(20, collector)
            await sub.subscribe_data_change([client.get_node(k) for k in nodes], queuesize=10_000)
            runner = tg.create_task(server.run(), name="simulator")
            async with asyncio.timeout(WAIT_S):
                await collector.done.wait()
            before = server.clock.now()
            ct = await client.get_node(ua.ObjectIds.Server_ServerStatus_CurrentTime).read_data_value()
            after = server.clock.now()
            runner.cancel()
    finally:
        await server.stop()
    with (tmp / "ground_truth.csv").open(newline="") as fh:
        truth = list(csv.DictReader(fh))
    return Wire(collector.changes, server, ct, before, after, truth)


def epoch(t: datetime | None) -> float:
    assert t is not None
    return t.timestamp()


def within_plant(w: Wire, t: datetime | None, offset: float = 0.0) -> bool:
    """t (less offset) lies between the plant's start and its clock now: a time on the true clock."""
    return w.server.plant.t0 <= epoch(t) - offset <= w.clock_after


async def test_null_server_ts_leaves_every_server_timestamp_unset(tmp_path: Path) -> None:
    w = await play("null-server-ts", tmp_path, lots=1)
    assert len(w.changes) > 100
    assert {c.server for c in w.changes} == {UNSET}  # DateTime 0 on the wire, read back as 1601-01-01
    assert all(within_plant(w, c.source) for c in w.changes)  # source timestamps good
    assert w.current_time.ServerTimestamp == UNSET
    assert w.clock_before <= epoch(w.current_time.Value.Value) <= w.clock_after  # CurrentTime honest


@pytest.mark.parametrize("skew", [-7200.0, 7200.0, -86400.0])
async def test_source_skew_moves_only_the_source_timestamps(tmp_path: Path, skew: float) -> None:
    w = await play(f"source-skew={skew:g}", tmp_path, lots=1)
    assert {round(epoch(c.source) - epoch(c.server), 6) for c in w.changes} == {skew}
    assert all(within_plant(w, c.server) for c in w.changes)  # the server's clock is honest
    assert w.clock_before <= epoch(w.current_time.Value.Value) <= w.clock_after
    # ground truth on the true clock: the first lot id's server timestamp is its truth start
    assert float(w.truth[0]["start"]) == epoch(w.lot_starts()[0].server)


async def test_mixed_clocks_moves_the_lot_id_controller_only(tmp_path: Path) -> None:
    w = await play("mixed-clocks=600", tmp_path, lots=1)
    offsets: dict[str, set[float]] = defaultdict(set)
    for c in w.changes:
        offsets[c.tag].add(round(epoch(c.source) - epoch(c.server), 6))
    assert {tag: offsets[tag] for tag in LOT_TAGS} == {tag: {600.0} for tag in LOT_TAGS}
    assert {tag: off for tag, off in offsets.items() if tag not in LOT_TAGS} == {
        tag: {0.0} for tag in set(offsets) - set(LOT_TAGS)
    }
    assert all(within_plant(w, c.server) for c in w.changes)
    assert w.clock_before <= epoch(w.current_time.Value.Value) <= w.clock_after


async def test_combined_skews_add_up(tmp_path: Path) -> None:
    w = await play("source-skew=-7200,mixed-clocks=600,null-server-ts", tmp_path, lots=1)
    lot = {c.source for c in w.changes if c.tag in LOT_TAGS}
    counters = {c.source for c in w.changes if c.tag in COUNTERS}
    assert all(within_plant(w, t, -6600.0) for t in lot)
    assert all(within_plant(w, t, -7200.0) for t in counters)
    assert {c.server for c in w.changes} == {UNSET}


def first_step_after(w: Wire, tag: str, t: datetime) -> tuple[Change, Change]:
    """(the last change of `tag` before t, its first change at or after t)."""
    before = [c for c in w.of(tag) if epoch(c.source) < epoch(t)]
    after = [c for c in w.of(tag) if epoch(c.source) >= epoch(t)]
    return before[-1], after[0]


@pytest.mark.parametrize("profile", ["same-scan-edges", "int-counters,same-scan-edges", "exception,same-scan-edges"])
async def test_same_scan_edges_write_lot_id_and_first_step_in_one_scan(tmp_path: Path, profile: str) -> None:
    w = await play(profile, tmp_path)
    step = w.server.plant.cfg.step_s
    starts = w.lot_starts()
    assert len(starts) == 2
    for start, truth in zip(starts, w.truth, strict=False):
        idle, first = first_step_after(w, "Feed.Totalizer", start.source)  # type: ignore[arg-type]
        assert first.source == start.source  # the same scan: one source timestamp
        assert first.value != idle.value  # ... and it is a step of the feed counter
        # the belt stood before it: the counter last moved at least a scan before the id came
        moved = [c for c in w.of("Feed.Totalizer") if c.value != idle.value and epoch(c.source) < epoch(start.source)]
        assert not moved or epoch(start.source) - epoch(moved[-1].source) > step
        for tag in ("Feed.Chemistry", "Feed.Supplier"):  # the attributes come with the id
            assert any(c.source == start.source for c in w.of(tag)), tag
        # ground truth starts where the id came, on the true clock
        assert float(truth["start"]) == epoch(start.source)


async def test_without_same_scan_edges_the_id_leads_the_first_step_by_a_scan(tmp_path: Path) -> None:
    w = await play("", tmp_path, lots=1)
    start = w.lot_starts()[0]
    _, moving = next(
        (a, b) for a, b in zip(w.of("Feed.Totalizer"), w.of("Feed.Totalizer")[1:], strict=False) if b.value != a.value
    )
    assert epoch(moving.source) - epoch(start.source) == w.server.plant.cfg.step_s
    assert float(w.truth[0]["start"]) == epoch(start.source) == epoch(start.server)
