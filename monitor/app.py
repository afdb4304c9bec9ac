"""Wires one line: collector → queue → core engine → store → /metrics. Owns no math."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from monitor.collectors.opcua import ConnState, OpcuaCollector
from monitor.config import MonitorConfig
from monitor.core.engine import Engine
from monitor.core.results import BatchResult, BatchState
from monitor.core.samples import Sample
from monitor.exposition import G_PER_KG, MetricsSnapshot, ProcessValue, SnapshotCollector
from monitor.http import make_app, serve
from monitor.store import BatchStore

log = logging.getLogger(__name__)

BatchCallback = Callable[[BatchResult], None]


class Monitor:
    """One service instance for one line (DESIGN §11)."""

    def __init__(
        self,
        cfg: MonitorConfig,
        data_dir: Path,
        *,
        on_batch: BatchCallback | None = None,
        wall: Callable[[], float] = time.time,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.cfg = cfg
        self.data_dir = Path(data_dir)
        self.store = BatchStore(self.data_dir / "blackmass.db")
        self.engine = Engine(cfg.line, settle_s=cfg.settle_s)
        self.on_batch = on_batch
        self._wall = wall
        self.queue: asyncio.Queue[list[Sample]] = asyncio.Queue(maxsize=10_000)
        self.collector = OpcuaCollector(cfg.opcua, cfg.tag_addresses(), self.queue.put, wall=wall)
        self._process_tags = {p.tag: p for p in cfg.process}
        self._process_values: dict[str, float] = {}
        self._completed = 0
        self._grams: dict[str, float] = {}
        self._last: BatchResult | None = None
        self._load_totals()
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=False)
        self._snapshot = self._build_snapshot()
        self.registry.register(SnapshotCollector(lambda: self._snapshot))
        self.http_started = asyncio.Event()

    @property
    def completed(self) -> int:
        return self._completed

    def _load_totals(self) -> None:
        """Counters continue from the store, so a restart is not a counter reset for PromQL."""
        for r in self.store.latest(line=self.cfg.line.line, include_partial=False):
            self._count(r)

    def _count(self, r: BatchResult) -> None:
        self._completed += 1
        for sm in r.streams:
            if math.isfinite(sm.mass_kg) and sm.source != "balance":
                self._grams[sm.stream] = self._grams.get(sm.stream, 0.0) + sm.mass_kg * G_PER_KG
        self._last = r

    def _build_snapshot(self) -> MetricsSnapshot:
        rejected: Counter[tuple[str, str]] = Counter()
        for (_, reason), n in self.engine.stats.rejected.items():
            rejected[(self.collector.source, reason)] += n
        process = tuple(
            ProcessValue(metric=p.metric, help=p.help, value=self._process_values[p.tag] * p.scale)
            for p in self.cfg.process
            if p.tag in self._process_values
        )
        return MetricsSnapshot(
            line=self.cfg.line.line,
            wall_now=self._wall(),
            last_batch=self._last,
            completed_total=self._completed,
            stream_grams_total=dict(self._grams),
            live=self.engine.live(),
            flushing=len(self.engine.flushing),
            plant_time=self.engine.watermark,
            process=process,
            collectors=(self.collector.health(),),
            rejected=dict(rejected),
        )

    def health(self) -> dict[str, Any]:
        h = self.collector.health()
        return {
            "status": "ok",
            "line": self.cfg.line.line,
            "collector": h.state.value,
            "connected": h.state is ConnState.CONNECTED,
            "batches_completed": self._completed,
        }

    def _ingest(self, samples: list[Sample]) -> list[BatchResult]:
        for s in samples:
            if s.tag in self._process_tags and isinstance(s.value, float) and math.isfinite(s.value):
                self._process_values[s.tag] = s.value
        self.engine.ingest(samples)
        return self.engine.poll()

    def _kept(self, saved: BatchResult | None) -> BatchResult | None:
        if saved is None:  # identical to what the store already holds: never doubled
            return None
        if saved.state is not BatchState.PARTIAL:
            self._count(saved)
        log.info(
            "batch %s %s: feed %.1f kg, black mass %.1f kg, yield %.4f",
            saved.batch_id,
            saved.state,
            saved.feed_kg,
            saved.mass("black_mass"),
            saved.black_mass_yield,
        )
        if self.on_batch is not None:
            self.on_batch(saved)
        return saved

    def handle(self, samples: list[Sample]) -> list[BatchResult]:
        """Run samples through the core and store the results (synchronous; replay and tests)."""
        kept = [self._kept(self.store.save(r)) for r in self._ingest(samples)]
        self._snapshot = self._build_snapshot()
        return [r for r in kept if r is not None]

    async def process(self) -> None:
        """The engine runs on the loop (one owner, no locks); only the SQLite commit leaves it."""
        while True:
            batch = await self.queue.get()
            while not self.queue.empty():  # what is waiting goes in one go: one poll, one snapshot
                batch.extend(self.queue.get_nowait())
            for result in self._ingest(batch):
                self._kept(await asyncio.to_thread(self.store.save, result))
            self._snapshot = self._build_snapshot()

    async def refresh(self, every_s: float = 1.0) -> None:
        """Keep ages and connection state current between samples."""
        while True:
            await asyncio.sleep(every_s)
            self._snapshot = self._build_snapshot()

    async def run(self, *, host: str | None = None, port: int | None = None) -> None:
        app = make_app(self.registry, self.health)
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.collector.run(), name="collector")
                tg.create_task(self.process(), name="core")
                tg.create_task(self.refresh(), name="refresh")
                tg.create_task(
                    serve(
                        app, host or self.cfg.http.host, self.cfg.http.port if port is None else port, self.http_started
                    ),
                    name="http",
                )
        finally:
            self.store.close()
