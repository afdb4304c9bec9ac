"""One recovery per element per report: summary, regulatory table, XLSX and API agree to the digit.

Three lots: two assayed, one without assays (its element in is known from declared grades, its
element recovered is not). The unassayed lot is out of numerator and denominator everywhere.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import subprocess
import urllib.request
from dataclasses import replace
from pathlib import Path

import aiohttp.web
import polars as pl
import pytest
from openpyxl import load_workbook
from prometheus_client import CollectorRegistry

from monitor.core.metals import ElementAccount
from monitor.core.results import BatchResult
from monitor.reports.exports import Report, render
from monitor.reports.recovery import element_table
from monitor.serve.api import add_api
from monitor.serve.http import make_app
from monitor.store.batches import BatchStore
from monitor.store.query import BatchQuery
from monitor.store.rows import frames
from tests.conftest import free_port, require_tool
from tests.test_store import result

NAN = float("nan")
# element -> (feed kg, black mass kg, copper kg) per assayed lot
LOTS = {
    "L1-00001": {
        "li": (40.0, 36.0, 0.5),
        "ni": (300.0, 290.0, 3.0),
        "co": (100.0, 97.0, 1.0),
        "cu": (200.0, 20.0, 170.0),
    },
    "L1-00002": {
        "li": (50.0, 43.0, 0.5),
        "ni": (310.0, 295.0, 3.0),
        "co": (90.0, 86.0, 1.0),
        "cu": (210.0, 25.0, 180.0),
    },
}
UNASSAYED = {"li": 60.0, "ni": 320.0, "co": 95.0, "cu": 220.0}  # declared grades: in known, out unknown


def _account(el: str, fin: float, bm: float, cu: float, status: str) -> ElementAccount:
    stream_kg = {} if status == "none" else {"black_mass": bm, "copper": cu}
    return ElementAccount(
        element=el,
        feed_grade=0.01,
        feed_grade_source="declared",
        feed_kg=fin,
        black_mass_grade=NAN if status == "none" else 0.02,
        black_mass_kg=bm,
        recovery=bm / fin if status != "none" else NAN,
        status=status,
        stream_kg=stream_kg,
    )


def lots() -> list[BatchResult]:
    out = []
    for k, (bid, els) in enumerate(LOTS.items()):
        metals = tuple(_account(el, *v, "final") for el, v in els.items())
        out.append(replace(result(bid, start=1000.0 + 4000 * k), metals=metals, assay_status="final"))
    metals = tuple(_account(el, fin, NAN, NAN, "none") for el, fin in UNASSAYED.items())
    out.append(replace(result("L1-00003", start=9000.0), metals=metals, assay_status="none"))
    return out


def expected(el: str, stream: int) -> float:
    return sum(v[el][stream] for v in LOTS.values()) / sum(v[el][0] for v in LOTS.values())


def test_the_unassayed_lot_is_out_of_both_sides_and_cu_goes_to_copper() -> None:
    table = {r["element"]: r for r in element_table(frames(lots())[0]).iter_rows(named=True)}
    assert table["li"]["recovery"] == pytest.approx(79 / 90)  # not 79 / 150: the unassayed Li is not "in"
    assert table["li"]["lots_counted"] == 2 and table["li"]["lots_without_assays"] == 1
    assert table["li"]["feed_kg"] == pytest.approx(90.0)
    assert table["cu"]["product_stream"] == "copper"
    assert table["cu"]["recovery"] == pytest.approx(350 / 410)  # into the copper fraction, not black mass
    assert table["co"]["target_2031"] == 0.95 and table["fe"]["target_2027"] is None


def _pdf_text(pdf: bytes, tmp: Path) -> list[str]:
    pdftotext = require_tool("pdftotext", "poppler-utils")
    (tmp / "r.pdf").write_bytes(pdf)
    text = subprocess.run([pdftotext, "-layout", str(tmp / "r.pdf"), "-"], capture_output=True, text=True, check=True)
    return text.stdout.split("\f")


class NoAssays:
    def assay_sheets(self, ids: list[str]) -> list[str]:
        return []


def test_summary_regulatory_table_xlsx_and_api_agree_to_the_digit(tmp_path: Path) -> None:
    batches, streams, recoveries = frames(lots())
    report = Report(batches, streams, recoveries)
    q = BatchQuery(lines=("L1",))
    pages = _pdf_text(render(NoAssays(), report, "pdf", q=q, plant="Test plant"), tmp_path)  # type: ignore[arg-type]
    text = "\f".join(pages)
    li, ni, co = (f"{expected(el, 1) * 100:.1f}" for el in ("li", "ni", "co"))
    cu = f"{expected('cu', 2) * 100:.1f}"
    summary = text[text.index("Summary") : text.index("Batches")]
    kpi = re.search(r"\n\s*3\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+(\S+)\s+(\S+)\s+(\S+)\s+(\d+)\s", summary)
    assert kpi is not None, summary
    assert kpi.groups() == (ni, co, li, "1")  # Ni, Co, Li recovery and "lots without assays"
    regulatory = text[text.index("Regulatory section") :]
    rows = {
        m[0]: m[1:]
        for m in re.findall(
            r"\n\s*(Co|Ni|Li|Cu)\s+(black mass|copper fraction)\s+[\d,.]+\s+[\d,.]+\s+([\d.]+)\s+(\d)\s+(\d)",
            regulatory,
        )
    }
    assert rows["Li"] == ("black mass", li, "2", "1") and rows["Ni"][1] == ni and rows["Co"][1] == co
    assert rows["Cu"] == ("copper fraction", cu, "2", "1")
    assert all("Test plant" in p and "line L1" in p for p in pages if p.strip())  # on every page

    book = load_workbook(io.BytesIO(render(NoAssays(), report, "xlsx")))  # type: ignore[arg-type]
    sheet = list(book["element_recovery"].iter_rows(values_only=True))
    x = {r[0]: dict(zip(sheet[0], r, strict=True)) for r in sheet[1:]}
    assert x["li"]["recovery (ratio)"] == round(expected("li", 1), 4) and x["li"]["lots_without_assays"] == 1
    assert x["cu"]["recovery (ratio)"] == round(expected("cu", 2), 4)
    summary_sheet = list(book["summary"].iter_rows(values_only=True))
    assert dict(zip(summary_sheet[0], summary_sheet[1], strict=True))["recovery_li (ratio)"] == round(
        expected("li", 1), 4
    )

    store = BatchStore(tmp_path / "blackmass.db")
    for r in lots():
        store.save(r)
    api = asyncio.run(_get(store, "/api/recoveries?line=L1"))
    a = {e["element"]: e for e in api["elements"]}
    assert a["li"]["recovery"] == round(expected("li", 1), 4) and a["li"]["lots_without_assays"] == 1
    assert a["cu"]["recovery"] == x["cu"]["recovery (ratio)"]
    assert f"{a['li']['recovery'] * 100:.1f}" == li
    detail = asyncio.run(_get(store, "/api/batches/L1-00001"))
    iso = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
    assert iso.fullmatch(detail["detail"]["start"]) and iso.fullmatch(detail["batch"]["end"])  # type: ignore[index]
    assert iso.fullmatch(detail["history"][0]["recorded_at"])  # type: ignore[index]
    assert all(iso.fullmatch(s["window_start"]) for s in detail["detail"]["streams"])  # type: ignore[index]
    store.close()


async def _get(store: BatchStore, path: str) -> dict[str, object]:
    app = make_app(CollectorRegistry(auto_describe=False), lambda: {"status": "ok"})
    add_api(app, store, None, token=None)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await aiohttp.web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        url = f"http://127.0.0.1:{port}{path}"
        body = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=10).read())
        return json.loads(body)  # type: ignore[no-any-return]
    finally:
        await runner.cleanup()


def _filled(png: Path) -> float:
    """How far down the page content reaches (0–1), the footer band left out."""
    from PIL import Image  # noqa: PLC0415 - pillow comes with matplotlib

    img = Image.open(png).convert("L")
    w, h = img.size
    px = img.load()
    body = range(int(h * 0.06), int(h * 0.92))  # below the running header, above the footer
    rows = [y for y in body if any(px[x, y] < 200 for x in range(0, w, 2))]  # type: ignore[index]
    return (max(rows) / h) if rows else 0.0


@pytest.mark.parametrize("lines", [("L1",), ("L1", "L2")])
def test_a_longer_report_fills_its_pages_and_an_empty_one_says_no_lots_match(
    tmp_path: Path, lines: tuple[str, ...]
) -> None:
    pdftoppm = require_tool("pdftoppm", "poppler-utils")
    many = [
        replace(r, line=ln, batch_id=f"{ln}-{k:05d}", start=1000.0 + 4000 * k, end=4600.0 + 4000 * k)
        for k in range(60 // len(lines))
        for ln in lines
        for r in lots()[k % 3 : k % 3 + 1]
    ]
    batches, streams, recoveries = frames(many)
    pdf = tmp_path / "long.pdf"
    pdf.write_bytes(render(NoAssays(), Report(batches, streams, recoveries), "pdf", plant="Test plant"))  # type: ignore[arg-type]
    subprocess.run([pdftoppm, "-r", "30", "-gray", "-png", str(pdf), str(tmp_path / "p")], check=True)
    pages = sorted(tmp_path.glob("p-*.png"))
    assert 3 <= len(pages) <= 6  # summary and trend on page 1, tables continued, no page per section
    fills = [_filled(p) for p in pages]
    assert all(f > 0.6 for f in fills[:-1]), fills  # no half-empty page but the last

    empty = Report(batches.clear(), streams.clear(), recoveries.clear())
    q = BatchQuery(lines=("L9",), start_from=978307200.0, start_to=978393600.0)
    text = "".join(_pdf_text(render(NoAssays(), empty, "pdf", q=q, plant="Test plant"), tmp_path))  # type: ignore[arg-type]
    assert "No lots match" in text and "line=L9" in text and "from=2001-01-01T00:00:00Z" in text


def test_people_read_kg_to_0_1_ratios_to_4_decimals_and_real_dates_parquet_keeps_all(tmp_path: Path) -> None:
    import csv  # noqa: PLC0415
    from datetime import datetime  # noqa: PLC0415

    import polars as pl  # noqa: PLC0415

    odd = [replace(r, streams=(replace(r.streams[0], mass_kg=4005.083862100749), r.streams[1])) for r in lots()]
    odd = [replace(r, yields={"black_mass": 0.16193000000000002}) for r in odd]
    batches, streams, recoveries = frames(odd)
    report = Report(batches, streams, recoveries)
    rows = list(csv.DictReader(io.StringIO(render(NoAssays(), report, "csv").decode())))  # type: ignore[arg-type]
    assert rows[0]["feed_kg"] == "4005.1" and rows[0]["black_mass_yield"] == "0.1619"
    assert rows[0]["start"].endswith("Z") and "T" in rows[0]["start"]
    parquet = pl.read_parquet(io.BytesIO(render(NoAssays(), report, "parquet")))  # type: ignore[arg-type]
    assert parquet["feed_kg"][0] == 4005.083862100749  # full precision
    book = load_workbook(io.BytesIO(render(NoAssays(), report, "xlsx")))  # type: ignore[arg-type]
    head = [c.value for c in book["batches"][1]]
    cells = dict(zip(head, book["batches"][2], strict=True))
    assert isinstance(cells["start (UTC)"].value, datetime) and cells["start (UTC)"].number_format.startswith("yyyy")
    assert cells["recovery_li (ratio)"].number_format.endswith("%") and cells["feed (kg)"].value == 4005.1


def test_a_minor_elements_recovery_keeps_four_significant_digits() -> None:
    # Al into black mass is about 1 %: four decimals would say 0.0111 for 0.011148 (0.4 % off)
    from monitor.reports.frames import human  # noqa: PLC0415
    from monitor.reports.human import human_json  # noqa: PLC0415

    frame = human(
        pl.DataFrame({"recovery_al": [0.011147541, 0.912345678, 0.008379123], "recovery_al_sd": [0.0012345, 0.0, 0.0]})
    )
    # below 1 %: five decimals at most (a person reads 0.00838, not 0.008379)
    assert frame["recovery_al"].to_list() == [0.01115, 0.9123, 0.00838]
    assert frame["recovery_al_sd"].to_list() == [0.0012, 0.0, 0.0]
    assert human_json({"recovery_al": 0.011147541, "recovery_cu": 0.008379123, "black_mass_yield": 0.456789}) == {
        "recovery_al": 0.01115,
        "recovery_cu": 0.00838,
        "black_mass_yield": 0.4568,
    }
