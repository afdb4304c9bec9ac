"""Replay throughput for 30 plant-days against its floor (read the file + one numpy pass), and
resident memory against days and tags. Writes benchmarks/results.json["replay"] and ["memory"].

    .venv/bin/python benchmarks/bench_replay.py [--days 30] [--extra-tags 500]
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import polars as pl

from common import ROOT, best_of, record  # isort: skip

from monitor.config import load_config
from monitor.core.engine import Engine
from monitor.core.results import BatchResult
from monitor.runs.demo import SimOptions, make_plant
from monitor.runs.replay import CHUNK_ROWS, check_history, replay_file
from monitor.simulator.export import export_history

SPEC = load_config(ROOT / "config/plant.toml").line
TARGET_RATIO, TARGET_RATE = 5.0, 20e6


def plant_export(d: Path, days: float) -> Path:
    opts = SimOptions(data_dir=d, sim_config=ROOT / "config/simulator.toml", seeds=ROOT / "seeds", noise=False, seed=3)
    export_history(make_plant(opts), d / "plant.parquet", days, d / "ground_truth.csv")
    return d / "plant.parquet"


def with_process_tags(src: Path, n_tags: int) -> Path:
    """The plant's export plus n_tags process values sampled every 60 s: a historian's usual mix."""
    plant = pl.read_parquet(src)
    t0, t1 = plant["ts"].min(), plant["ts"].max()
    grid = pl.datetime_range(t0, t1, "60s", eager=True, time_zone="UTC")  # type: ignore[arg-type]
    rng = np.random.default_rng(1)
    extra = pl.DataFrame(
        {
            "ts": pl.concat([grid] * n_tags),
            "tag": np.repeat([f"Process.Value{i:04d}" for i in range(n_tags)], len(grid)),
            "value": rng.normal(50.0, 5.0, len(grid) * n_tags),
            "text": pl.Series([None] * (len(grid) * n_tags), dtype=pl.String),
            "quality": np.zeros(len(grid) * n_tags, dtype=np.uint8),
        }
    ).with_columns(pl.col("ts").cast(plant.schema["ts"]), pl.col("quality").cast(pl.UInt8))
    out = src.with_name(f"plant+{n_tags}.parquet")
    pl.concat([plant, extra]).sort("ts").write_parquet(out, row_group_size=CHUNK_ROWS)
    return out


def floor_s(path: Path) -> float:
    def read_and_pass() -> None:
        frame = pl.read_parquet(path)
        np.nansum(frame["value"].to_numpy())

    return best_of(read_and_pass)


def core_replay(path: Path) -> tuple[float, list[BatchResult]]:
    out: list[BatchResult] = []

    def run() -> None:
        out.clear()
        replay_file(path, Engine(SPEC), out.append, checked=True)

    return best_of(run), out


def truth_error(d: Path, results: list[BatchResult]) -> float:
    truth = {r["batch_id"]: r for r in csv.DictReader((d / "ground_truth.csv").open())}
    got = {r.batch_id: r for r in results}
    return max(
        abs(got[b].mass(s) - float(t[f"{s}_kg"])) / float(t[f"{s}_kg"])
        for b, t in truth.items()
        for s in ("feed", "black_mass")
    )


MEM_SCRIPT = """
import re, sys
sys.path.insert(0, {root!r})
from pathlib import Path
from monitor.config import load_config
from monitor.core.engine import Engine
from monitor.runs.replay import replay_file
n = []
replay_file(Path({path!r}), Engine(load_config({cfg!r}).line), lambda r: n.append(r.batch_id))
# VmHWM: this process's own peak (ru_maxrss would carry the parent's peak across exec)
print(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1), len(n))
"""


def peak_rss_mib(path: Path) -> float:
    code = MEM_SCRIPT.format(root=str(ROOT), path=str(path), cfg=str(ROOT / "config/plant.toml"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return round(int(out[0]) / 1024, 1)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=float, default=30)
    ap.add_argument("--extra-tags", type=int, default=500)
    a = ap.parse_args()
    figures: dict[str, object] = {"days": a.days}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        plant = plant_export(d, a.days)
        wide = with_process_tags(plant, a.extra_tags)
        for label, path in (("plant_tags", plant), (f"plant_plus_{a.extra_tags}_tags", wide)):
            rows = check_history(path)
            floor = floor_s(path)
            check = best_of(lambda p=path: check_history(p), 1)
            core, results = core_replay(path)
            figures[label] = {
                "samples": rows,
                "floor_s": round(floor, 3),
                "replay_s": round(core, 3),
                "check_pass_s": round(check, 3),
                "replay_samples_per_s": round(rows / core),
                "ratio_to_floor": round(core / floor, 1),
                "batches": len(results),
                "worst_rel_error_vs_truth": round(truth_error(d, results), 6),
            }
        mem: dict[str, object] = {}
        for days in (3, 10, 30, 90):
            sub = d / f"m{days}"
            sub.mkdir()
            mem[f"plant_tags_{days}_days_peak_rss_mib"] = peak_rss_mib(plant_export(sub, days))
        mem[f"plant_plus_{a.extra_tags}_tags_{a.days:g}_days_peak_rss_mib"] = peak_rss_mib(wide)
    plant_fig = figures["plant_tags"]
    wide_fig = figures[f"plant_plus_{a.extra_tags}_tags"]
    assert isinstance(plant_fig, dict) and isinstance(wide_fig, dict)
    figures["targets"] = {"ratio_to_floor": TARGET_RATIO, "samples_per_s": TARGET_RATE}
    figures["targets_held"] = {
        label: f["ratio_to_floor"] <= TARGET_RATIO and f["replay_samples_per_s"] >= TARGET_RATE
        for label, f in (("plant_tags", plant_fig), ("with_process_tags", wide_fig))
    }
    record("replay", figures)
    record("memory", mem)
    print(json.dumps(figures["targets_held"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
