"""Reports in four formats and the HTTP API, on a store filled by the simulated plant; a real
aiohttp server on a free port; PDFs read back with poppler."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import openpyxl
import polars as pl
import pytest
from prometheus_client import CollectorRegistry

from monitor.accounting.assay_import import Accountant
from monitor.accounting.seeds import load_feed_grades
from monitor.cli import main
from monitor.config import load_config
from monitor.serve.api import add_api
from monitor.serve.http import make_app
from monitor.store.batches import BatchStore
from monitor.store.query import BatchQuery
from tests.conftest import free_port, require_tool
from tests.plant_harness import ROOT, run_plant

pytestmark = pytest.mark.integration
TOKEN = "s3cret-test-token"


@pytest.fixture(scope="module")
def plant_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("plant")
    store, truth = run_plant(d, seed=31, steps=2400, noise=True, delay_h=8)  # 40 h: 14 lots, late assays
    store.close()
    assert len(truth) >= 10
    return d


def export(d: Path, fmt: str, *extra: str) -> Path:
    out = d / f"out.{fmt}"
    assert main(["report", "--data-dir", str(d), "--format", fmt, "--out", str(out), *extra]) == 0
    return out


def test_four_formats_agree(plant_store: Path) -> None:
    d = plant_store
    csv_rows = list(csv.DictReader(export(d, "csv").open()))
    parquet = pl.read_parquet(export(d, "parquet"))
    wb = openpyxl.load_workbook(export(d, "xlsx"), read_only=True)
    assert wb.sheetnames == [
        "summary",
        "element_recovery",
        "batches",
        "stream_masses",
        "assays",
        "recoveries",
        "balance",
    ]
    xrows = list(wb["batches"].iter_rows(values_only=True))
    head = list(xrows[0])
    assert "feed (kg)" in head and "black_mass_yield (ratio)" in head  # units in headers
    xl = [dict(zip(head, r, strict=True)) for r in xrows[1:]]
    assert len(csv_rows) == parquet.height == len(xl) >= 10
    for c, p, x in zip(csv_rows, parquet.iter_rows(named=True), xl, strict=True):
        assert c["batch_id"] == p["batch_id"] == x["batch_id"]
        # CSV and XLSX state kg to 0.1 and ratios to 4 decimals; Parquet keeps full precision
        assert float(c["feed_kg"]) == round(p["feed_kg"], 1) == x["feed (kg)"]
        assert float(c["black_mass_yield"]) == x["black_mass_yield (ratio)"] == round(p["black_mass_yield"], 4)
        if c["recovery_ni"]:
            assert float(c["recovery_ni"]) == round(p["recovery_ni"], 4)
        else:
            assert p["recovery_ni"] is None and x["recovery_ni (ratio)"] is None  # unknown stays unknown
    pdftotext = require_tool("pdftotext", "poppler-utils")
    text = subprocess.run(
        [pdftotext, "-layout", str(export(d, "pdf")), "-"], capture_output=True, text=True, check=True
    ).stdout
    for c in csv_rows:
        assert c["batch_id"] in text
        # percentages to 0.1 in documents, of the full value (the CSV's is itself rounded to 4 decimals)
        y = float(c["black_mass_yield"])
        assert any(f"{(y + d) * 100:.1f}" in text for d in (-5e-5, 0.0, 5e-5))
    for section in (
        "Batch recovery report",
        "Summary",
        "Batches",
        "Mass balance",
        "Assay status",
        "Regulatory section",
        "Preprocessing contribution only",
        "2023/1542",
    ):
        assert section in text


def test_pdf_renders_with_its_charts(plant_store: Path, tmp_path: Path) -> None:
    pdftoppm = require_tool("pdftoppm", "poppler-utils")
    pdfimages = require_tool("pdfimages", "poppler-utils")
    pdf = export(plant_store, "pdf")
    images = subprocess.run([pdfimages, "-list", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert len([ln for ln in images.splitlines()[2:] if ln.strip()]) >= 2  # yield trend + recovery chart
    subprocess.run([pdftoppm, "-r", "40", "-png", str(pdf), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 4
    assert all(p.stat().st_size > 2_000 for p in pages)


def test_filters_in_reports(plant_store: Path) -> None:
    rows = list(csv.DictReader(export(plant_store, "csv").open()))
    chem = rows[0]["chemistry"]
    only = list(csv.DictReader(export(plant_store, "csv", "--chemistry", chem).open()))
    assert only and all(r["chemistry"] == chem for r in only)
    assert len(only) == sum(r["chemistry"] == chem for r in rows)
    mid = rows[len(rows) // 2]["start"]
    later = list(csv.DictReader(export(plant_store, "csv", "--from", mid.rstrip("Z")).open()))
    assert [r["batch_id"] for r in later] == [r["batch_id"] for r in rows if r["start"] >= mid]
    one = list(csv.DictReader(export(plant_store, "csv", "--batch", rows[0]["batch_id"]).open()))
    assert [r["batch_id"] for r in one] == [rows[0]["batch_id"]]


async def serve_api(d: Path, token: str | None) -> AsyncIterator[str]:
    spec = load_config(ROOT / "config/plant.toml").line
    store = BatchStore(d / "blackmass.db")
    app = make_app(CollectorRegistry(auto_describe=False), lambda: {"status": "ok"})
    add_api(app, store, Accountant(store, spec, load_feed_grades(ROOT / "seeds")), token=token)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await aiohttp.web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
        store.close()


def db_digest(d: Path) -> str:
    store = BatchStore(d / "blackmass.db")
    try:
        return hashlib.sha256(
            json.dumps([repr(r) for r in store.latest()]).encode()
            + repr(store.assays_for([r.batch_id for r in store.latest()])).encode()
        ).hexdigest()
    finally:
        store.close()


async def test_api_matches_the_reports(plant_store: Path) -> None:
    csv_rows = list(csv.DictReader(export(plant_store, "csv").open()))
    async for base in serve_api(plant_store, TOKEN):
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/api/batches") as r:
                assert r.status == 200
                body = await r.json()
            assert body["count"] == len(csv_rows)
            for a, c in zip(body["batches"], csv_rows, strict=True):
                assert a["batch_id"] == c["batch_id"]
                assert a["feed_kg"] == pytest.approx(float(c["feed_kg"]))
                assert (a["recovery_ni"] is None) == (c["recovery_ni"] == "")
            async with http.get(f"{base}/api/reports/batches.csv") as r:
                assert r.status == 200 and r.headers["Content-Type"].startswith("text/csv")
                assert list(csv.DictReader(io.StringIO(await r.text()))) == csv_rows
            for fmt, magic in (("xlsx", b"PK"), ("parquet", b"PAR1"), ("pdf", b"%PDF")):
                async with http.get(f"{base}/api/reports/batches.{fmt}") as r:
                    assert r.status == 200 and (await r.read()).startswith(magic), fmt
            chem = csv_rows[0]["chemistry"]
            async with http.get(f"{base}/api/batches", params={"chemistry": chem}) as r:
                assert {b["chemistry"] for b in (await r.json())["batches"]} == {chem}
            bid = csv_rows[0]["batch_id"]
            async with http.get(f"{base}/api/batches/{bid}") as r:
                one = await r.json()
            assert one["batch"]["batch_id"] == bid
            assert [h["version"] for h in one["history"]] == list(range(1, len(one["history"]) + 1))
            assert one["history"][0]["reason"] == "completed" and len(one["history"]) >= 2  # late assays
            assert one["detail"]["streams"][0]["stream"] == "feed"


async def test_api_errors_are_json_and_stay_inside_the_store(plant_store: Path) -> None:
    async for base in serve_api(plant_store, TOKEN):
        async with aiohttp.ClientSession() as http:
            for path, status in (
                ("/api/batches/NO-SUCH", 404),
                ("/api/batches?colour=red", 400),
                ("/api/batches?from=yesterday", 400),
                ("/api/reports/batches.exe", 404),
                ("/api/reports/../../etc/passwd", 404),
                ("/api/batches/..%2F..%2Fetc", 404),
                ("/nowhere", 404),
            ):
                async with http.get(base + path) as r:
                    assert r.status == status, path
                    body = await r.json()
                    assert set(body) == {"error", "detail"}, body
            async with http.get(f"{base}/api/batches", params={"batch": "x' OR '1'='1"}) as r:
                assert (await r.json())["count"] == 0


async def test_unauthenticated_writes_are_refused_and_change_nothing(plant_store: Path) -> None:
    before = db_digest(plant_store)
    first = next(iter(csv.DictReader(export(plant_store, "csv").open())))["batch_id"]
    good = f"batch_id,stream,element,value_pct,status\n{first},aluminium,ni,1.5,final\n"
    async for base in serve_api(plant_store, TOKEN):
        async with aiohttp.ClientSession() as http:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
                async with http.post(f"{base}/api/assays", data=good, headers=headers) as r:
                    assert r.status == 401, headers
            bad = good + f"{first},aluminium,co,lots,final\n"
            async with http.post(f"{base}/api/assays", data=bad, headers={"Authorization": f"Bearer {TOKEN}"}) as r:
                assert r.status == 400
                assert ":3" in (await r.json())["detail"]
    async for base in serve_api(plant_store, None):
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{base}/api/assays", data=good, headers={"Authorization": f"Bearer {TOKEN}"}) as r,
        ):
            assert r.status == 403
    assert db_digest(plant_store) == before


async def test_authenticated_upload_recomputes_the_batch(tmp_path: Path) -> None:
    store, _ = run_plant(tmp_path, seed=32, steps=700, noise=True, delay_h=1000)  # no assays yet
    first = store.latest()[0]
    store.close()
    assert first.assay_status == "none"
    rows = "".join(
        f"{first.batch_id},black_mass,{el},{v},final,{bag},0.4\n"
        for bag, _ in first.bags.items()
        for el, v in (("ni", 30.0), ("co", 1.7), ("li", 4.4))
    )
    body = "batch_id,stream,element,value_pct,status,bag_id,moisture_pct\n" + rows
    async for base in serve_api(tmp_path, TOKEN):
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{base}/api/assays", data=body, headers={"Authorization": f"Bearer {TOKEN}"}) as r,
        ):
            assert r.status == 200
            out = await r.json()
    assert out["rows"] == 3 * len(first.bags)
    assert out["updated"] == [{"batch_id": first.batch_id, "version": 2, "assay_status": "final"}]
    store = BatchStore(tmp_path / "blackmass.db")
    ni = store.latest(BatchQuery.lot(first.batch_id))[0].metal("ni")
    store.close()
    assert ni is not None and ni.black_mass_grade == pytest.approx(0.30)
