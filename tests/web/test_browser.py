"""The web pages in a real browser (Debian chromium via Playwright) against a real `blackmass serve`:
list -> filter -> a lot -> its version diff after an assay upload; every report format equals the
CLI's file; a refused assay file names its line; a shipment and its passport; markup stays text;
writes without the session cookie or the CSRF token are refused; no serious axe-core violations."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from monitor.cli import main
from tests.conftest import require_tool
from tests.plant_harness import ROOT
from tests.web.conftest import MARKUP_LOT, MARKUP_SUPPLIER, Site, login

pytestmark = pytest.mark.integration
AXE = Path(__file__).parent / "vendor/axe-core/axe.min.js"


def lot_url(line: str, lot: str) -> str:
    return f"/lots/{urllib.parse.quote(line, safe='')}/{urllib.parse.quote(lot, safe='')}"


def digest(d: Path) -> str:
    """The store's rows (batch versions, assays, shipments), to show a refused write changed nothing."""
    db = sqlite3.connect(d / "blackmass.db")
    try:
        text = repr([db.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in ("batch_versions", "assays")])
    finally:
        db.close()
    return hashlib.sha256(text.encode()).hexdigest()


def test_list_filter_open_a_lot_and_see_what_an_assay_import_changed(page: Page, site: Site) -> None:
    page.goto("/")
    rows = page.locator("table.lots tbody tr")
    assert rows.count() == site.lots
    first = page.locator("table.lots tbody tr", has=page.get_by_role("link", name=site.first, exact=True))
    chemistry = first.locator("td").nth(2).inner_text()
    page.select_option("select[name=chemistry]", chemistry)
    page.click("form.filters button[type=submit]")
    page.wait_for_url(re.compile(r"chemistry="))
    shown = [r.locator("td").nth(2).inner_text() for r in rows.all()]
    assert shown and set(shown) == {chemistry}, shown
    assert len(shown) < site.lots  # the filter left some out
    page.get_by_role("link", name=site.first, exact=True).click()
    page.wait_for_url(re.compile(r"/lots/L1/"))
    assert site.first in page.locator("h1").inner_text()
    versions = page.locator("table.versions tbody tr")
    assert versions.count() == 1 and "first version" in versions.first.inner_text()

    login(page)
    page.goto("/assays")
    page.set_input_files("#file", files=[{"name": "lims.csv", "mimeType": "text/csv", "buffer": site.assays.encode()}])
    page.click("form[action='/assays'] button")
    page.wait_for_selector("text=Imported")
    assert f"{site.first}: version 2, assays final" in page.locator("div.ok").inner_text()
    assert "imported: " in page.locator("table").inner_text()  # the recent uploads list it

    page.goto(lot_url("L1", site.first))
    assert versions.count() == 2
    newest = versions.first.inner_text()
    assert newest.startswith("v2")
    diff = {li.locator("code").inner_text(): li.inner_text() for li in versions.first.locator("ul.diff li").all()}
    assert "none" in diff["assay_status"] and "final" in diff["assay_status"], diff
    assert "recovery_ni" in diff and "version" not in diff  # numbers that moved, not the version itself
    ni = page.locator("table", has_text="Black-mass yield").locator("tr", has_text="Ni recovery").inner_text()
    assert re.search(r"\d+\.\d\d", ni), ni  # the recovery is now known


def cli_report(site: Site, fmt: str, tmp: Path) -> bytes:
    out = tmp / f"cli.{fmt}"
    cfg = str(ROOT / "config/plant.toml")
    assert main(["report", "--data-dir", str(site.data), "--format", fmt, "--out", str(out), "--config", cfg]) == 0
    return out.read_bytes()


def parts(xlsx: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(xlsx)) as z:
        return [(i.filename, z.read(i)) for i in z.infolist()]


def pdf_text(data: bytes, tmp: Path) -> str:
    """A PDF's text without its generation time (the one thing two renders of one report differ in)."""
    (tmp / "x.pdf").write_bytes(data)
    pdftotext = require_tool("pdftotext", "poppler-utils")
    text = subprocess.run([pdftotext, "-layout", str(tmp / "x.pdf"), "-"], capture_output=True, check=True).stdout
    text = re.sub(r"\S+Z · page", "<time> · page", text.decode())  # every page's footer says it too
    return re.sub(r"generated at\s+\S+", "generated at <time>", text)


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "parquet", "pdf"])
def test_each_report_format_equals_the_cli_file(page: Page, site: Site, fmt: str, tmp_path: Path) -> None:
    page.goto("/reports")
    page.check(f"input[name=format][value={fmt}]")
    with page.expect_download() as dl:
        page.click("form[action='/reports/download'] button")
    web = Path(dl.value.path()).read_bytes()
    cli = cli_report(site, fmt, tmp_path)
    assert len(web) > 500
    if fmt == "pdf":  # a PDF states when it was generated (and reportlab stamps its creation time and an id)
        assert "generated at <time>" in pdf_text(web, tmp_path)
        assert pdf_text(web, tmp_path) == pdf_text(cli, tmp_path)
        assert abs(len(web) - len(cli)) < 64
    elif fmt == "xlsx":  # the ZIP stamps each part with the (2-second) time it was written: the parts are equal
        assert len(web) == len(cli) and parts(web) == parts(cli)
    else:
        assert web == cli


def test_a_refused_assay_file_shows_its_line_and_changes_nothing(page: Page, site: Site) -> None:
    login(page)
    before = digest(site.data)
    bad = site.assays + f"{site.first},black_mass,co,lots,final,X,0.4\n"
    page.goto("/assays")
    page.set_input_files("#file", files=[{"name": "bad.csv", "mimeType": "text/csv", "buffer": bad.encode()}])
    page.click("form[action='/assays'] button")
    error = page.locator("#assay-error").inner_text()
    line = bad.count("\n")  # the bad row is the file's last line
    assert f"bad.csv:{line}" in error and "value_pct" in error, error
    assert digest(site.data) == before


def test_create_a_shipment_and_download_its_passport(page: Page, site: Site) -> None:
    login(page)
    page.goto(f"/shipments?lot={urllib.parse.quote(site.first)}")
    boxes = page.locator("input[name=bag]")
    assert boxes.count() >= 2
    picked = [boxes.nth(i).get_attribute("value") for i in range(2)]
    for i in range(2):
        boxes.nth(i).check()
    page.fill("#shipment_id", "SHIP-WEB-1")
    page.fill("#customer", "ACME Recycling")
    page.click("#create-shipment button[type=submit]")
    page.wait_for_selector("text=Shipment SHIP-WEB-1 created")
    row = page.locator("#recent-shipments tbody tr", has_text="SHIP-WEB-1")  # listed with its customer
    assert row.locator("td").nth(0).inner_text() == "ACME Recycling" and row.locator("td").nth(2).inner_text() == "2"
    db = sqlite3.connect(site.data / "blackmass.db")
    try:  # the store recorded the customer
        assert db.execute("SELECT customer, bags FROM shipments WHERE shipment_id = 'SHIP-WEB-1'").fetchall() == [
            ("ACME Recycling", 2)
        ]
    finally:
        db.close()
    with page.expect_download() as dl:
        page.click("text=Download the shipment passport")
    doc = json.loads(Path(dl.value.path()).read_text())
    assert "SHIP-WEB-1" in json.dumps(doc)
    assert "signature" in json.dumps(doc).lower()
    page.goto(f"/shipments?lot={urllib.parse.quote(site.first)}")  # the shipped bags are no longer offered
    offered = {b.get_attribute("value") for b in page.locator("input[name=bag]").all()}
    assert offered.isdisjoint(picked)


def test_markup_in_a_lot_id_and_supplier_stays_text(page: Page, site: Site) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto("/?sort=start&desc=0")
    assert page.get_by_role("link", name=MARKUP_LOT, exact=True).count() == 1
    assert MARKUP_SUPPLIER in page.locator("table.lots").inner_text()
    page.get_by_role("link", name=MARKUP_LOT, exact=True).click()  # the link quotes the id, "/" included
    page.wait_for_selector("h1 .id")
    assert page.locator("h1 .id").inner_text() == MARKUP_LOT
    assert page.evaluate("window.pwned") is None and not dialogs
    assert page.locator("main img, main script").count() == 0


def _post(site: Site, path: str, body: bytes, headers: dict[str, str]) -> int:
    req = urllib.request.Request(site.base + path, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_writes_without_the_session_cookie_or_the_csrf_token_are_refused(page: Page, site: Site) -> None:
    before = digest(site.data)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    ship = b"shipment_id=SHIP-X&bag=whatever"
    assert _post(site, "/assays", b"", {}) == 403
    assert _post(site, "/shipments", ship, form) == 403
    login(page)
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["bm_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    jar = {"Cookie": f"bm_session={session['value']}", **form}
    assert _post(site, "/shipments", ship, jar) == 403  # the cookie without the CSRF token
    assert _post(site, "/shipments", ship + b"&csrf=forged", jar) == 403
    assert _post(site, "/assays", b"csrf=forged", jar) == 403
    assert _post(site, "/shipments", ship, {**form, "Authorization": "Bearer web-test-token"}) == 403  # no cookie
    assert digest(site.data) == before


PAGES = ["/", "/reports", "/assays", "/shipments", "/flags", "/login"]


@pytest.mark.parametrize("size", [(1280, 800), (768, 1024)], ids=["desktop", "tablet"])
def test_pages_have_no_serious_accessibility_violations(browser: Browser, site: Site, size: tuple[int, int]) -> None:
    # the pages' CSP refuses every script but their own: this context lets the test's axe-core in
    context = browser.new_context(base_url=site.base, viewport={"width": size[0], "height": size[1]}, bypass_csp=True)
    page = context.new_page()
    found = {}
    for path in [*PAGES, lot_url("L1", site.first)]:
        page.goto(path)
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("async () => (await axe.run()).violations.map(v => [v.id, v.impact, v.nodes.length])")
        bad = [v for v in result if v[1] in ("serious", "critical")]
        if bad:
            found[path] = bad
    context.close()
    assert not found, found


def test_screenshots_of_the_lots_page_and_a_lot_page(page: Page, site: Site, tmp_path: Path) -> None:
    """Written to docs/images when BLACKMASS_SCREENSHOTS=1 (the README shows them), else to a temp dir."""
    out = ROOT / "docs/images" if os.environ.get("BLACKMASS_SCREENSHOTS") == "1" else tmp_path
    page.goto("/")
    page.screenshot(path=str(out / "web-lots.png"), full_page=False)
    page.goto(lot_url("L1", site.first))
    page.screenshot(path=str(out / "web-lot.png"), full_page=True)
    for name in ("web-lots.png", "web-lot.png"):
        assert (out / name).stat().st_size > 10_000
    assert shutil.which("chromium")
