"""Soak: 30 plant-days through the service path (engine, accounting, lab inbox, store, /metrics,
checkpoints) at full speed. Resident memory stays flat and nothing grows without bound."""

from __future__ import annotations

import gc
import os
import re
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import generate_latest

from monitor.collectors.lims import inbox_once
from monitor.config import load_config
from monitor.runs.app import Monitor
from monitor.simulator.composition import load_seeds
from monitor.simulator.lims import Lab
from monitor.simulator.lots import load_schedule
from monitor.simulator.plant import Plant
from monitor.simulator.settings import load_sim_config
from monitor.store.checkpoint import write_checkpoint
from tests.plant_harness import engine_samples

ROOT = Path(__file__).resolve().parents[1]
DAYS = 30
STEPS_PER_DAY = 1440  # 60-s plant steps
pytestmark = pytest.mark.soak


def rss_kib() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def test_thirty_days_keep_memory_flat(tmp_path: Path) -> None:
    cfg = load_config(ROOT / "config/plant.toml")
    monitor = Monitor(cfg, tmp_path, seeds=ROOT / "seeds")
    plant = Plant(
        load_sim_config(ROOT / "config/simulator.toml"),
        load_seeds(ROOT / "seeds"),
        load_schedule(ROOT / "seeds/demo_lots.csv"),
        t0=1.8e9,
        seed=17,
        noise=True,
        faults=frozenset({"bad-quality"}),  # rejects and repeats every hour: their bookkeeping must stay bounded
    )
    lab = Lab(tmp_path / "lims", np.random.default_rng(18), True, 8.0)
    days: list[dict[str, float]] = []
    for k, (ts, samples, finished) in enumerate(engine_samples(plant, DAYS * STEPS_PER_DAY)):
        for result in monitor._ingest(samples):
            monitor._kept(monitor.accountant.finalise(result))
        for lot in finished:
            lab.lot_finished(lot, ts)
        lab.tick(ts)
        if k % 60 == 0:  # the inbox is watched, not polled every step
            monitor._imported(inbox_once(tmp_path / "lims", monitor.accountant.import_file))
        if k % STEPS_PER_DAY == 0 and k:
            monitor._snapshot = monitor._build_snapshot()
            text = generate_latest(monitor.registry).decode()
            write_checkpoint(monitor.checkpoint_path, monitor.engine.dump())
            gc.collect()
            e = monitor.engine
            days.append(
                {
                    "rss_kib": rss_kib(),
                    "series": sum(len(s) for s in e.state.numeric.values()),
                    "metric_lines": len([ln for ln in text.splitlines() if ln and not ln.startswith("#")]),
                    "batch_labels": len(set(re.findall(r'batch_id="([^"]+)"', text))),
                    "checkpoint_bytes": monitor.checkpoint_path.stat().st_size,
                    "pending": len(e.flushing),
                    "rejects": len(e.state.rejects),
                    "fds": len(os.listdir("/proc/self/fd")),
                    "completed": monitor.completed,
                }
            )
    monitor.store.close()
    warm = days[2]  # after warm-up: imports, caches and the first versions are in
    last = days[-1]
    print("soak day 3 -> 30:", {k: (warm[k], last[k]) for k in warm})
    assert last["completed"] >= 8 * DAYS  # the plant really ran: ~10 lots a day
    assert last["rss_kib"] <= 1.10 * warm["rss_kib"], (warm, last)
    for key in ("series", "metric_lines", "batch_labels", "checkpoint_bytes", "pending", "rejects", "fds"):
        worst = max(d[key] for d in days[2:])
        assert worst <= 3 * max(warm[key], 10), (key, [d[key] for d in days])  # bounded, not growing with days
    assert max(d["metric_lines"] for d in days[2:]) - min(d["metric_lines"] for d in days[2:]) <= 20
