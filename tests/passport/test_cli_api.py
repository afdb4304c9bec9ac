"""Passports end to end through the CLI and the HTTP API, over a store the plant harness filled."""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from monitor.cli import main
from monitor.config import load_config
from monitor.passport.settings import KEY_ENV
from monitor.serve.http import make_app
from monitor.serve.passport_api import add_passport_routes
from monitor.store.batches import BatchStore
from tests.conftest import free_port
from tests.plant_harness import ROOT, run_plant

pytestmark = pytest.mark.integration
TOKEN = "ship-token"


@pytest.fixture(scope="module")
def plant(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("passport")
    store, truth = run_plant(d, seed=31, steps=900, noise=True, delay_h=0)  # 15 h, final assays at once
    store.close()
    assert len(truth) >= 5
    assert main(["passport", "keygen", "--out", str(d / "keys")]) == 0
    return d


@pytest.fixture(autouse=True)
def signing_key(plant: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(KEY_ENV, str(plant / "keys/passport.key"))
    return plant / "keys/passport.key"


def report(d: Path) -> list[dict[str, str]]:
    assert main(["report", "--data-dir", str(d), "--format", "csv", "--out", str(d / "r.csv")]) == 0
    return list(csv.DictReader((d / "r.csv").open()))


def cli(*args: str) -> int:
    return main(list(args))


def test_lot_passport_equals_the_report_and_its_carbon_adds_up(plant: Path, tmp_path: Path) -> None:
    rows = report(plant)
    for row in rows[:3]:
        out = tmp_path / f"{row['batch_id']}.json"
        assert cli("passport", "lot", row["batch_id"], "--data-dir", str(plant), "--out", str(out)) == 0
        p = json.loads(out.read_text())
        assert p["feed_kg"] == pytest.approx(float(row["feed_kg"]), rel=1e-9)
        assert p["black_mass_kg"] == pytest.approx(float(row["black_mass_kg"]), rel=1e-9)
        for el in ("ni", "co", "li"):
            assert p["elements"][el]["recovery"] == pytest.approx(float(row[f"recovery_{el}"]), rel=1e-9)
            assert p["elements"][el]["black_mass_kg"] == pytest.approx(float(row[f"black_mass_{el}_kg"]), rel=1e-9)
        f = p["factors"]
        assert p["co2e_kg"] == pytest.approx(  # computed exactly from the stated kWh and Nm3: every digit checks
            p["energy_kwh"] * f["grid_kg_co2e_per_kwh"] + p["nitrogen_nm3"] * f["nitrogen_kg_co2e_per_nm3"], abs=1e-9
        )
        assert p["co2e_kg"] == pytest.approx(float(row["co2e_kg"]), abs=0.1)  # report 0.1 kg; passport from stated kWh
        assert p["co2e_kg"] == pytest.approx(sum(p["co2e_breakdown_kg"].values()), abs=1e-9)  # the sum of its parts
        assert p["status"] == "final" and p["origin_class"] == row["origin"].split("=")[0]
        bags = [b["net_kg"] for b in p["black_mass_bags"]]
        assert sum(bags) == pytest.approx(p["black_mass_kg"], abs=0.05 * (len(bags) + 1))  # each to 0.1 kg
        assert all(round(x, 1) == x for x in [*bags, p["feed_kg"], p["elements"]["ni"]["black_mass_kg"]])
        assert cli("passport", "verify", str(out), "--key", str(plant / "keys/passport.pub")) == 0


def test_verify_names_the_changed_field(plant: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bid = report(plant)[0]["batch_id"]
    out = tmp_path / "lot.json"
    assert cli("passport", "lot", bid, "--data-dir", str(plant), "--out", str(out)) == 0
    p = json.loads(out.read_text())
    p["elements"]["co"]["recovery"] += 0.01
    (tmp_path / "t.json").write_text(json.dumps(p))
    capsys.readouterr()
    assert cli("passport", "verify", str(tmp_path / "t.json"), "--key", str(plant / "keys/passport.pub")) == 1
    assert "field 'elements' differs" in capsys.readouterr().err
    (tmp_path / "junk.json").write_text("{not json")
    assert cli("passport", "verify", str(tmp_path / "junk.json"), "--key", str(plant / "keys/passport.pub")) == 2
    assert "junk.json" in capsys.readouterr().err


def test_the_private_key_never_reaches_output_or_logs(
    plant: Path, tmp_path: Path, signing_key: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    bid = report(plant)[0]["batch_id"]
    caplog.set_level(logging.DEBUG)
    assert cli("-vv", "passport", "lot", bid, "--data-dir", str(plant), "--out", "-") == 0
    seen = capsys.readouterr()
    secret_lines = [ln for ln in signing_key.read_text().splitlines() if ln and not ln.startswith("-----")]
    everything = seen.out + seen.err + caplog.text
    assert secret_lines and not any(s in everything for s in secret_lines)
    assert str(signing_key) not in everything
    assert json.loads(seen.out)["batch_id"] == bid


def test_unsigned_when_no_key_is_configured_is_an_error_that_says_how(
    plant: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.delenv(KEY_ENV)
    bid = report(plant)[0]["batch_id"]
    assert cli("passport", "lot", bid, "--data-dir", str(plant), "--out", str(tmp_path / "x.json")) == 2
    assert KEY_ENV in capsys.readouterr().err and not (tmp_path / "x.json").exists()


def test_shipments_through_the_cli(plant: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = report(plant)
    lot = tmp_path / "lot.json"
    assert cli("passport", "lot", rows[1]["batch_id"], "--data-dir", str(plant), "--out", str(lot)) == 0
    bags = [b["bag_id"] for b in json.loads(lot.read_text())["black_mass_bags"]]
    (tmp_path / "bags.txt").write_text("# bags of one lot\n" + "\n".join(bags) + "\n")
    d = str(plant)
    assert cli("shipment", "create", "--data-dir", d, "--id", "SHIP-CLI-1", "--bags", str(tmp_path / "bags.txt")) == 0
    capsys.readouterr()
    assert cli("shipment", "create", "--data-dir", d, "--id", "SHIP-CLI-2", "--bag", bags[0]) == 2
    assert f"'{bags[0]}' already shipped in SHIP-CLI-1" in capsys.readouterr().err
    assert cli("shipment", "create", "--data-dir", d, "--id", "SHIP-CLI-2", "--bag", "BB-NOPE") == 2
    assert "'BB-NOPE' is not a black-mass bag" in capsys.readouterr().err
    out = tmp_path / "ship.json"
    assert cli("passport", "shipment", "SHIP-CLI-1", "--data-dir", d, "--out", str(out)) == 0
    ship = json.loads(out.read_text())
    # each bag stated to 0.1 kg and the total their sum: within half a digit per bag of the lot's mass
    assert ship["net_kg"] == round(sum(b["net_kg"] for b in ship["bags"]), 1)
    assert ship["net_kg"] == pytest.approx(float(rows[1]["black_mass_kg"]), abs=0.05 * len(ship["bags"]) + 0.05)
    assert ship["co2e_kg"] == pytest.approx(float(rows[1]["co2e_kg"]), abs=0.1 + 0.005 * len(ship["bags"]))
    assert cli("passport", "verify", str(out), "--key", str(plant / "keys/passport.pub")) == 0


async def serve(d: Path, token: str | None) -> AsyncIterator[str]:
    store = BatchStore(d / "blackmass.db")
    app = make_app(CollectorRegistry(auto_describe=False), lambda: {"status": "ok"})
    add_passport_routes(app, store, load_config(ROOT / "config/plant.toml").passport, token=token)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
        store.close()


async def test_passports_and_shipments_over_http(plant: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = report(plant)
    bid = rows[2]["batch_id"]
    async for base in serve(plant, TOKEN):
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/api/batches/{bid}/passport") as r:
                assert r.status == 200
                lot = await r.json()
            assert lot["batch_id"] == bid and lot["signature"]["algorithm"] == "Ed25519"
            async with http.get(f"{base}/api/batches/NOPE/passport") as r:
                assert r.status == 404 and (await r.json())["error"] == "not_found"
            bags = [b["bag_id"] for b in lot["black_mass_bags"]]
            body = {"shipment_id": "SHIP-API-1", "bags": bags}
            async with http.post(f"{base}/api/shipments", json=body) as r:
                assert r.status == 401
            hdr = {"Authorization": f"Bearer {TOKEN}"}
            async with http.post(f"{base}/api/shipments", json={"bags": bags}, headers=hdr) as r:
                assert r.status == 400
            async with http.post(f"{base}/api/shipments", json=body, headers=hdr) as r:
                assert r.status == 201
                assert (await r.json())["net_kg"] == pytest.approx(float(rows[2]["black_mass_kg"]))
            async with http.post(f"{base}/api/shipments", json={**body, "shipment_id": "SHIP-API-2"}, headers=hdr) as r:
                assert r.status == 409 and bags[0] in (await r.json())["detail"]
            async with http.get(f"{base}/api/shipments/SHIP-API-1/passport") as r:
                assert r.status == 200 and (await r.json())["bag_count"] == len(bags)
            async with http.get(f"{base}/api/shipments/SHIP-API-2/passport") as r:
                assert r.status == 404  # the refused shipment left nothing behind
            monkeypatch.delenv(KEY_ENV)
            async with http.get(f"{base}/api/batches/{bid}/passport") as r:
                assert r.status == 503 and KEY_ENV in (await r.json())["detail"]
    async for base in serve(plant, None):
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{base}/api/shipments", json={"shipment_id": "S-3", "bags": ["x"]}) as r,
        ):
            assert r.status == 403
