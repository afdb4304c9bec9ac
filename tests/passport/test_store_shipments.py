"""Shipments, footprints and PACT clients are tables of the batch store: the same on SQLite and PostgreSQL,
copied whole by `store migrate`, and a shipment passport comes out of either engine alike."""

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from monitor.errors import NotFoundError
from monitor.passport.issue import shipment_document
from monitor.passport.settings import PassportSettings
from monitor.store.footprints import PactClient
from monitor.store.migrate import migrate
from monitor.store.shipments import ShipmentConflict
from monitor.store.url import open_store
from tests.passport.test_lot_shipment import LOT1, LOT2

KEY = Ed25519PrivateKey.generate()


def _doc(fid: str, preceding: list[str], created: float) -> str:
    return json.dumps({"id": fid, "precedingPfIds": preceding, "created": created, "status": "Active"})


def test_shipments_footprints_and_clients_on_either_engine_and_copied_whole(store_url: str, tmp_path: Path) -> None:
    s = open_store(store_url)
    assert s.schema_version() == 4
    s.save(LOT1)
    s.save(LOT2)
    a = s.create_shipment("SHIP-A", ["BB-1", "BB-3"], customer="ACME", now=1.8e9)
    want = [("L1-00001", "BB-1", 1200.0), ("L1-00002", "BB-3", 500.0)]
    assert [(b.batch_id, b.bag_id, b.net_kg) for b in a.bags] == want
    with pytest.raises(ShipmentConflict, match="'BB-1' already shipped in SHIP-A"):
        s.create_shipment("SHIP-B", ["BB-2", "BB-1"], customer="OTHER")
    with pytest.raises(NotFoundError, match="not found"):
        s.shipment("SHIP-B")  # the refused shipment left nothing
    lots = [(LOT1.line, LOT1.batch_id), (LOT2.line, LOT2.batch_id)]
    assert [(b.batch_id, b.bag_id, b.net_kg) for b in s.unshipped(lots)] == [("L1-00001", "BB-2", 800.0)]
    s.create_shipment("SHIP-B", ["BB-2"], customer="OTHER", now=1.8e9 + 1)
    assert s.shipment_ids("ACME") == ["SHIP-A"] and s.shipment_ids() == ["SHIP-A", "SHIP-B"]
    assert s.shipment("SHIP-A").customer == "ACME"
    assert s.unshipped(lots) == []  # the web's shipments page offers no bag twice

    first = s.issue_footprint("lot:L1:L1-00001", "sha-1", _doc, now=10.0)
    same = s.issue_footprint("lot:L1:L1-00001", "sha-1", _doc, now=11.0)
    assert first.new and not same.new and same.id == first.id
    second = s.issue_footprint("lot:L1:L1-00001", "sha-2", _doc, now=12.0)
    assert second.new and json.loads(second.doc_json)["precedingPfIds"] == [first.id]
    found = s.footprint(first.id)
    assert found is not None and json.loads(found[1])["status"] == "Deprecated"
    assert [json.loads(d)["id"] for _, d in s.footprints_of(["lot:L1:L1-00001"])] == [first.id, second.id]
    s.add_pact_client(PactClient("cid-1", "acme", "ACME", "hash", 5.0, "https://acme.example/events"))
    assert [c.customer for c in s.pact_clients()] == ["ACME"]

    doc = shipment_document(s, "SHIP-A", PassportSettings(plant="P"), KEY, now=1.8e9 + 60)
    assert doc["net_kg"] == 1700.0 and doc["co2e_kg"] == pytest.approx(182.0)

    other = f"sqlite:///{tmp_path / 'copy.db'}"
    dest = open_store(other)
    checks = {c.table: c.rows for c in migrate(s, dest)}
    assert checks["shipments"] == 2 and checks["shipment_bags"] == 3 and checks["lot_bags"] == 3
    assert checks["pact_footprints"] == 2 and checks["pact_clients"] == 1
    assert dest.shipment("SHIP-A") == s.shipment("SHIP-A")
    assert dest.footprint(second.id) == s.footprint(second.id)
    copied = shipment_document(dest, "SHIP-A", PassportSettings(plant="P"), KEY, now=1.8e9 + 60)
    assert copied == doc  # the same figures and the same signature from the copy
    s.close()
    dest.close()


async def test_serve_mounts_the_passport_and_shipment_routes_on_either_store(store_url: str, tmp_path: Path) -> None:
    import aiohttp  # noqa: PLC0415
    from aiohttp import web  # noqa: PLC0415
    from prometheus_client import CollectorRegistry  # noqa: PLC0415

    from monitor.passport.signing import keygen  # noqa: PLC0415
    from monitor.serve.http import make_app  # noqa: PLC0415
    from monitor.serve.passport_api import add_passport_routes  # noqa: PLC0415
    from tests.conftest import free_port  # noqa: PLC0415

    key_path, _, _ = keygen(tmp_path / "keys")
    s = open_store(store_url)
    s.save(LOT1)
    s.save(LOT2)
    app = make_app(CollectorRegistry(auto_describe=False), lambda: {"status": "ok"})
    add_passport_routes(app, s, PassportSettings(plant="P", key=key_path), token="t0ken")
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession(headers={"Authorization": "Bearer t0ken"}) as http:
            bad = {"shipment_id": "SHIP-W", "bags": ["BB-2", "BB-3"], "customer": "<ACME>"}
            async with http.post(f"{base}/api/shipments", json=bad) as r:  # the CLI's --customer check
                assert r.status == 400 and "customer '<ACME>'" in (await r.json())["detail"]
            async with http.post(f"{base}/api/shipments", json={**bad, "customer": 7}) as r:
                assert r.status == 400 and (await r.json())["error"] == "bad_request"
            assert s.shipment_ids() == []  # refused: nothing recorded
            async with http.post(f"{base}/api/shipments", json={**bad, "customer": "ACME Recycling"}) as r:
                body = await r.json()
                assert r.status == 201 and body["net_kg"] == 1300.0 and body["customer"] == "ACME Recycling"
            assert s.shipment("SHIP-W").customer == "ACME Recycling"
            assert s.shipment_ids(customer="ACME Recycling") == ["SHIP-W"]
            async with http.get(f"{base}/api/shipments/SHIP-W/passport") as r:
                doc = await r.json()
            assert r.status == 200 and doc["net_kg"] == 1300.0 and doc["co2e_kg"] == 138.0  # 220 x 800/2000 + 50
            async with http.get(f"{base}/api/shipments/SHIP-NONE/passport") as r:
                assert r.status == 404 and (await r.json())["error"] == "not_found"  # NotFoundError, by type
    finally:
        await runner.cleanup()
        s.close()


def test_a_schema_2_store_gains_the_shipment_tables_and_its_bags_on_open(store_url: str) -> None:
    s = open_store(store_url)
    s.save(LOT1)
    with s.transaction() as db:  # back to schema 2: no shipment tables, no bag index
        for table in ("shipment_bags", "shipments", "lot_bags", "pact_footprints", "pact_clients"):
            db.q(f"DROP TABLE {table}")
        db.q("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    s.close()
    s = open_store(store_url)
    assert s.schema_version() == 4
    assert [b.net_kg for b in s.create_shipment("SHIP-U", ["BB-1", "BB-2"]).bags] == [1200.0, 800.0]
    s.close()
