"""Batch reads while PDFs render: p99 of GET /api/batches idle and with 40 PDF downloads queued.

    .venv/bin/python benchmarks/bench_http_reads.py [--batches 500] [--pdfs 40] [--reads 600] [--seconds 4]

Issue 19 asks for p99 under load <= 2x idle: reports render in their own small pool
(serve/api.py RENDER_WORKERS), PDFs in a worker process, so they cannot take what the reads need.
Two kinds of read, each idle then busy: one lot polled again and again (a plant screen: the answer
kept while the store is unchanged) and every lot in turn (more lots than answers kept: the store is
read each time; each row's JSON is kept from the warm-up, as a lot read before).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp

from bench_reports import generate  # isort: skip
from prometheus_client import CollectorRegistry

from monitor.serve.api import add_api
from monitor.serve.http import make_app, serve
from tests.conftest import free_port


async def latencies(base: str, n: int, queries: list[str], seconds: float = 0.0) -> list[float]:
    """At least n reads, and for at least `seconds`: a busy phase spans several PDF renders."""
    out = []
    end = time.perf_counter() + seconds
    async with aiohttp.ClientSession() as http:
        i = 0
        while i < n or time.perf_counter() < end:
            i += 1
            t = time.perf_counter()
            async with http.get(f"{base}/api/batches{queries[i % len(queries)]}") as r:
                await r.read()
                r.raise_for_status()
            out.append(time.perf_counter() - t)
    return out


def p99(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=100)[98]


async def run(d: Path, batches: int, pdfs: int, reads: int, seconds: float) -> dict[str, float]:
    store = generate(d, batches)
    app = make_app(CollectorRegistry(auto_describe=False), lambda: {"status": "ok"})
    add_api(app, store, None, token=None)
    port, started = free_port(), asyncio.Event()
    base = f"http://127.0.0.1:{port}"
    kinds = {  # every lot in turn: more lots than the read cache keeps, so each read misses
        "one_lot": ["?batch=L1-000001"],
        "each_lot": [f"?batch=L1-{k:06d}" for k in range(1, batches + 1)],
    }
    out: dict[str, float] = {}
    async with asyncio.TaskGroup() as tg:
        server = tg.create_task(serve(app, "127.0.0.1", port, started))
        await started.wait()

        async def pdf(http: aiohttp.ClientSession) -> None:
            async with http.get(f"{base}/api/reports/batches.pdf", timeout=aiohttp.ClientTimeout(900)) as r:
                await r.read()

        async with aiohttp.ClientSession() as http:
            await pdf(http)  # warm up: the PDF worker started, as in a service that has made one
            for queries in kinds.values():  # every lot once: idle and busy both read lots read before
                await latencies(base, max(20, len(queries)), queries)
            idle = {kind: await latencies(base, reads, queries, seconds) for kind, queries in kinds.items()}
            renders = [tg.create_task(pdf(http)) for _ in range(pdfs)]
            await asyncio.sleep(0.5)  # the downloads are queued and rendering
            t = time.perf_counter()
            busy = {kind: await latencies(base, reads, queries, seconds) for kind, queries in kinds.items()}
            out["busy_window_s"] = time.perf_counter() - t
            out["pdfs_done_in_window"] = sum(r.done() for r in renders)
            for r in renders:  # the rest are not waited for: the figures are taken
                r.cancel()
            await asyncio.gather(*renders, return_exceptions=True)
        server.cancel()
    store.close()
    for kind in kinds:
        out[f"{kind}_busy_reads"] = len(busy[kind])
        out[f"{kind}_idle_p99_ms"] = p99(idle[kind]) * 1e3
        out[f"{kind}_busy_p99_ms"] = p99(busy[kind]) * 1e3
        out[f"{kind}_ratio"] = out[f"{kind}_busy_p99_ms"] / out[f"{kind}_idle_p99_ms"]
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, default=500)
    ap.add_argument("--pdfs", type=int, default=40)
    ap.add_argument("--reads", type=int, default=600, help="at least this many reads of each kind, idle and busy")
    ap.add_argument("--seconds", type=float, default=4.0, help="and for at least this long")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        figures = asyncio.run(run(Path(tmp), a.batches, a.pdfs, a.reads, a.seconds))
    print(", ".join(f"{k} {v:.2f}" for k, v in figures.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
