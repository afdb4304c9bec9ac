"""Start-up of the `blackmass` command as a whole process: `--help` and `check-config` against a bare
interpreter (`python -c pass`), run in turn, median of N. Writes benchmarks/results.json["startup"].

    .venv/bin/python benchmarks/bench_startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from common import ROOT, record  # isort: skip

TARGET_S = 0.3  # issue 20: every command starts (parses, loads its config) within this
CLI = "from monitor.cli import main; raise SystemExit(main())"
COMMANDS = {
    "python_bare": [sys.executable, "-c", "pass"],
    "blackmass_help": [sys.executable, "-c", CLI, "--help"],
    "blackmass_check_config": [sys.executable, "-c", CLI, "check-config", str(ROOT / "config/plant.toml")],
}


def wall_s(argv: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    a = ap.parse_args()
    for argv in COMMANDS.values():
        wall_s(argv)  # warm the file cache
    times: dict[str, list[float]] = {k: [] for k in COMMANDS}
    for _ in range(a.runs):  # in turn, so a drift of the machine's speed touches all alike
        for k, argv in COMMANDS.items():
            times[k].append(wall_s(argv))
    figures: dict[str, object] = {f"{k}_median_s": round(statistics.median(v), 3) for k, v in times.items()}
    figures["runs"] = a.runs
    figures["target_s"] = TARGET_S
    figures["targets_held"] = all(statistics.median(times[k]) <= TARGET_S for k in COMMANDS if k != "python_bare")
    record("startup", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
