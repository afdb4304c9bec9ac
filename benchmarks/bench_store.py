"""The shared PostgreSQL store against the embedded SQLite one, measured in one run on one machine.

    .venv/bin/python benchmarks/bench_store.py [--batches 30000] [--days 30] [--lines 4]

1. A 30,000-batch store (generated as in bench_reports) in SQLite, copied to PostgreSQL with
   `store migrate`'s code: report export (CSV, XLSX) from each, and GET /api/batches for one month
   (p99 of 200 requests over different months) on each.
2. `--lines` simulated lines, `--days` plant-days each: every history replayed into its own SQLite
   back to back, then all replayed at once into one PostgreSQL (one process per line). Nothing may
   be lost or doubled: the PostgreSQL versions per line equal SQLite's.
Writes its figures into benchmarks/results.json under "store". Needs the PostgreSQL server
(Debian package postgresql); the cluster is a throw-away one, as in the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from common import CACHE, ROOT, record  # isort: skip

from aiohttp import web
from bench_reports import generate

from monitor.reports.exports import load, render
from monitor.serve.api import add_api
from monitor.store.migrate import migrate
from monitor.store.query import BatchQuery
from monitor.store.sql import Store
from monitor.store.url import open_store
from tests.pg import Cluster, server_bin

BLACKMASS = str(ROOT / ".venv/bin/blackmass")
MONTH_S = 30 * 86_400.0


def export_s(store: Store, fmt: str) -> float:
    t = time.perf_counter()
    render(store, load(store, BatchQuery(), fmt), fmt)
    return time.perf_counter() - t


def api_p99_ms(store: Store, n: int = 200) -> tuple[float, float]:
    """p99 latency of GET /api/batches?from=&to= for one month, over a real socket."""
    loop = asyncio.new_event_loop()
    app = web.Application()
    add_api(app, store, None, token=None)
    runner = web.AppRunner(app, access_log=None)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    threading.Thread(target=loop.run_forever, daemon=True).start()
    first = min(r.start for r in store.latest()[:1])
    times, sizes = [], []
    try:
        for k in range(n):
            lo = first + (k % 100) * MONTH_S
            url = f"http://127.0.0.1:{port}/api/batches?from={_iso(lo)}&to={_iso(lo + MONTH_S)}"
            t = time.perf_counter()
            with urllib.request.urlopen(url, timeout=30) as r:
                sizes.append(json.loads(r.read())["count"])
            times.append(time.perf_counter() - t)
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
    return statistics.quantiles(times, n=100)[98] * 1000, statistics.mean(sizes)


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts))


def reports_part(d: Path, cluster: Cluster, batches: int) -> dict[str, object]:
    t = time.perf_counter()
    cached = CACHE / f"store-{batches}.db"
    if cached.exists():  # the store bench_reports generated in this `make bench`
        shutil.copyfile(cached, d / "blackmass.db")
        sqlite = open_store(f"sqlite:///{d / 'blackmass.db'}")
    else:
        sqlite = generate(d, batches)
    print(f"{'copied' if cached.exists() else 'generated'} {batches} batches in {time.perf_counter() - t:.1f} s")
    pg = open_store(cluster.new_database())
    t = time.perf_counter()
    checks = migrate(sqlite, pg)
    out: dict[str, object] = {"batches": batches, "migrate_s": round(time.perf_counter() - t, 1)}
    out["migrate_rows"] = sum(c.rows for c in checks)
    for name, store in (("sqlite", sqlite), ("postgresql", pg)):
        for fmt in ("csv", "xlsx"):
            out[f"{fmt}_export_{name}_s"] = round(min(export_s(store, fmt) for _ in range(2 if fmt == "csv" else 1)), 2)
        p99, batches_per_month = api_p99_ms(store)
        out[f"api_month_p99_{name}_ms"] = round(p99, 1)
        out["api_month_mean_batches"] = round(batches_per_month)
        print(name, {k: v for k, v in out.items() if name in k}, flush=True)
    for fmt in ("csv", "xlsx"):
        out[f"{fmt}_export_ratio"] = round(out[f"{fmt}_export_postgresql_s"] / out[f"{fmt}_export_sqlite_s"], 2)  # type: ignore[operator]
    sqlite.close()
    pg.close()
    return out


def replay_part(d: Path, cluster: Cluster, lines: int, days: float) -> dict[str, object]:
    names = [f"L{k + 1}" for k in range(lines)]
    for k, line in enumerate(names):
        args = ["--days", str(days), "--no-noise", "--seed", str(60 + k), "--line", line]
        subprocess.run(
            [BLACKMASS, "simulate", "--export-history", str(d / f"{line}.parquet"), *args, "--data-dir", str(d / "t")],
            check=True,
            capture_output=True,
        )
    t = time.perf_counter()
    for line in names:
        subprocess.run(
            [BLACKMASS, "replay", str(d / f"{line}.parquet"), "--data-dir", str(d / f"sq-{line}")],
            check=True,
            capture_output=True,
        )
    back_to_back = time.perf_counter() - t
    url = cluster.new_database()
    open_store(url).close()  # schema in place: the timing is the writers', not the first open's
    t = time.perf_counter()
    procs = [
        subprocess.Popen(
            [BLACKMASS, "replay", str(d / f"{line}.parquet"), "--data-dir", str(d / f"pg-{line}"), "--store", url],
            stdout=subprocess.DEVNULL,
        )
        for line in names
    ]
    assert all(p.wait() == 0 for p in procs), "a PostgreSQL replay failed"
    concurrent = time.perf_counter() - t
    pg = open_store(url)
    equal = True
    for line in names:
        sq = open_store(f"sqlite:///{d / f'sq-{line}' / 'blackmass.db'}")
        equal &= [(p.batch) for p in sq.report_texts()] == [
            p.batch for p in pg.report_texts(BatchQuery.line(line, include_partial=False))
        ]
        sq.close()
    pg.close()
    return {
        "lines": lines,
        "plant_days_each": days,
        "sqlite_back_to_back_s": round(back_to_back, 1),
        "postgresql_concurrent_s": round(concurrent, 1),
        "concurrent_ratio": round(concurrent / back_to_back, 2),
        "reports_equal_nothing_lost_or_doubled": equal,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, default=30_000)
    ap.add_argument("--days", type=float, default=30.0)
    ap.add_argument("--lines", type=int, default=4)
    a = ap.parse_args()
    bin_dir = server_bin()
    if bin_dir is None:
        print("PostgreSQL server not installed (Debian package postgresql); skipped")
        return 1
    cluster = Cluster(bin_dir)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            figures = replay_part(Path(tmp), cluster, a.lines, a.days)
            print(figures, flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            figures.update(reports_part(Path(tmp), cluster, a.batches))
    finally:
        cluster.stop()
    figures["targets"] = {"export_ratio": 1.5, "api_month_p99_ms": 50.0, "concurrent_ratio": 1.5}
    record("store", figures)
    ok = (
        max(figures["csv_export_ratio"], figures["xlsx_export_ratio"]) <= 1.5  # noqa: PLR2004 - type: ignore[type-var]
        and max(figures["api_month_p99_sqlite_ms"], figures["api_month_p99_postgresql_ms"]) <= 50  # noqa: PLR2004 - type: ignore[type-var]
        and figures["concurrent_ratio"] <= 1.5  # noqa: PLR2004 - type: ignore[operator]
        and figures["reports_equal_nothing_lost_or_doubled"]
    )
    print("targets held" if ok else "a target did not hold (see docs/deployment.md)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
