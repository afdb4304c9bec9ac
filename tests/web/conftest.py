"""A real `blackmass serve` over a simulated plant's store, and Debian's chromium driven by Playwright
(pointed at the system browser: Playwright's own browser download is never used)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from monitor.cli import main
from monitor.passport.settings import KEY_ENV
from tests.conftest import free_port, require_tool
from tests.plant_harness import ROOT, run_plant

TOKEN = "web-test-token"
MARKUP_LOT = '<img src=x onerror="window.pwned=1">L1/7'  # a "/" too: links quote it
MARKUP_SUPPLIER = "<script>window.pwned=2</script>Acme"


@dataclass(frozen=True)
class Site:
    base: str
    data: Path
    first: str  # the first lot (no assays yet)
    lots: int
    assays: str  # a LIMS CSV with final black-mass assays of every bag of the first lot


def _wait_healthy(base: str, proc: subprocess.Popen[bytes]) -> None:
    """Until /healthz answers (the server is up) or the process ends (it failed)."""
    while proc.poll() is None:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)  # nothing to wait on but the port
    raise AssertionError(f"blackmass serve exited with {proc.returncode}")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    d = tmp_path_factory.mktemp("web")
    store, truth = run_plant(d, seed=32, steps=900, noise=True, delay_h=1000)  # 15 h of lots, no assays yet
    first = store.latest()[0]
    # a lot whose id and supplier are markup: pages must show them as text
    store.save(replace(first, batch_id=MARKUP_LOT, supplier=MARKUP_SUPPLIER, start=first.start - 86400))
    lots = len(store.latest())
    rows = "".join(
        f"{first.batch_id},black_mass,{el},{v},final,{bag},0.4\n"
        for bag in first.bags
        for el, v in (("ni", 22.0), ("co", 7.3), ("li", 4.2))  # plausible for NMC622 black mass
    )
    store.close()
    assert len(truth) >= 5
    assert main(["passport", "keygen", "--out", str(d / "keys")]) == 0
    port = free_port()
    env = {**os.environ, "BLACKMASS_API_TOKEN": TOKEN, KEY_ENV: str(d / "keys/passport.key")}
    cmd = [sys.executable, "-m", "monitor", "serve", "--data-dir", str(d), "--port", str(port)]
    cmd += ["--config", str(ROOT / "config/plant.toml"), "--seeds", str(ROOT / "seeds")]
    with (d / "serve.log").open("wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_healthy(base, proc)
        yield Site(
            base, d, first.batch_id, lots, "batch_id,stream,element,value_pct,status,bag_id,moisture_pct\n" + rows
        )
    finally:
        proc.terminate()
        proc.wait(timeout=120)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = require_tool("chromium", "chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser, site: Site) -> Iterator[Page]:
    context = browser.new_context(base_url=site.base, viewport={"width": 1280, "height": 800}, accept_downloads=True)
    p = context.new_page()
    p.set_default_timeout(120_000)  # a bound for failures only: a PDF rendered on a busy machine takes its time
    yield p
    context.close()


def login(page: Page) -> None:
    page.goto("/login")
    page.fill("#token", TOKEN)
    page.click("form[action='/login'] button")
    page.wait_for_selector("text=Log out")
