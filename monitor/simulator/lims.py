"""The simulator's laboratory: noisy, delayed assays written as LIMS CSV files into an inbox."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from monitor.simulator.composition import ELEMENTS
from monitor.simulator.lots import Lot

# The lab's own precision (relative σ) [M after domain.md]; independent of the monitor's numbers.
LAB_REL_SIGMA = {"ni": 0.015, "co": 0.015, "mn": 0.015, "li": 0.03}
OTHER_REL_SIGMA = 0.03
PRELIMINARY_FACTOR = 2.0
ASSAYED_PRODUCTS = ("ferrous", "aluminium", "copper", "light_fraction", "condensate", "fines")
COLUMNS = (
    "batch_id",
    "stream",
    "element",
    "value_pct",
    "status",
    "sample_id",
    "bag_id",
    "lab",
    "method",
    "moisture_pct",
    "line",
)


@dataclass
class Lab:
    """Schedules each finished lot's assays `delay_h` plant hours later (preliminary at a quarter of it)."""

    inbox: Path
    rng: np.random.Generator
    noise: bool
    delay_h: float
    line: str = ""  # written in every row: the monitor files the assays under this line
    pending: list[tuple[float, str, Lot]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.inbox.mkdir(parents=True, exist_ok=True)

    def lot_finished(self, lot: Lot, ts: float) -> None:
        if self.delay_h <= 0:
            self.write(lot, "final")
            return
        self.pending.append((ts + 0.25 * self.delay_h * 3600.0, "preliminary", lot))
        self.pending.append((ts + self.delay_h * 3600.0, "final", lot))

    def tick(self, ts: float) -> None:
        due = [p for p in self.pending if p[0] <= ts]
        self.pending = [p for p in self.pending if p[0] > ts]
        for _, status, lot in sorted(due, key=lambda p: p[0]):
            self.write(lot, status)

    def _measure(self, el: str, pct: float, status: str) -> float:
        if not self.noise:
            return pct
        sd = LAB_REL_SIGMA.get(el, OTHER_REL_SIGMA) * (PRELIMINARY_FACTOR if status == "preliminary" else 1.0)
        return min(100.0, max(0.0, pct * (1 + sd * float(self.rng.standard_normal()))))

    def rows(self, lot: Lot, status: str) -> list[dict[str, object]]:
        method = "XRF" if status == "preliminary" else "ICP-OES"
        out: list[dict[str, object]] = []
        moisture, grades = lot.assay_truth["black_mass"]
        for k, (bag_id, _) in enumerate(lot.bags, start=1):
            m = moisture * 100 * (1 + (0.05 * float(self.rng.standard_normal()) if self.noise else 0.0))
            for el in ELEMENTS:
                out.append(
                    {
                        "batch_id": lot.batch_id,
                        "stream": "black_mass",
                        "element": el,
                        "value_pct": f"{self._measure(el, grades[el] * 100, status):.6f}",
                        "status": status,
                        "sample_id": f"{lot.batch_id}-BM{k:02d}-{status[0].upper()}",
                        "bag_id": bag_id,
                        "lab": "sim-lab",
                        "method": method,
                        "moisture_pct": f"{max(m, 0.0):.4f}",
                        "line": self.line,
                    }
                )
        for stream in ASSAYED_PRODUCTS:
            if stream not in lot.assay_truth:
                continue
            m_s, g = lot.assay_truth[stream]
            for el in ELEMENTS:
                out.append(
                    {
                        "batch_id": lot.batch_id,
                        "stream": stream,
                        "element": el,
                        "value_pct": f"{self._measure(el, g[el] * 100, status):.6f}",
                        "status": status,
                        "sample_id": f"{lot.batch_id}-{stream[:3].upper()}-{status[0].upper()}",
                        "bag_id": "",
                        "lab": "sim-lab",
                        "method": method,
                        "moisture_pct": f"{m_s * 100:.4f}" if m_s < 1 else "",
                        "line": self.line,
                    }
                )
        return out

    def write(self, lot: Lot, status: str) -> Path:
        """Write atomically: a dot-file first, then a rename the inbox watcher can trust."""
        final = self.inbox / f"{lot.batch_id}-{status}.csv"
        tmp = self.inbox / f".{final.name}.tmp"
        with tmp.open("w", newline="") as fh:
            w = csv.DictWriter(fh, COLUMNS)
            w.writeheader()
            w.writerows(self.rows(lot, status))
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(final)
        return final
