"""Drive the simulator's plant straight into the engine, lab inbox and store (no OPC-UA).

The same engine, lab files, inbox import and accounting the service uses, fast enough to make
dozens of batches in seconds for calibration, report and API tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from monitor.accounting.assay_import import Accountant
from monitor.accounting.seeds import load_feed_grades
from monitor.collectors.lims import inbox_once
from monitor.config import load_config
from monitor.core.engine import Engine
from monitor.core.samples import Quality, Sample
from monitor.simulator.composition import load_seeds
from monitor.simulator.history import plant_samples
from monitor.simulator.lims import Lab
from monitor.simulator.lots import Lot, load_schedule, truth_row
from monitor.simulator.plant import Plant
from monitor.simulator.settings import load_sim_config
from monitor.store.batches import BatchStore

ROOT = Path(__file__).resolve().parents[1]


def engine_samples(plant: Plant, steps: int) -> Iterator[tuple[float, list[Sample], list[Lot]]]:
    """plant_samples as the monitor's Samples (the simulator keeps its own sample type: no shared code)."""
    for ts, samples, finished in plant_samples(plant, steps):
        yield ts, [Sample(s.tag, s.ts, s.value, Quality(s.quality), s.status) for s in samples], finished


def run_plant(
    tmp: Path, *, seed: int, steps: int, noise: bool, delay_h: float, faults: frozenset[str] = frozenset()
) -> tuple[BatchStore, dict[str, dict[str, Any]]]:
    cfg = load_config(ROOT / "config/plant.toml")
    spec = cfg.line
    store = BatchStore(tmp / "blackmass.db")
    accountant = Accountant(store, spec, load_feed_grades(ROOT / "seeds"), ghg=cfg.ghg, origin=cfg.origin)
    plant = Plant(
        load_sim_config(ROOT / "config/simulator.toml"),
        load_seeds(ROOT / "seeds"),
        load_schedule(ROOT / "seeds/demo_lots.csv"),
        t0=1.8e9,
        seed=seed,
        noise=noise,
        faults=faults,
    )
    lab = Lab(tmp / "lims", np.random.default_rng(seed + 1), noise, delay_h)
    engine = Engine(spec)
    truth: dict[str, dict[str, Any]] = {}
    for ts, samples, finished in engine_samples(plant, steps):
        engine.ingest(samples)
        for result in engine.poll():
            accountant.finalise(result)
        for lot in finished:
            truth[lot.batch_id] = truth_row(lot, "L1")
            lab.lot_finished(lot, ts)
        lab.tick(ts)
        inbox_once(tmp / "lims", accountant.import_file)
    return store, truth
