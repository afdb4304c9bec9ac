"""Wires one line: collectors → queue → core engine → store → /metrics. Owns no math."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from monitor.accounting.assay_import import Accountant, ImportSummary
from monitor.accounting.seeds import load_feed_grades
from monitor.collectors.lims import watch_inbox
from monitor.collectors.opcua import Gap
from monitor.config import MonitorConfig
from monitor.core.engine import Engine
from monitor.core.results import BatchResult, BatchState
from monitor.core.samples import SOURCE_CLOCK, Sample
from monitor.errors import StoreError
from monitor.runs.lock import DataDirLock
from monitor.runs.sources import (
    SourceGate,
    kept_state,
    line_health,
    line_turn,
    opcua_collector,
    other_collectors,
    reported,
    sink_to,
    source_feeds,
    supervise,
)
from monitor.runs.tallies import Tallies
from monitor.runs.upkeep import Upkeep, base_url
from monitor.serve.api import add_api
from monitor.serve.exposition import SnapshotCollector
from monitor.serve.exposition_ops import OpsCollector
from monitor.serve.http import make_app, serve, tls_context
from monitor.serve.passport_api import add_passport_routes
from monitor.serve.runbooks import add_runbooks
from monitor.serve.snapshot import G_PER_KG, MetricsSnapshot, ProcessValue
from monitor.serve.web.mount import READ_TOKEN_ENV, WebSettings, add_web
from monitor.store.checkpoint import read_checkpoint, write_checkpoint
from monitor.store.query import BatchQuery
from monitor.store.url import default_url, open_store

log = logging.getLogger(__name__)

BatchCallback = Callable[[BatchResult], None]
_IDS_SEEDED = 5_000  # stored batch ids the lot tracker knows, so a reused id after a restart gets a suffix


class Monitor:
    """One service instance for one line: one collector, one engine, one store, one /metrics."""

    def __init__(
        self,
        cfg: MonitorConfig,
        data_dir: Path,
        *,
        seeds: Path,
        on_batch: BatchCallback | None = None,
        wall: Callable[[], float] = time.time,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] | None = None,
        store_url: str | None = None,
    ) -> None:
        self.cfg = cfg
        self.data_dir = Path(data_dir)
        self.lock = DataDirLock(self.data_dir)  # before anything in the directory is opened
        self.lock.acquire()
        try:
            self._setup(cfg, seeds, on_batch, wall, registry, clock, store_url)
        except BaseException:
            self.lock.release()
            raise

    def _setup(
        self,
        cfg: MonitorConfig,
        seeds: Path,
        on_batch: BatchCallback | None,
        wall: Callable[[], float],
        registry: CollectorRegistry | None,
        clock: Callable[[], float] | None,
        store_url: str | None,
    ) -> None:
        # --store, else [store] url, else the SQLite file in the data directory; checkpoints stay local
        self.store_url = store_url or cfg.store_url or default_url(self.data_dir)
        self.store = open_store(self.store_url, password_file=cfg.store_password_file)
        self.store_retry_s = 1.0  # first wait before a failed save is retried (doubling to 60 s)
        self.accountant = Accountant(self.store, cfg.line, load_feed_grades(seeds), ghg=cfg.ghg, origin=cfg.origin)
        self.checkpoint_path = self.data_dir / "checkpoint.json"
        self._clock = clock or wall  # the time samples are stamped on (the demo's is the plant's)
        self._kept_collector: dict[str, Any] = {}  # what the checkpoint kept of the primary OPC-UA collector
        self.engine = self._resume()
        self.engine.seed_ids([r.batch_id for r in self.store.latest(BatchQuery.line(cfg.line.line))][-_IDS_SEEDED:])
        self.on_batch = on_batch
        self._wall = wall
        self.queue: asyncio.Queue[tuple[str, list[Sample]]] = asyncio.Queue(maxsize=10_000)  # (source, samples)
        self.collector = opcua_collector(  # None: a line with no OPC-UA source (docs/sources.md)
            cfg, sink_to(self.queue, cfg.opcua_name), self._kept_collector, self.engine.resumed_at,
            wall=wall, on_gap=self._gap, clock=self._clock, on_types=self._types, on_cycles=self._cycles,
        )  # fmt: skip
        self._feeds = source_feeds(cfg)
        self._gate = SourceGate(cfg, self._clock(), lambda a, b: self.engine.note_gap(a, b, recovered=False))
        put = self.queue  # Modbus, MQTT, more OPC-UA servers: each its own supervisor, its samples named
        self.sources = other_collectors(
            cfg, lambda n: sink_to(put, n), wall=wall, clock=self._clock, on_gap=self._gap, on_types=self._types
        )
        self._process_tags = {p.tag: p for p in cfg.process}
        self._process_values: dict[str, float] = {}
        self.tallies = Tallies()
        self.upkeep = Upkeep(cfg, self.data_dir, self.accountant, self._clock)
        for r in self.store.latest(BatchQuery.line(cfg.line.line, include_partial=False)):
            self._note(r)  # counters continue from the store: a restart is not a counter reset
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=False)
        self._snapshot = self._build_snapshot()
        self.registry.register(SnapshotCollector(lambda: self._snapshot))
        self.registry.register(OpsCollector(self.upkeep.ops_snapshot))
        self.http_started = asyncio.Event()

    def _resume(self) -> Engine:
        state = read_checkpoint(self.checkpoint_path)
        if state is not None:
            try:
                engine = Engine.load(self.cfg.line, state, settle_s=self.cfg.settle_s)
            except (ValueError, KeyError, TypeError) as exc:
                log.error("%s: checkpoint not usable (%s); starting fresh", self.checkpoint_path, exc)
            else:
                self._kept_collector = dict(state.get("collector", {}))
                live = engine.live()
                log.info(
                    "resumed from checkpoint at plant time %s: feeding %s, flushing %s",
                    time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(engine.watermark)),
                    live.batch_id if live else "-",
                    ", ".join(engine.flushing) or "-",
                )
                return engine
        return Engine(self.cfg.line, settle_s=self.cfg.settle_s)

    def _gap(self, gap: Gap) -> None:
        self.engine.note_gap(gap.start, gap.end, recovered=gap.recovered)

    def _types(self, wraps: Mapping[str, float]) -> None:
        for tag, wrap in wraps.items():
            self.engine.learn_counter(tag, wrap=wrap)

    def _cycles(self, revised_s: dict[str, float]) -> None:
        for tag, seconds in revised_s.items():
            self.engine.learn_counter(tag, min_cycle_s=seconds)

    def _checkpoint_state(self) -> dict[str, Any]:
        return self.engine.dump() | {"collector": kept_state(self.collector)}

    async def checkpoint(self) -> None:
        """Save the engine's state whenever it moved (the upkeep counts what failed)."""
        await self.upkeep.keep_checkpoint(self.checkpoint_path, self._checkpoint_state, lambda: self.engine.watermark)

    @property
    def external_url(self) -> str:
        """The base of the links alerts carry: [http] external_url, else the address bound."""
        return self.upkeep.external_url

    @property
    def completed(self) -> int:
        return self.tallies.completed

    def _note(self, r: BatchResult) -> None:
        """Fold one stored version into the tallies and the wait for final assays."""
        if r.state is BatchState.PARTIAL:
            return
        self.tallies.note(r)
        self.upkeep.note_assay_wait(r)

    def _build_snapshot(self) -> MetricsSnapshot:
        self.upkeep.assays_waiting()  # on the loop, beside the batch snapshot
        rejected: Counter[tuple[str, str]] = Counter()
        for (_, reason), n in self.engine.stats.rejected.items():
            rejected[(self.cfg.opcua_name, reason)] += n
        process = tuple(
            ProcessValue(metric=p.metric, help=p.help, value=self._process_values[p.tag] * p.scale)
            for p in self.cfg.process
            if p.tag in self._process_values
        )
        return MetricsSnapshot(
            line=self.cfg.line.line,
            wall_now=self._wall(),
            last_batch=self.tallies.last,
            last_assayed=self.tallies.last_assayed,
            completed_total=self.tallies.completed,
            stream_grams_total=dict(self.tallies.grams),
            unattributed_grams_total={k: kg * G_PER_KG for k, kg in self.engine.ledger.unattributed_kg.items()},
            metal_grams_total=dict(self.tallies.metal_grams),
            yield_baseline=dict(self.tallies.baseline),
            yield_floors=dict(self.cfg.yield_floors),
            live=self.engine.live(),
            flushing=len(self.engine.flushing),
            plant_time=self.engine.watermark,
            process=process,
            collectors=(*(c.health() for c in (self.collector,) if c), *reported(self.sources.values())),
            source_feeds=self._feeds,
            rejected=dict(rejected),
            pending_age_s=self._pending_age(),
        )

    def _pending_age(self) -> float:
        end = self.engine.oldest_pending_end
        return 0.0 if end is None else max(0.0, self._clock() - end)

    def health(self) -> dict[str, Any]:
        return line_health(self.cfg.line.line, self.collector, self.sources, self.tallies.completed, self._gate)

    def _ingest(self, samples: list[Sample], source: str | None = None) -> list[BatchResult]:
        return self._ingest_parts([(source or self.cfg.opcua_name, samples)])

    def _ingest_parts(self, parts: list[tuple[str, list[Sample]]]) -> list[BatchResult]:
        """What the sources handed over since the last turn, in one go; then the lots that may close."""
        now = self._clock()
        for source, samples in parts:
            for s in samples:
                if s.tag in self._process_tags and isinstance(s.value, float) and math.isfinite(s.value):
                    self._process_values[s.tag] = s.value
            self._gate.delivered(source, samples, now)
        self.engine.ingest(s for _, xs in parts for s in xs if s.tag != SOURCE_CLOCK)  # ticks: the gate's alone
        states = {n: c.health().state for n, c in self.sources.items()}
        self._gate.states(states | ({self.collector.source: self.collector.state} if self.collector else {}), now)
        return line_turn(self._gate, self.engine, now)

    def _kept(self, saved: BatchResult | None) -> None:
        if saved is None:  # identical to what the store already holds: never doubled
            return
        self._note(saved)
        log.info(
            "batch %s v%d %s: feed %.1f kg, black mass %.1f kg, yield %.4f, assays %s",
            saved.batch_id,
            saved.version,
            saved.state,
            saved.feed_kg,
            saved.mass("black_mass"),
            saved.black_mass_yield,
            saved.assay_status,
        )
        if self.on_batch is not None:
            self.on_batch(saved)

    def _imported(self, summaries: list[ImportSummary]) -> None:
        for summary in summaries:
            for r in summary.updated:
                self._kept(r)
        self._snapshot = self._build_snapshot()

    async def process(self) -> None:
        """The engine runs on the loop (one owner, no locks); only the SQLite work leaves it."""
        while True:
            try:  # a line with no server clock moves on ours too (the bound), when nothing arrives
                async with asyncio.timeout(1.0 if self._gate.clockless else None):
                    parts = [await self.queue.get()]
            except TimeoutError:
                parts = []
            while not self.queue.empty():  # what is waiting goes in one go: one poll, one snapshot
                parts.append(self.queue.get_nowait())
            for result in self._ingest_parts(parts):
                self._kept(await self._save(result))
            self._snapshot = self._build_snapshot()

    async def _save(self, result: BatchResult) -> BatchResult | None:
        """Store a finished batch, retrying while the store is unreachable (a shared PostgreSQL
        restarts, the network drops): the engine has handed the batch over and will not again,
        so giving up would lose it. Samples wait in the bounded queue meanwhile; a retried save
        whose commit did land finds an identical result and stores nothing twice."""
        delay = self.store_retry_s
        while True:
            try:
                return await asyncio.to_thread(self.accountant.finalise, result)
            except StoreError as exc:
                log.error("batch %s not stored yet, retrying in %.0f s: %s", result.batch_id, delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60.0)

    async def refresh(self, every_s: float = 1.0) -> None:
        """Keep ages and connection state current between samples."""
        while True:
            await asyncio.sleep(every_s)
            self._snapshot = self._build_snapshot()

    async def run(self, *, host: str | None = None, port: int | None = None) -> None:
        h = self.cfg.http
        tls = tls_context(h.tls_certificate, h.tls_key) if h.tls_certificate and h.tls_key else None
        app = make_app(self.registry, self.health)
        self.upkeep.external_url = h.external_url or base_url(
            host or h.host, h.port if port is None else port, tls=tls is not None
        )
        add_runbooks(app)
        token = os.environ.get("BLACKMASS_API_TOKEN") or None  # one token for every write route
        add_api(app, self.store, self.accountant, token=token, on_imported=self._imported, plant=self.cfg.plant_name)
        add_passport_routes(app, self.store, self.cfg.passport, token=token)  # shipments: tables of either store
        web = WebSettings(
            token=token,
            read_token=os.environ.get(READ_TOKEN_ENV) or h.read_token,
            grafana_url=h.grafana_url,
            plant=self.cfg.plant_name,
            live=self.engine.live,
            live_line=self.cfg.line.line,
            on_imported=self._imported,
        )
        add_web(app, self.store, web, accountant=self.accountant)
        try:
            async with asyncio.TaskGroup() as tg:
                if self.collector is not None:
                    tg.create_task(self.collector.run(), name="collector")
                for name, collector in self.sources.items():
                    tg.create_task(supervise(collector), name=f"source-{name}")
                tg.create_task(self.process(), name="core")
                tg.create_task(self.refresh(), name="refresh")
                tg.create_task(self.checkpoint(), name="checkpoint")
                tg.create_task(
                    watch_inbox(self.data_dir / "lims", self.upkeep.import_inbox_file, self._imported),
                    name="lims-inbox",
                )
                tg.create_task(
                    serve(
                        app,
                        host or self.cfg.http.host,
                        self.cfg.http.port if port is None else port,
                        self.http_started,
                        tls=tls,
                    ),
                    name="http",
                )
        finally:
            try:  # a clean stop resumes exactly where it left off
                write_checkpoint(self.checkpoint_path, self._checkpoint_state())
            except OSError as exc:
                log.error("%s: final checkpoint not written: %s", self.checkpoint_path, exc)
            self.store.close()
            self.lock.release()
