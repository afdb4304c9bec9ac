"""Batch reads while PDFs render: p99 of GET /api/batches idle and with 40 PDF downloads queued.

    .venv/bin/python benchmarks/bench_http_reads.py [--batches 500] [--pdfs 40]

Issue 19 asks for p99 under load <= 2x idle: reports render in their own small pool
(serve/api.py RENDER_WORKERS) so they cannot take every thread the reads need.
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


async def latencies(base: str, n: int, query: str) -> list[float]:
    out = []
    async with aiohttp.ClientSession() as http:
        for _ in range(n):
            t = time.perf_counter()
            async with http.get(f"{base}/api/batches{query}") as r:
                await r.read()
                r.raise_for_status()
            out.append(time.perf_counter() - t)
    return out


def p99(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=100)[98]


async def run(d: Path, batches: int, pdfs: int) -> dict[str, float]:
    store = generate(d, batches)
    app = make_app(CollectorRegistry(auto_describe=False), lambda: {"status": "ok"})
    add_api(app, store, None, token=None)
    port, started = free_port(), asyncio.Event()
    base = f"http://127.0.0.1:{port}"
    query = "?batch=L1-000001"  # a plant screen's typical read: one lot
    async with asyncio.TaskGroup() as tg:
        server = tg.create_task(serve(app, "127.0.0.1", port, started))
        await started.wait()

        async def pdf(http: aiohttp.ClientSession) -> None:
            async with http.get(f"{base}/api/reports/batches.pdf", timeout=aiohttp.ClientTimeout(600)) as r:
                await r.read()

        async with aiohttp.ClientSession() as http:
            await pdf(http)  # warm up: the PDF worker started, as in a service that has made one
            await latencies(base, 20, query)
            idle = await latencies(base, 200, query)
            renders = [tg.create_task(pdf(http)) for _ in range(pdfs)]
            await asyncio.sleep(0.5)  # the downloads are queued and rendering
            busy = await latencies(base, 200, query)
            still = sum(not t.done() for t in renders)
            await asyncio.gather(*renders)
        server.cancel()
    store.close()
    out = {"idle_p99_ms": p99(idle) * 1e3, "busy_p99_ms": p99(busy) * 1e3, "pdfs_in_flight_at_end": still}
    out["ratio"] = out["busy_p99_ms"] / out["idle_p99_ms"]
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, default=500)
    ap.add_argument("--pdfs", type=int, default=40)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        figures = asyncio.run(run(Path(tmp), a.batches, a.pdfs))
    print(", ".join(f"{k} {v:.1f}" for k, v in figures.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
