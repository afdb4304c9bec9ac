"""What the fault-matrix tests share: a run's report compared with the simulator's ground truth, and
when a run has gone far enough (its monitor stored the faulty third lot and one after it)."""

from __future__ import annotations

import csv
from pathlib import Path

from monitor.cli import main

TOLERANCE = 0.002
LOTS = 4  # a run ends when its monitor has stored this many lots: the faulty third and one after it


def compare(data: Path) -> dict[str, dict[str, str]]:
    """The report's batches; asserts none lost, none doubled, masses within 0.2 % of the truth."""
    assert main(["report", "--data-dir", str(data), "--format", "csv", "--out", str(data / "report.csv")]) == 0
    truth = {r["batch_id"]: r for r in csv.DictReader((data / "ground_truth.csv").open())}
    rows = list(csv.DictReader((data / "report.csv").open()))
    report = {r["batch_id"]: r for r in rows}
    assert len(rows) == len(report), "a batch was stored twice"
    assert len(truth) >= 4, f"the run was too short: {len(truth)} lots"
    newest = max(truth, key=lambda b: float(truth[b]["end"]))
    lost = [b for b in truth if b not in report]
    assert lost in ([], [newest]), f"lost batches {lost}"  # the newest may still be flushing when the run stops
    for b, t in truth.items():
        if b not in report:
            continue
        for col in ("feed_kg", "black_mass_kg"):
            err = abs(float(report[b][col]) - float(t[col])) / float(t[col])
            assert err <= TOLERANCE, f"{b} {col}: {report[b][col]} vs truth {t[col]} ({err:.4%})"
    return report


def caught_up(stored: int, truth: int) -> bool:
    return truth >= LOTS and stored >= max(LOTS, truth - 1)
