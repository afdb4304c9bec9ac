"""The web pages over real HTTP (aiohttp on a free localhost port) without a plant: the read token's
login, the running lot refreshing itself in chromium, and the pure parts (URL query, diff, flags)."""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import polars as pl
import pytest
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry

from monitor.core.results import BatchResult, BatchState, LiveBatch
from monitor.errors import InputError
from monitor.serve.api import add_api
from monitor.serve.http import make_app
from monitor.serve.web.flags import explain, split_flags
from monitor.serve.web.listing import LotQuery, parse_query, query_string, select
from monitor.serve.web.lotview import diff, interval, versions
from monitor.serve.web.mount import WebSettings, add_web
from monitor.store.batches import BatchStore
from tests.conftest import require_tool

TOKEN, READ = "write-token", "read-token"


async def served(tmp: Path, settings: WebSettings) -> AsyncIterator[str]:
    store = BatchStore(tmp / "blackmass.db")
    app = make_app(CollectorRegistry(auto_describe=False), lambda: {"status": "ok"})
    add_api(app, store, None, token=settings.token)
    add_web(app, store, settings)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()
        store.close()


async def csrf_of(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(url) as r:
        found = re.search(r'name="csrf" value="([^"]+)"', await r.text())
    assert found
    return found.group(1)


@pytest.mark.integration
async def test_with_a_read_token_reading_needs_a_login_and_a_read_login_cannot_write(tmp_path: Path) -> None:
    async for base in served(tmp_path, WebSettings(token=TOKEN, read_token=READ)):
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.get(f"{base}/lots/L1/x", allow_redirects=False) as r:
                assert r.status == 303 and r.headers["Location"].startswith("/login?next=/lots/L1/x")
            async with http.get(f"{base}/api/batches") as r:
                assert r.status == 401
            async with http.get(f"{base}/api/batches", headers={"Authorization": f"Bearer {READ}"}) as r:
                assert r.status == 200
            async with http.get(f"{base}/healthz") as r:
                assert r.status == 200
            csrf = await csrf_of(http, f"{base}/login")
            async with http.post(f"{base}/login", data={"csrf": csrf, "token": "wrong"}) as r:
                assert r.status == 401
            csrf = await csrf_of(http, f"{base}/login")
            async with http.post(f"{base}/login", data={"csrf": csrf, "token": READ}, allow_redirects=False) as r:
                assert r.status == 303
                cookie = r.headers["Set-Cookie"]
                assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
            async with http.get(f"{base}/") as r:
                assert r.status == 200 and "Lots" in await r.text()
                assert "script-src 'self'" in r.headers["Content-Security-Policy"]
            csrf = await csrf_of(http, f"{base}/login")  # the reading session's own token
            async with http.post(f"{base}/shipments", data={"csrf": csrf, "shipment_id": "S-1", "bag": "b"}) as r:
                assert r.status == 403  # a reading session writes nothing


@pytest.mark.integration
async def test_failed_logins_are_throttled(tmp_path: Path) -> None:
    async for base in served(tmp_path, WebSettings(token=TOKEN)):
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            statuses = []
            for _ in range(12):
                csrf = await csrf_of(http, f"{base}/login")
                async with http.post(f"{base}/login", data={"csrf": csrf, "token": "guess"}) as r:
                    statuses.append(r.status)
    assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429]


@pytest.mark.integration
async def test_the_running_lot_refreshes_itself_in_the_browser(tmp_path: Path) -> None:
    chromium = require_tool("chromium", "chromium")
    from playwright.async_api import async_playwright  # noqa: PLC0415

    feed = {"kg": 1000.0}

    def live() -> LiveBatch:
        return LiveBatch("L1-LIVE", 1.8e9, "NMC622", "packs", {"feed": feed["kg"], "black_mass": 300.0}, True)

    async for base in served(tmp_path, WebSettings(live=live, live_line="L1")):
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = await browser.new_page()
            await page.goto(base + "/")
            await page.wait_for_selector("#live-body >> text=L1-LIVE")
            assert "30.0" in await page.inner_text("#live-body")  # 300 kg of 1000 kg
            feed["kg"] = 600.0
            await page.locator("#live-body td", has_text="50.0").wait_for()  # the page's own poll brought it
            await browser.close()


def frame(rows: list[dict[str, object]]) -> pl.DataFrame:
    return pl.DataFrame(rows)


def test_the_page_query_reads_and_writes_the_url() -> None:
    q = parse_query({"chemistry": "NMC622", "supplier": "<b>", "flagged": "1", "sort": "yield", "page": "2"})
    assert (q.chemistry, q.supplier, q.flagged, q.sort, q.page, q.desc) == ("NMC622", "<b>", True, "yield", 2, True)
    assert query_string(q, page=1) == "?chemistry=NMC622&supplier=%3Cb%3E&flagged=1&sort=yield"
    assert parse_query({}) == LotQuery() and query_string(LotQuery()) == "?"
    for bad in ({"sort": "drop table"}, {"page": "0"}, {"from": "yesterday"}, {"state": "odd"}, {"flagged": "x"}):
        with pytest.raises(InputError, match=f"query '{next(iter(bad))}'"):
            parse_query(bad)


def test_select_filters_sorts_and_pages_on_top_of_the_store() -> None:
    rows = [
        {"batch_id": f"L1-{i:03}", "supplier": "A" if i % 2 else "B", "flags": "feed:reset" if i % 3 == 0 else "",
         "black_mass_yield": i / 100, "start": f"2027-01-01T{i:02}:00:00Z"}
        for i in range(1, 13)
    ]  # fmt: skip
    page, total = select(frame(rows), LotQuery(supplier="A", sort="yield", desc=False), page_size=4)
    assert total == 6 and page["batch_id"].to_list() == ["L1-001", "L1-003", "L1-005", "L1-007"]
    page, total = select(frame(rows), LotQuery(flagged=True, page=2), page_size=3)
    assert total == 4 and page["batch_id"].to_list() == ["L1-003"]  # newest first: 12, 9, 6 | 3


def result(version: int, ni: float, status: str) -> BatchResult:
    return BatchResult("L1", "L1-1", 0.0, 3600.0, BatchState.COMPLETE, version=version, assay_status=status,
                       yields={"black_mass": 0.33}, closure=0.99 if version == 1 else ni)  # fmt: skip


def test_a_version_diff_shows_the_numbers_that_moved_and_nothing_else() -> None:
    views = versions([(result(1, 0.99, "none"), "completed", 0.0), (result(2, 0.97, "final"), "assays", 60.0)])
    assert [v.version for v in views] == [2, 1] and views[1].changes == ()
    moved = {c.field: (c.before, c.after) for c in views[0].changes}
    assert moved == {"closure": (0.99, 0.97), "assay_status": ("none", "final")}
    assert diff({"x": float("nan")}, {"x": float("nan")}) == ()
    lo, hi = interval(0.33, 0.01) or (0, 0)
    assert math.isclose(lo, 0.33 - 0.0196, abs_tol=1e-4) and math.isclose(hi, 0.33 + 0.0196, abs_tol=1e-4)
    assert interval(0.33, float("nan")) is None


def test_flags_get_a_short_label_and_their_meaning() -> None:
    reset = explain("feed:reset")
    assert (
        reset.label == "feed:reset"
        and reset.means.startswith("feed: the counter was reset")
        and reset.anchor == "reset"
    )
    assert explain("abandoned").label == "aband"
    assert explain("something_new").means.endswith("not described here yet")
    assert [f.flag for f in split_flags("abandoned;feed:reset")] == ["abandoned", "feed:reset"]
    assert split_flags(None) == [] and split_flags("") == []


def test_a_login_only_ever_sends_the_browser_to_a_path_here() -> None:
    from monitor.serve.web.writes import local_target  # noqa: PLC0415 - the one rule, tested alone

    assert local_target("/lots/L1/x?page=2") == "/lots/L1/x?page=2"
    for elsewhere in ("//evil.example", "/\\evil.example", "https://evil.example", "/a\r\nSet-Cookie: x", ""):
        assert local_target(elsewhere) == "/"


def test_a_page_filters_the_lots_in_memory_exactly_as_the_store_would(tmp_path: Path) -> None:
    from dataclasses import replace  # noqa: PLC0415

    from monitor.core.results import BatchState as S  # noqa: PLC0415
    from monitor.reports.exports import load_batches  # noqa: PLC0415
    from monitor.serve.web.listing import rows_of  # noqa: PLC0415
    from monitor.store.query import EVERY, BatchQuery  # noqa: PLC0415
    from tests.plant_harness import run_plant  # noqa: PLC0415

    store, _ = run_plant(tmp_path, seed=33, steps=900, noise=True, delay_h=2)  # complete and assayed lots
    lots = store.latest()
    store.save(replace(lots[0], batch_id="P-1", state=S.PARTIAL, line="L2"))
    store.save(replace(lots[1], batch_id="P-2", line="L2", chemistry="LFP"))
    every = load_batches(store, EVERY)
    starts = sorted(r.start for r in store.latest())
    middle = float(int(starts[len(starts) // 2]))
    queries = [
        BatchQuery(),
        EVERY,
        BatchQuery(lines=("L2",), include_partial=True),
        BatchQuery(lines=()),
        BatchQuery(chemistry=lots[2].chemistry),
        BatchQuery(feed_form=lots[3].feed_form, include_partial=True),
        BatchQuery(state=S.PARTIAL),
        BatchQuery(state=S.ASSAYED),
        BatchQuery(start_from=middle),
        BatchQuery(start_to=middle, include_partial=True),
        BatchQuery(start_from=starts[1], start_to=starts[-1]),
        BatchQuery.lot("P-2", "L2"),
    ]
    for q in queries:
        assert rows_of(every, q).equals(load_batches(store, q)), q
    assert {rows_of(every, q).height for q in queries} >= {0, 1, every.height}  # the filters cut
    store.close()


def test_a_flood_of_anonymous_visits_logs_no_writer_out(monkeypatch: pytest.MonkeyPatch) -> None:
    from monitor.serve.web import session  # noqa: PLC0415

    monkeypatch.setattr(session, "MAX_SESSIONS", 50)
    table = session.Sessions(TOKEN, None)
    writer = table.start(can_read=True, can_write=True)
    anonymous = [table.start(can_read=True, can_write=False) for _ in range(500)]
    assert len(table.by_id) == 50 and writer.sid in table.by_id
    assert anonymous[-1].sid in table.by_id and anonymous[0].sid not in table.by_id


@pytest.mark.integration
async def test_recent_imports_on_the_assays_page_come_from_the_store(tmp_path: Path) -> None:
    from monitor.core.assays import Assay  # noqa: PLC0415

    async for base in served(tmp_path, WebSettings(token=TOKEN)):
        other = BatchStore(tmp_path / "blackmass.db")  # the inbox or `assays import`: another door, another process
        for n, when in ((1, 1_796_000_000.0), (2, 1_796_003_600.0)):
            rows = [
                Assay(f"L1-{n}", "black_mass", el, 10.0 + i, "final", f"S{n}", "", "LAB", "ICP", None)
                for i, el in enumerate(("ni", "co", "li"))
            ]
            assert other.import_assays(rows[: n + 1], f"lims-{n}.csv", f"sha-{n}", now=when) == n + 1
        other.close()
        async with aiohttp.ClientSession() as http, http.get(f"{base}/assays") as r:
            html = await r.text()
        table = html[html.index('id="recent-imports"') :]
        cells = re.findall(r"<t[dh][^>]*>([^<]*)</t[dh]>", table.split("</table>")[0])
        assert cells[3:] == [  # newest first, with their outcome
            "2026-11-30T01:53:20Z",
            "lims-2.csv",
            "imported: 3 rows",
            "2026-11-30T00:53:20Z",
            "lims-1.csv",
            "imported: 2 rows",
        ]


def test_recent_imports_merge_the_store_files_and_the_refused_uploads_newest_first() -> None:
    from monitor.serve.web.context import ImportOutcome  # noqa: PLC0415
    from monitor.serve.web.writes import recent_imports  # noqa: PLC0415
    from monitor.store.sql import ImportedFile  # noqa: PLC0415

    stored = [ImportedFile("b.csv", "h2", 7, 1_796_003_600.0), ImportedFile("a.csv", "h1", 3, 1_796_000_000.0)]
    refused = ImportOutcome("2026-11-30T01:00:00Z", "bad.csv", False, "bad.csv:4: value_pct")
    got = [(i.name, i.ok, i.detail) for i in recent_imports(stored, [refused])]
    assert got == [("b.csv", True, "7 rows"), ("bad.csv", False, "bad.csv:4: value_pct"), ("a.csv", True, "3 rows")]
