"""Issue 19's bar measured side by side: two `blackmass serve` processes on one store, 40 PDFs queued
at one of them, GET /api/batches sent to each in turn; p99 of the busy server against the idle one.

    .venv/bin/python benchmarks/bench_http_paired.py [--batches 500] [--pdfs 40] [--seconds 8]

bench_http_reads.py measures idle, then busy, in one process. On a shared machine the neighbours'
load moves between those phases, and at sub-millisecond reads that is what its ratio shows (with no
PDFs at all it spread 0.14-15x here). Taking the two servers' reads in turn puts the same
neighbours under both, so the ratio is what the renders cost the server's reads; `--pdfs 0` is the
control (it should read about 1).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench_http_reads import p99  # isort: skip
from bench_reports import generate  # isort: skip
from common import ROOT  # isort: skip

from tests.conftest import free_port

CLI = "from monitor.cli import main; raise SystemExit(main())"


async def _up(http: aiohttp.ClientSession, base: str, within_s: float = 60.0) -> None:
    end = time.monotonic() + within_s
    while True:
        try:
            async with http.get(f"{base}/healthz") as r:
                if r.status == 200:  # noqa: PLR2004
                    return
        except aiohttp.ClientError:
            if time.monotonic() > end:
                raise
        await asyncio.sleep(0.1)


async def measure(ports: tuple[int, int], pdfs: int, seconds: float, lots: int) -> dict[str, float]:
    idle, busy = (f"http://127.0.0.1:{p}" for p in ports)
    kinds = {"one_lot": ["?batch=L1-000001"], "each_lot": [f"?batch=L1-{k:06d}" for k in range(1, lots + 1)]}
    out: dict[str, float] = {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(900)) as http:
        for base in (idle, busy):
            await _up(http, base)
            async with http.get(f"{base}/api/reports/batches.pdf") as r:  # the PDF worker started
                await r.read()
            for queries in kinds.values():
                for q in queries:
                    async with http.get(f"{base}/api/batches{q}") as r:
                        await r.read()

        async def pdf() -> None:
            async with http.get(f"{busy}/api/reports/batches.pdf") as r:
                await r.read()

        async with asyncio.TaskGroup() as tg:
            renders = [tg.create_task(pdf()) for _ in range(pdfs)]
            await asyncio.sleep(0.5 if pdfs else 0.0)
            for kind, queries in kinds.items():
                lat: dict[str, list[float]] = {idle: [], busy: []}
                end, i = time.perf_counter() + seconds, 0
                while time.perf_counter() < end:
                    for base in (idle, busy) if i % 2 else (busy, idle):  # neither always goes first
                        t = time.perf_counter()
                        async with http.get(f"{base}/api/batches{queries[i % len(queries)]}") as r:
                            await r.read()
                            r.raise_for_status()
                        lat[base].append(time.perf_counter() - t)
                    i += 1
                out[f"{kind}_reads"] = i
                out[f"{kind}_idle_p99_ms"] = p99(lat[idle]) * 1e3
                out[f"{kind}_busy_p99_ms"] = p99(lat[busy]) * 1e3
                out[f"{kind}_ratio"] = out[f"{kind}_busy_p99_ms"] / out[f"{kind}_idle_p99_ms"]
            out["pdfs_done"] = sum(r.done() for r in renders)
            for r in renders:  # the rest are not waited for: the figures are taken
                r.cancel()
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, default=500)
    ap.add_argument("--pdfs", type=int, default=40)
    ap.add_argument("--seconds", type=float, default=8.0, help="per kind of read")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp), a.batches).close()
        ports = free_port(), free_port()
        cmd = [sys.executable, "-c", CLI, "serve", "--store", f"sqlite:///{Path(tmp) / 'blackmass.db'}", "--port"]
        servers = [  # each in its own process group: its PDF worker goes with it (serve, ended by a
            # signal, leaves the worker behind)
            subprocess.Popen(
                [*cmd, str(p)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
            )
            for p in ports
        ]
        try:
            figures = asyncio.run(measure(ports, a.pdfs, a.seconds, a.batches))
        finally:
            for server in servers:
                os.killpg(server.pid, signal.SIGTERM)
                server.wait(30)
    print(", ".join(f"{k} {v:.2f}" for k, v in figures.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
