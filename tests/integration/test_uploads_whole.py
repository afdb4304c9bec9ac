"""Uploads whole or refused: a body sent in several TCP writes with pauses, with Content-Length or
chunked, is imported whole; beyond the limit it is 413; failed authentications are throttled."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from monitor.accounting.assay_import import Accountant
from monitor.accounting.seeds import load_feed_grades
from monitor.config import load_config
from monitor.passport.settings import PassportSettings
from monitor.serve.api import MAX_UPLOAD, add_api
from monitor.serve.http import make_app
from monitor.serve.passport_api import add_passport_routes
from monitor.serve.webio import FAILS_PER_MINUTE
from monitor.store.batches import BatchStore
from tests.conftest import free_port
from tests.plant_harness import ROOT

pytestmark = pytest.mark.integration
TOKEN = "upload-test-token-9"
HEAD = "batch_id,stream,element,value_pct,status,sample_id,bag_id,lab,method,moisture_pct"


def assay_body(n: int, prefix: str) -> bytes:
    rows = [HEAD] + [f"{prefix}-{i:05d},black_mass,ni,30.0,preliminary,S-{i},,lab-A,XRF," for i in range(n)]
    return ("\n".join(rows) + "\n").encode()


async def started(tmp: Path) -> AsyncIterator[tuple[int, BatchStore]]:
    store = BatchStore(tmp / "blackmass.db")
    app = make_app(CollectorRegistry(auto_describe=False), lambda: {"status": "ok"})
    spec = load_config(ROOT / "config/plant.toml").line
    add_api(app, store, Accountant(store, spec, load_feed_grades(ROOT / "seeds")), token=TOKEN)
    add_passport_routes(app, store, PassportSettings(), token=TOKEN)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await aiohttp.web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield port, store
    finally:
        await runner.cleanup()
        store.close()


def chunked(body: bytes, pieces: int) -> list[bytes]:
    step = len(body) // pieces + 1
    parts = [body[i : i + step] for i in range(0, len(body), step)]
    return [f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in parts] + [b"0\r\n\r\n"]


async def post_in_pieces(port: int, path: str, body: bytes, *, pieces: int, chunk: bool) -> tuple[int, dict]:
    """POST over a raw socket: the head, then the body in `pieces` writes with a pause between."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    framing = "Transfer-Encoding: chunked" if chunk else f"Content-Length: {len(body)}"
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: text/csv\r\n{framing}\r\nConnection: close\r\n\r\n".encode()
    )
    if chunk:
        parts = chunked(body, pieces)
    else:
        step = len(body) // pieces + 1
        parts = [body[i : i + step] for i in range(0, len(body), step)]
    for part in parts:
        writer.write(part)
        await writer.drain()
        await asyncio.sleep(0.3)  # the stimulus: a slow client, each piece its own TCP segment
    answer = await reader.read()
    writer.close()
    head, _, text = answer.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    return status, json.loads(text) if text.strip() else {}


@pytest.mark.parametrize("chunk", [False, True])
async def test_an_upload_in_pieces_is_imported_whole(tmp_path: Path, chunk: bool) -> None:
    async for port, store in started(tmp_path):
        status, out = await post_in_pieces(port, "/api/assays", assay_body(700, "NOPE"), pieces=5, chunk=chunk)
        assert status == 200 and out["rows"] == 700
        assert len(store.assays_for([f"NOPE-{i:05d}" for i in range(700)])) == 700
        # a bigger one, well past the 64 KiB a single read used to return
        status, out = await post_in_pieces(port, "/api/assays", assay_body(6000, "MORE"), pieces=7, chunk=chunk)
        assert status == 200 and out["rows"] == 6000


@pytest.mark.parametrize("chunk", [False, True])
async def test_a_body_past_the_limit_is_413_and_changes_nothing(tmp_path: Path, chunk: bool) -> None:
    body = assay_body(700, "BIG")
    body += b"#" * (MAX_UPLOAD + 10 - len(body))
    async for port, store in started(tmp_path):
        status, out = await post_in_pieces(port, "/api/assays", body, pieces=3, chunk=chunk)
        assert status == 413 and out["error"] == "too_large"
        assert store.assays_for([f"BIG-{i:05d}" for i in range(700)]) == []


async def test_a_shipment_in_pieces_is_read_whole(tmp_path: Path) -> None:
    body = json.dumps({"shipment_id": "SHIP-1", "bags": [f"BAG-{i:05d}" for i in range(3000)]}).encode()
    async for port, _ in started(tmp_path):
        status, out = await post_in_pieces(port, "/api/shipments", body, pieces=4, chunk=False)
        # parsed whole: refused for its unknown bags, not as broken JSON
        assert status == 400 and out["error"] == "invalid_shipment", out


async def test_failed_authentications_are_logged_and_throttled(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async for port, _ in started(tmp_path):
        base = f"http://127.0.0.1:{port}"
        statuses = []
        async with aiohttp.ClientSession() as http:
            with caplog.at_level(logging.WARNING, logger="monitor.serve.webio"):
                for i in range(FAILS_PER_MINUTE + 3):
                    path = "/api/assays" if i % 2 else "/api/shipments"
                    async with http.post(base + path, data=b"x", headers={"Authorization": "Bearer guess-4711"}) as r:
                        statuses.append(r.status)
                        if r.status == 401:
                            assert r.headers["WWW-Authenticate"] == 'Bearer realm="blackmass"'
                        if r.status == 429:
                            assert int(r.headers["Retry-After"]) >= 1
            # even the right token waits out the throttle: guessing gains nothing
            async with http.post(
                base + "/api/assays", data=assay_body(1, "T"), headers={"Authorization": f"Bearer {TOKEN}"}
            ) as r:
                assert r.status == 429
    assert statuses == [401] * FAILS_PER_MINUTE + [429] * 3
    fails = [r for r in caplog.records if "authentication failed" in r.getMessage()]
    assert len(fails) == FAILS_PER_MINUTE and "from 127.0.0.1" in fails[0].getMessage()
    assert "guess-4711" not in caplog.text and "wrong token" in fails[0].getMessage()
