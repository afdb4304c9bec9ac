"""The line's process values (power, O2, N2, temperatures, energy meters) for one step."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from monitor.simulator.plant import Plant

FAULT_FROM_LOT = 3  # faults start with this lot (the first ones show the line healthy)


def process_values(p: Plant, feed_kg: float, bm_kg: float = 0.0) -> dict[str, float]:
    """The line's process tags for one step: load-driven, with noise and the process faults."""
    load = feed_kg * 3600.0 / p.cfg.step_s / p.cfg.feed_rate_kg_h  # 0 idle, ~1 nominal
    n = p.rng.standard_normal(8) if p.noise else np.zeros(8)
    power = 25.0 + 110.0 * load + 3.0 * n[0]
    dryer_kw = 40.0 + 60.0 * load
    dt_h = p.cfg.step_s / 3600.0
    p.energy_kwh["shredder"] += power * dt_h
    p.energy_kwh["dryer"] += dryer_kw * dt_h
    p.energy_kwh["total"] += (power + dryer_kw + 35.0) * dt_h
    o2, n2, dryer = 1.8, 180.0, 95.0 + 50.0 * load
    if p.lots_started >= FAULT_FROM_LOT and p.lot is not None:
        into = (p.ts - p.lot.start_ts) / 3600.0  # hours into the faulty lot
        if "n2-leak" in p.faults:  # O2 creeps up while the nitrogen flow sags
            o2, n2 = 1.8 + min(5.0, 2.5 * into), 180.0 - min(60.0, 30.0 * into)
        if "dryer-overheat" in p.faults:
            dryer = min(230.0, dryer + 40.0 * into)
    return {
        "Feed.Rate": feed_kg * 3600.0 / p.cfg.step_s / 1000.0,
        "Shredder.O2": o2 + 0.15 * n[1],
        "Shredder.Power": power,
        "Shredder.Current": power * 1000.0 / (math.sqrt(3) * 400.0 * 0.86),
        "Shredder.GasTemp": 38.0 + 6.0 * load + 0.5 * n[2],
        "Shredder.LEL": 3.0 + 2.0 * load + 0.3 * n[3],
        "Shredder.N2Flow": n2 + 2.0 * n[4],
        "Dryer.ProductTemp": dryer + 1.0 * n[5],
        "Dryer.Pressure": 60.0 + 20.0 * load + 1.0 * n[6],
        "BlackMass.BagTemp": 32.0 + 6.0 * load + 0.5 * n[7],
        "Energy.ShredderKWh": p.energy_kwh["shredder"],
        "Energy.DryerKWh": p.energy_kwh["dryer"],
        "Energy.TotalKWh": p.energy_kwh["total"],
    }
