"""The PACT v3 API over real HTTPS on a free port: the OAuth2 client-credentials flow, footprints of
one's own shipments only, filters and Link pagination, CloudEvents answered to a real receiver."""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from jsonschema import Draft202012Validator, FormatChecker
from prometheus_client import CollectorRegistry

from monitor.core.carbon import lot_carbon
from monitor.serve.http import make_app, serve, tls_context
from monitor.serve.pact_api import PactService, add_pact_routes, background
from monitor.serve.pact_auth import Tokens, new_client
from monitor.serve.schemas import add_schema_routes
from monitor.store.batches import BatchStore
from tests.conftest import free_port, until
from tests.passport.test_lot_shipment import FACTORS, LOT1, LOT2, lot
from tests.passport.test_pact_documents import CTX, ROOT
from tests.test_security import self_signed_pem

pytestmark = pytest.mark.integration
SCHEMA = Draft202012Validator(
    json.loads((ROOT / "schemas/pact-product-footprint-3.0.schema.json").read_text()), format_checker=FormatChecker()
)
URN = "urn:pact:blackmass.example:product-id:"


@dataclass
class Receiver:
    """A customer's events endpoint: a real HTTP server that keeps what it is sent."""

    url: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == f"org.wbcsd.pact.ProductFootprint.{kind}.3"]


@asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    got = Receiver()

    async def events(req: web.Request) -> web.Response:
        got.events.append(json.loads(await req.text()))
        return web.json_response({"status": "accepted"})

    app = web.Application()
    app.router.add_post("/3/events", events)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    got.url = f"http://127.0.0.1:{port}/3/events"
    try:
        yield got
    finally:
        await runner.cleanup()


@asynccontextmanager
async def pact_server(
    tmp: Path, store: BatchStore, clock: Callable[[], float], publish_every_s: float | None
) -> AsyncIterator[tuple[str, ssl.SSLContext, PactService]]:
    cert, key = self_signed_pem(tmp)
    app = make_app(CollectorRegistry(auto_describe=False), lambda: {"status": "ok"})
    add_schema_routes(app)
    svc = PactService(store, CTX, Tokens(3600.0, clock), clock=clock)
    assert add_pact_routes(app, svc, tls=True)
    port, started = free_port(), asyncio.Event()
    async with asyncio.TaskGroup() as tg:
        server = tg.create_task(serve(app, "127.0.0.1", port, started, tls=tls_context(cert, key)))
        work = tg.create_task(background(svc, publish_every_s))
        await started.wait()
        try:
            yield f"https://localhost:{port}", ssl.create_default_context(cafile=str(cert)), svc
        finally:
            server.cancel()
            work.cancel()


def basic(cid: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{cid}:{secret}".encode()).decode()}


async def token(http: aiohttp.ClientSession, base: str, tls: ssl.SSLContext, cid: str, secret: str) -> str:
    async with http.post(
        f"{base}/auth/token", data={"grant_type": "client_credentials"}, headers=basic(cid, secret), ssl=tls
    ) as r:
        assert r.status == 200, await r.text()
        body = await r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    return str(body["access_token"])


async def get(http: aiohttp.ClientSession, url: str, tls: ssl.SSLContext, tok: str) -> tuple[int, Any, str | None]:
    async with http.get(url, headers={"Authorization": f"Bearer {tok}"}, ssl=tls) as r:
        return r.status, await r.json(), r.headers.get("Link")


def event(kind: str, data: dict[str, Any], eid: str = "req-1") -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": eid,
        "source": "https://acme.example/pact",
        "time": "2027-01-16T10:00:00Z",
        "type": f"org.wbcsd.pact.ProductFootprint.{kind}.3",
        "data": data,
    }


async def check_filters(http: aiohttp.ClientSession, base: str, tls: ssl.SSLContext, tok: str) -> None:
    """v3 filters: OR within one, AND across; a bad value is a BadRequest; limit pages with a Link."""
    for query, n in [
        (f"productId={URN}L1-00001", 1),
        (f"productId={URN}L1-00001&productId={URN}SHIP-A", 2),
        (f"productId={URN}L1-00001&status=Deprecated", 0),
        ("geography=DE", 2),
        ("geography=XX", 0),
        ("classification=urn:pact:blackmass.example:product-class:black-mass", 2),
        ("validOn=2028-01-01T00:00:00Z", 2),
        ("validOn=1900-01-01T00:00:00Z", 0),
        ("validAfter=2099-01-01T00:00:00Z", 0),
        ("validBefore=2099-01-01T00:00:00Z", 2),
    ]:
        status, found, _ = await get(http, f"{base}/3/footprints?{query}", tls, tok)
        assert (status, len(found["data"])) == (200, n), query
    status, bad, _ = await get(http, f"{base}/3/footprints?validOn=yesterday", tls, tok)
    assert status == 400 and bad["code"] == "BadRequest" and "validOn" in bad["message"]
    status, v2, _ = await get(http, f"{base}/3/footprints?$filter=pcf/geographyCountry eq 'DE'", tls, tok)
    assert status == 400 and v2["code"] == "NotImplemented"
    status, page1, link = await get(http, f"{base}/3/footprints?limit=1", tls, tok)
    assert len(page1["data"]) == 1 and link is not None and 'rel="next"' in link


async def check_requests(
    http: aiohttp.ClientSession, base: str, tls: ssl.SSLContext, tok: str, inbox: Receiver, lot_id: str
) -> None:
    """A request for our lot is fulfilled at the customer's endpoint, an unknown product rejected."""
    hdr = {"Authorization": f"Bearer {tok}", "Content-Type": "application/cloudevents+json"}
    ask = event("RequestCreatedEvent", {"productId": [URN + "L1-00001"]})
    async with http.post(f"{base}/3/events", data=json.dumps(ask), headers=hdr, ssl=tls) as r:
        assert r.status == 200
    nope = event("RequestCreatedEvent", {"productId": [URN + "L1-00002"]}, "req-2")  # OTHER's lot
    async with http.post(f"{base}/3/events", data=json.dumps(nope), headers=hdr, ssl=tls) as r:
        assert r.status == 200
    async with http.post(f"{base}/3/events", data=json.dumps({"id": "x"}), headers=hdr, ssl=tls) as r:
        assert r.status == 400 and (await r.json())["code"] == "BadRequest"
    await until(lambda: len(inbox.of("RequestFulfilledEvent")) == 1 and len(inbox.of("RequestRejectedEvent")) == 1)
    done = inbox.of("RequestFulfilledEvent")[0]["data"]
    assert done["requestEventId"] == "req-1" and [p["id"] for p in done["pfs"]] == [lot_id]
    rejected = inbox.of("RequestRejectedEvent")[0]["data"]
    assert rejected["requestEventId"] == "req-2" and rejected["error"]["code"] == "NoSuchFootprint"


async def check_login(http: aiohttp.ClientSession, base: str, tls: ssl.SSLContext, cid: str, secret: str) -> None:
    """A wrong secret and a missing grant type get no token; the discovery document names the endpoint."""
    form = {"grant_type": "client_credentials"}
    async with http.post(f"{base}/auth/token", data=form, headers=basic(cid, "wrong"), ssl=tls) as r:
        assert r.status == 401 and (await r.json())["error"] == "invalid_client"
    async with http.post(f"{base}/auth/token", data={}, headers=basic(cid, secret), ssl=tls) as r:
        assert r.status == 400 and (await r.json())["error"] == "unsupported_grant_type"
    async with http.get(f"{base}/.well-known/openid-configuration", ssl=tls) as r:
        assert (await r.json())["token_endpoint"] == f"{base}/auth/token"


def sold(path: Path) -> BatchStore:
    """Two lots: L1-00001's BB-1 sold to ACME (SHIP-A), L1-00002's BB-3 to OTHER (SHIP-B)."""
    store = BatchStore(path)
    store.save(LOT1)
    store.save(LOT2)
    store.create_shipment("SHIP-A", ["BB-1"], customer="ACME", now=1.8e9 + 3600)
    store.create_shipment("SHIP-B", ["BB-3"], customer="OTHER", now=1.8e9 + 3700)
    return store


async def test_pact_v3_api_end_to_end(tmp_path: Path) -> None:
    store = sold(tmp_path / "blackmass.db")
    now = [1.8e9 + 7200]
    async with receiver() as inbox:
        acme, acme_secret = new_client("acme-erp", "ACME", events_url=inbox.url, now=now[0])
        other, other_secret = new_client("other-erp", "OTHER", now=now[0])
        store.add_pact_client(acme)
        store.add_pact_client(other)
        async with (
            pact_server(tmp_path, store, lambda: now[0], 0.2) as (base, tls, svc),
            aiohttp.ClientSession() as http,
        ):
            await check_login(http, base, tls, acme.client_id, acme_secret)
            tok = await token(http, base, tls, acme.client_id, acme_secret)
            status, body, link = await get(http, f"{base}/3/footprints", tls, tok)
            assert status == 200 and link is None
            mine = {f["productIds"][0]: f for f in body["data"]}
            assert set(mine) == {URN + "L1-00001", URN + "SHIP-A"}  # its shipment and the lot it came from
            for f in body["data"]:
                SCHEMA.validate(f)
            lot_fp = mine[URN + "L1-00001"]
            assert lot_fp["pcf"]["pcfExcludingBiogenicUptake"] == "0.1100"
            status, one, _ = await get(http, f"{base}/3/footprints/{lot_fp['id']}", tls, tok)
            assert status == 200 and one["data"] == lot_fp
            # another customer: its own footprints only; ACME's id is as unknown to it as a made-up one
            tok2 = await token(http, base, tls, other.client_id, other_secret)
            status, body2, _ = await get(http, f"{base}/3/footprints", tls, tok2)
            assert {f["productIds"][0] for f in body2["data"]} == {URN + "L1-00002", URN + "SHIP-B"}
            status, denied, _ = await get(http, f"{base}/3/footprints/{lot_fp['id']}", tls, tok2)
            status_unknown, unknown, _ = await get(
                http, f"{base}/3/footprints/00000000-0000-4000-8000-000000000000", tls, tok2
            )
            assert (status, status_unknown) == (404, 404) and denied["code"] == unknown["code"] == "NoSuchFootprint"
            await check_filters(http, base, tls, tok)
            # tokens: unknown is AccessDenied, expired is TokenExpired (the server's clock moves on)
            status, err, _ = await get(http, f"{base}/3/footprints", tls, "nonsense")
            assert status == 403 and err["code"] == "AccessDenied"
            await check_requests(http, base, tls, tok, inbox, lot_fp["id"])
            # a recomputed lot: a new footprint naming the old one, announced to ACME
            carbon = lot_carbon(FACTORS, energy_kwh=600.0, nitrogen_nm3=200.0, feed_kg=4000.0, black_mass_kg=2000.0)
            store.save(replace(LOT1, energy_kwh=600.0, carbon=carbon), reason="recomputed")
            # asked for, the footprints are brought up to date: the new one is issued, and its event posted
            status, body, _ = await get(http, f"{base}/3/footprints?productId={URN}L1-00001&status=Active", tls, tok)
            new = body["data"][0]
            assert new["precedingPfIds"] == [lot_fp["id"]] and new["pcf"]["pcfExcludingBiogenicUptake"] == "0.1300"
            # the event goes out on the outbox's own task: waited for (a loaded run read the inbox before it came)
            await until(lambda: any(new["id"] in e["data"]["pfIds"] for e in inbox.of("PublishedEvent")))
            now[0] += 3601
            status, err, _ = await get(http, f"{base}/3/footprints", tls, tok)
            assert status == 401 and err["code"] == "TokenExpired"
            # plain HTTP on the HTTPS port: no answer at all, let alone data
            with pytest.raises(aiohttp.ClientError):
                plain = f"{base.replace('https', 'http')}/3/footprints"
                async with http.get(plain, headers={"Authorization": f"Bearer {tok}"}) as r:
                    await r.read()
            async with http.get(f"{base}/schemas/pact-blackmass-extension-1.0.0.schema.json", ssl=tls) as r:
                assert r.status == 200 and (await r.json())["title"].startswith("Black-mass data")
            assert svc.outbox.failed == 0
    store.close()


async def test_plain_http_servers_do_not_mount_the_pact_api(tmp_path: Path) -> None:
    app = make_app(CollectorRegistry(auto_describe=False), lambda: {"status": "ok"})
    store = BatchStore(tmp_path / "blackmass.db")
    svc = PactService(store, CTX, Tokens(3600.0))
    assert not add_pact_routes(app, svc, tls=False)
    assert not [r for r in app.router.routes() if r.resource is not None and "/3/" in r.resource.canonical]
    store.close()


async def test_250_footprints_come_in_pages_linked_by_rfc_8288(tmp_path: Path) -> None:
    store = BatchStore(tmp_path / "blackmass.db")
    for i in range(125):  # 125 lots, each sold in its own shipment: 250 footprints
        bid = f"L1-{i:05d}"
        store.save(replace(lot(bid, {f"BB-{i}": 500.0}, 100.0, 10.0, "post_consumer", ()), start=1.8e9 + i * 3600))
        store.create_shipment(f"SHIP-{i:03d}", [f"BB-{i}"], customer="ACME", now=1.8e9 + i * 3600 + 100)
    client, secret = new_client("acme", "ACME", now=1.8e9)
    store.add_pact_client(client)
    async with pact_server(tmp_path, store, lambda: 1.9e9, None) as (base, tls, _), aiohttp.ClientSession() as http:
        tok = await token(http, base, tls, client.client_id, secret)
        url: str | None = f"{base}/3/footprints"
        ids: list[str] = []
        pages = 0
        while url:
            status, body, link = await get(http, url, tls, tok)
            assert status == 200
            ids += [f["id"] for f in body["data"]]
            pages += 1
            nxt = [p.split(";")[0].strip("<> ") for p in (link or "").split(",") if 'rel="next"' in p]
            assert all(u.startswith(f"{base}/3/footprints?") for u in nxt)  # absolute, on the host called
            url = nxt[0] if nxt else None
        assert pages == 3 and len(ids) == 250 and len(set(ids)) == 250
        status, body, link = await get(http, f"{base}/3/footprints?limit=1000", tls, tok)
        assert len(body["data"]) == 250 and link is None
    store.close()


async def test_blackmass_serve_reads_tls_and_pact_from_its_config(tmp_path: Path) -> None:
    store = sold(tmp_path / "blackmass.db")
    client, secret = new_client("acme", "ACME", now=1.8e9)
    store.add_pact_client(client)
    store.close()
    cert, key = self_signed_pem(tmp_path)
    cfg = tmp_path / "serve.toml"
    cfg.write_text(
        f'[http]\ntls_certificate = "{cert}"\ntls_key = "{key}"\n\n'
        '[pact]\ncompany_name = "Demo"\ndomain = "blackmass.example"\ngeography_country = "US"\n'
    )
    port = free_port()
    cmd = [sys.executable, "-m", "monitor", "serve", "--data-dir", str(tmp_path), "--config", str(cfg)]
    proc = await asyncio.create_subprocess_exec(*cmd, "--port", str(port), stdout=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = (await proc.stdout.readline()).decode()  # said once the app is built, before it listens
        assert f"https://127.0.0.1:{port} and the PACT v3 API" in line
        base, tls = f"https://localhost:{port}", ssl.create_default_context(cafile=str(cert))
        async with aiohttp.ClientSession() as http:
            for _ in range(100):  # the port opens a moment after the line
                try:
                    async with http.get(f"{base}/healthz", ssl=tls) as r:
                        assert r.status == 200
                    break
                except aiohttp.ClientConnectorError:
                    await asyncio.sleep(0.1)
            tok = await token(http, base, tls, client.client_id, secret)
            status, body, _ = await get(http, f"{base}/3/footprints", tls, tok)
        assert status == 200 and {f["pcf"]["geographyCountry"] for f in body["data"]} == {"US"}
        assert {f["companyName"] for f in body["data"]} == {"Demo"} and len(body["data"]) == 2
    finally:
        proc.terminate()
        await proc.wait()
