"""Shared by the benchmarks: the results file, the machine, best-of timing."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results.json"
# bench_reports leaves its generated store here; bench_store reuses it (make bench stays < 10 min)
CACHE = ROOT / "benchmarks" / ".cache"
sys.path.insert(0, str(ROOT))


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, CPython {platform.python_version()}"


def best_of(fn: Callable[[], Any], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def record(section: str, figures: dict[str, Any]) -> None:
    """Print the figures and merge them into benchmarks/results.json under `section`."""
    figures = {**figures, "machine": machine()}
    width = max(len(k) for k in figures)
    for k, v in figures.items():
        print(f"{k:>{width}}: {v}")
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data[section] = figures
    RESULTS.write_text(json.dumps(data, indent=2) + "\n")
