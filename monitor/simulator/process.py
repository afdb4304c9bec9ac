"""The line's process values (power, O2, N2, temperatures, energy meters) for one step.

A part the Plant (monitor.simulator.plant) owns: it keeps the energy meters and is told, each
step, how much was fed and which process faults play, how long into their lot. It knows nothing
of the Plant.
"""

from __future__ import annotations

import math
from collections.abc import Collection

import numpy as np

FAULT_FROM_LOT = 3  # faults start with this lot (the first ones show the line healthy)


class ProcessModel:
    """Load-driven process tags with noise and the process faults (n2-leak, dryer-overheat)."""

    def __init__(self, rng: np.random.Generator, *, step_s: float, feed_rate_kg_h: float, noise: bool) -> None:
        self.rng = rng  # the plant's generator: draws interleave with its own, as one stream
        self.step_s, self.feed_rate_kg_h, self.noise = step_s, feed_rate_kg_h, noise
        self.energy_kwh = {"shredder": 0.0, "dryer": 0.0, "total": 0.0}

    def values(self, feed_kg: float, *, faults: Collection[str] = (), into_h: float = 0.0) -> dict[str, float]:
        """The process tags for one step that fed `feed_kg`, with the `faults` that play now,
        `into_h` hours into their lot."""
        load = feed_kg * 3600.0 / self.step_s / self.feed_rate_kg_h  # 0 idle, ~1 nominal
        n = self.rng.standard_normal(8) if self.noise else np.zeros(8)
        power = 25.0 + 110.0 * load + 3.0 * n[0]
        dryer_kw = 40.0 + 60.0 * load
        dt_h = self.step_s / 3600.0
        meters = self.energy_kwh
        meters["shredder"] += power * dt_h
        meters["dryer"] += dryer_kw * dt_h
        meters["total"] += (power + dryer_kw + 35.0) * dt_h
        o2, n2, dryer = 1.8, 180.0, 95.0 + 50.0 * load
        if "n2-leak" in faults:  # O2 creeps up while the nitrogen flow sags
            o2, n2 = 1.8 + min(5.0, 2.5 * into_h), 180.0 - min(60.0, 30.0 * into_h)
        if "dryer-overheat" in faults:
            dryer = min(230.0, dryer + 40.0 * into_h)
        return {
            "Feed.Rate": feed_kg * 3600.0 / self.step_s / 1000.0,
            "Shredder.O2": o2 + 0.15 * n[1],
            "Shredder.Power": power,
            "Shredder.Current": power * 1000.0 / (math.sqrt(3) * 400.0 * 0.86),
            "Shredder.GasTemp": 38.0 + 6.0 * load + 0.5 * n[2],
            "Shredder.LEL": 3.0 + 2.0 * load + 0.3 * n[3],
            "Shredder.N2Flow": n2 + 2.0 * n[4],
            "Dryer.ProductTemp": dryer + 1.0 * n[5],
            "Dryer.Pressure": 60.0 + 20.0 * load + 1.0 * n[6],
            "BlackMass.BagTemp": 32.0 + 6.0 * load + 0.5 * n[7],
            "Energy.ShredderKWh": meters["shredder"],
            "Energy.DryerKWh": meters["dryer"],
            "Energy.TotalKWh": meters["total"],
        }
