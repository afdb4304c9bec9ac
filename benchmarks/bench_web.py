"""The web pages' server time on a 30,000-lot store: the lots page's first screen, a filtered page,
a lot page, and what the running lot's refresh costs (issue 24), on SQLite and (with --pg) PostgreSQL.

    .venv/bin/python benchmarks/bench_web.py [--batches 30000] [--requests 60] [--pg]

Server time: from the request's arrival to its answer being ready, taken by a middleware; each
page asked `--requests` times in a row after one untimed ask. The pages keep every lot's rows in
memory and re-read them in the background (serve/web/context.py Listing): "warm" is that steady
state, "cold" empties the rows before each ask (as after a start, or an upload on the pages: the
page is asked of the store's SQL while a background read fills the memory again; the bench waits
for that read to end before the next ask), "start" begins each ask with nothing in memory, the
filters' choices neither (as the first page after a start), so every figure shows.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bench_reports import generate  # isort: skip
from common import CACHE, record  # isort: skip
from prometheus_client import CollectorRegistry

from monitor.core.results import LiveBatch
from monitor.serve.api import add_api
from monitor.serve.http import make_app, serve
from monitor.serve.web.context import Listing
from monitor.serve.web.mount import WebSettings, add_web
from monitor.store.sql import Store
from monitor.store.url import open_store
from tests.conftest import free_port

LIVE_EVERY_S = 5.0  # static/live.js polls /live this often


def p95_ms(xs: list[float]) -> float:
    return round(statistics.quantiles(xs, n=20)[18] * 1000, 1)


async def measure(store: Store, n: int) -> dict[str, float]:
    times: dict[str, list[float]] = {}

    @web.middleware
    async def timed(req: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
        t = time.perf_counter()
        resp: web.StreamResponse = await handler(req)
        times.setdefault(req.path_qs, []).append(time.perf_counter() - t)
        return resp

    live = LiveBatch("L1-LIVE", 1.8e9, "NMC622", "packs", {"feed": 2000.0, "black_mass": 640.0}, True)
    app = make_app(CollectorRegistry(auto_describe=False), lambda: {"status": "ok"})
    app.middlewares.insert(0, timed)
    add_api(app, store, None, token=None)
    w = add_web(app, store, WebSettings(live=lambda: live, live_line="L1"))
    port, started = free_port(), asyncio.Event()
    base = f"http://127.0.0.1:{port}"
    lot = "L1-012345"  # a lot in the middle of the store
    pages = {
        "lots_first_screen": "/",
        "lots_filtered": "/?chemistry=NMC622&feed_form=packs&sort=yield&page=3",
        "lot_page": f"/lots/L1/{lot}",
        "live_refresh": "/live",
    }
    out: dict[str, float] = {}
    async with asyncio.TaskGroup() as tg:
        server = tg.create_task(serve(app, "127.0.0.1", port, started))
        await started.wait()
        async with aiohttp.ClientSession() as http:
            for path in pages.values():  # the start-up read done, each page once: steady state
                async with http.get(base + path) as r:
                    r.raise_for_status()
            for name, path in pages.items():
                for mode in ("warm", "cold", "start") if name.startswith("lots") else ("warm",):
                    times.clear()
                    await asyncio.to_thread(w.listing.settle)  # no background read left from the last page
                    for _ in range(n):
                        await asyncio.to_thread(w.listing.settle)  # the last ask's background read done
                        if mode == "cold":  # the rows forgotten (a write on the pages): from the store
                            w.listing.forget()
                        elif mode == "start":  # nothing known, the filters' choices neither (a start)
                            w.listing = Listing(store)
                        async with http.get(base + path) as r:
                            r.raise_for_status()
                            await r.read()
                    key = f"{name}_{mode}" if name.startswith("lots") else name
                    out[f"{key}_p95_ms"] = p95_ms(times[path])
        server.cancel()
    out["live_refresh_core_pct"] = round(out["live_refresh_p95_ms"] / 1000 / LIVE_EVERY_S * 100, 3)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, default=30_000)
    ap.add_argument("--requests", type=int, default=60)
    ap.add_argument("--pg", action="store_true", help="also on PostgreSQL (a throw-away cluster)")
    a = ap.parse_args()
    figures: dict[str, object] = {"batches": a.batches, "requests": a.requests}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        cached = CACHE / f"store-{a.batches}.db"
        if cached.exists():
            shutil.copyfile(cached, d / "blackmass.db")
        else:
            generate(d, a.batches).close()
            CACHE.mkdir(exist_ok=True)
            shutil.copyfile(d / "blackmass.db", cached)
        stores = [("sqlite", f"sqlite:///{d / 'blackmass.db'}")]
        cluster = None
        if a.pg:
            from monitor.store.migrate import migrate  # noqa: PLC0415
            from tests.pg import Cluster, server_bin  # noqa: PLC0415

            cluster = Cluster(server_bin())  # type: ignore[arg-type]
            url = cluster.new_database()
            with open_store(stores[0][1]) as src, open_store(url) as dst:
                migrate(src, dst)
            stores.append(("postgresql", url))
        try:
            for name, url in stores:
                with open_store(url) as store:
                    for k, v in asyncio.run(measure(store, a.requests)).items():
                        figures[f"{name}_{k}"] = v
        finally:
            if cluster is not None:
                cluster.stop()
    record("web_pages", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
