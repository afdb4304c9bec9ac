"""Replay throughput for 30 plant-days against its floor (read the file + one numpy pass), and
resident memory against days and tags. Writes benchmarks/results.json["replay"] and ["memory"].

    .venv/bin/python benchmarks/bench_replay.py [--days 30] [--extra-tags 500]
"""

from __future__ import annotations

import argparse
import compileall
import csv
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from common import ROOT, best_of, record  # isort: skip

from monitor.config import load_config
from monitor.core.engine import Engine
from monitor.core.results import BatchResult
from monitor.runs.demo import SimOptions, make_plant
from monitor.runs.history_file import CHUNK_ROWS, check_history, survey_history
from monitor.runs.replay import replay_file
from monitor.simulator.export import export_history

SPEC = load_config(ROOT / "config/plant.toml").line
TARGET_RATIO, TARGET_RATE = 5.0, 20e6
TARGET_PROCESS_RATIO = {30: 3.5, 365: 3.0}  # issue 20: the whole `blackmass replay` process vs the floor


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

    checked = survey_history(path)

    def run() -> None:
        out.clear()
        replay_file(path, Engine(SPEC), out.append, checked=checked)

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


FLOOR_SCRIPT = "import sys, numpy as np, polars as pl; np.nansum(pl.read_parquet(sys.argv[1])['value'].to_numpy())"
CLI = "from monitor.cli import main; raise SystemExit(main())"


def process_ratio(path: Path, runs: int = 5) -> dict[str, float]:
    """`blackmass replay` as a whole process (imports, engine, accounting, store) against the floor as a
    process (interpreter, polars, read, one numpy pass), run in turn; medians and the median pair ratio."""

    def wall(argv: list[str]) -> float:
        t = time.perf_counter()
        subprocess.run(argv, cwd=ROOT, stdout=subprocess.DEVNULL, check=True)
        return time.perf_counter() - t

    # as installed: pip compiles the bytecode at install; a checkout under PYTHONDONTWRITEBYTECODE
    # would compile the ~60 modules replay loads at every start (70 ms here), which no plant pays
    compileall.compile_dir(ROOT / "monitor", quiet=1)
    floors, replays = [], []
    for i in range(runs + 1):  # the first pair warms the file cache and is not counted
        floor = wall([sys.executable, "-c", FLOOR_SCRIPT, str(path)])
        with tempfile.TemporaryDirectory() as store:
            replay = wall([sys.executable, "-c", CLI, "replay", str(path), "--data-dir", store])
        if i:
            floors.append(floor)
            replays.append(replay)
    return {
        "floor_process_s": round(statistics.median(floors), 3),
        "replay_process_s": round(statistics.median(replays), 3),
        "ratio": round(statistics.median(r / f for r, f in zip(replays, floors, strict=True)), 2),
    }


def peak_rss_mib(path: Path) -> float:
    code = MEM_SCRIPT.format(root=str(ROOT), path=str(path), cfg=str(ROOT / "config/plant.toml"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return round(int(out[0]) / 1024, 1)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=float, default=30)
    ap.add_argument("--extra-tags", type=int, default=500)
    ap.add_argument("--process-days", default="30,365", help="plant-days replayed as a process (comma list)")
    ap.add_argument("--process-only", action="store_true", help="only the whole-process ratios")
    a = ap.parse_args()
    if not a.process_only:
        in_process(a.days, a.extra_tags)
    processes: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for days in (int(x) for x in a.process_days.split(",") if x):
            sub = Path(tmp) / f"p{days}"
            sub.mkdir()
            got = process_ratio(plant_export(sub, days))
            processes[f"{days}_days"] = got | {"target": TARGET_PROCESS_RATIO.get(days)}
    record("replay_process", processes)
    return 0


def in_process(days: float, extra_tags: int) -> None:
    """The core's replay in this process against the floor; memory against days and tags."""
    figures: dict[str, object] = {"days": days}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        plant = plant_export(d, days)
        wide = with_process_tags(plant, extra_tags)
        for label, path in (("plant_tags", plant), (f"plant_plus_{extra_tags}_tags", wide)):
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
        for mem_days in (3, 10, 30, 90):
            sub = d / f"m{mem_days}"
            sub.mkdir()
            mem[f"plant_tags_{mem_days}_days_peak_rss_mib"] = peak_rss_mib(plant_export(sub, mem_days))
        mem[f"plant_plus_{extra_tags}_tags_{days:g}_days_peak_rss_mib"] = peak_rss_mib(wide)
    plant_fig = figures["plant_tags"]
    wide_fig = figures[f"plant_plus_{extra_tags}_tags"]
    assert isinstance(plant_fig, dict) and isinstance(wide_fig, dict)
    figures["targets"] = {"ratio_to_floor": TARGET_RATIO, "samples_per_s": TARGET_RATE}
    figures["targets_held"] = {
        label: f["ratio_to_floor"] <= TARGET_RATIO and f["replay_samples_per_s"] >= TARGET_RATE
        for label, f in (("plant_tags", plant_fig), ("with_process_tags", wide_fig))
    }
    record("replay", figures)
    record("memory", mem)
    print(json.dumps(figures["targets_held"]))


if __name__ == "__main__":
    raise SystemExit(main())
