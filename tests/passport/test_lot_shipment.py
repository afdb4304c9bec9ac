"""Lot and shipment passports from a real SQLite store: literal numbers, schema, all-or-nothing shipments."""

import json
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jsonschema import Draft202012Validator

from monitor.core.assays import Assay
from monitor.core.carbon import GhgFactors, lot_carbon
from monitor.core.metals import ElementAccount
from monitor.core.results import BatchResult, BatchState, StreamMass
from monitor.errors import InputError, NotFoundError
from monitor.passport.issue import lot_document, shipment_document
from monitor.passport.lot import Issuer, lot_passport
from monitor.passport.settings import PassportSettings
from monitor.passport.signing import verify
from monitor.store.batches import BatchStore
from monitor.store.shipments import ShipmentConflict

ROOT = Path(__file__).resolve().parents[2]
FACTORS = GhgFactors(
    grid_kg_co2e_per_kwh=0.4, grid_source="grid", grid_year=2025, nitrogen_kg_co2e_per_nm3=0.1, nitrogen_source="n2"
)
SETTINGS = PassportSettings(plant="Test plant", operator="QA")
KEY = Ed25519PrivateKey.generate()


def element(el: str, feed: float, bm: float, status: str = "final") -> ElementAccount:
    return ElementAccount(el, feed / 4000.0, "declared", feed, bm / 2000.0, bm, bm / feed, status, recovery_sd=0.01)


def lot(
    batch_id: str, bags: dict[str, float], energy: float, n2: float, origin: str, metals: tuple[ElementAccount, ...]
) -> BatchResult:
    bm = sum(bags.values())
    feed = 2 * bm
    return BatchResult(
        line="L1",
        batch_id=batch_id,
        start=1.8e9,
        end=1.8e9 + 3600,
        state=BatchState.ASSAYED,
        chemistry="NCMA",
        feed_form="cells",
        supplier="S",
        streams=(
            StreamMass("feed", feed, "totalizer", 0, 1),
            StreamMass("black_mass", bm, "weighing", 0, 1, items=tuple(bags.items())),
        ),
        yields={"black_mass": 0.5},
        closure=0.5,
        metals=metals,
        assay_status="final",
        energy_kwh=energy,
        nitrogen_nm3=n2,
        carbon=lot_carbon(FACTORS, energy_kwh=energy, nitrogen_nm3=n2, feed_kg=feed, black_mass_kg=bm),
        origin=((origin, 1.0),),
    )


# lot 1: 2 t black mass in two bags, Ni 720 kg (grade 0.36), 500 kWh + 200 Nm3 -> 200 + 20 = 220 kg CO2e
LOT1 = lot("L1-00001", {"BB-1": 1200.0, "BB-2": 800.0}, 500.0, 200.0, "pre_consumer", (element("ni", 800.0, 720.0),))
# lot 2: 0.5 t in one bag, Ni 150 kg (grade 0.3), 100 kWh + 100 Nm3 -> 40 + 10 = 50 kg CO2e
LOT2 = lot("L1-00002", {"BB-3": 500.0}, 100.0, 100.0, "post_consumer", (element("ni", 180.0, 150.0),))


@pytest.fixture
def store(tmp_path: Path) -> BatchStore:
    s = BatchStore(tmp_path / "blackmass.db")
    s.save(replace(LOT1, metals=(element("ni", 800.0, 720.0),)))
    s.save(LOT2)
    # BB-1 has its own assay: 40 % Ni (dry), 0 % moisture -> 480 kg Ni in that bag
    s.import_assays([Assay("L1-00001", "black_mass", "ni", 40.0, "final", "S1", "BB-1", moisture_pct=0.0)], "lab", "h1")
    return s


def schema(name: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads((ROOT / f"schemas/{name}.schema.json").read_text()))


def test_lot_passport_numbers_are_the_stored_results(store: BatchStore) -> None:
    doc = lot_document(store, "L1-00001", SETTINGS, KEY, now=1.8e9 + 7200)
    schema("lot-passport").validate(doc)
    assert (doc["feed_kg"], doc["black_mass_kg"], doc["energy_kwh"], doc["nitrogen_nm3"]) == (
        4000.0,
        2000.0,
        500.0,
        200.0,
    )
    assert doc["co2e_kg"] == pytest.approx(220.0) and doc["co2e_kg_per_t_black_mass"] == pytest.approx(110.0)
    assert doc["factors"]["grid_kg_co2e_per_kwh"] == 0.4 and doc["factors"]["nitrogen_source"] == "n2"
    assert doc["black_mass_bags"] == [{"bag_id": "BB-1", "net_kg": 1200.0}, {"bag_id": "BB-2", "net_kg": 800.0}]
    assert doc["elements"]["ni"] == pytest.approx(
        {
            "feed_kg": 800.0,
            "feed_grade": 0.2,
            "feed_grade_source": "declared",
            "black_mass_kg": 720.0,
            "black_mass_grade": 0.36,
            "assay_status": "final",
            "recovery": 0.9,
            "recovery_reconciled": None,
            "recovery_sd": 0.01,
        }
    )
    assert (doc["status"], doc["origin_class"], doc["origin_shares"]) == (
        "final",
        "pre_consumer",
        {"pre_consumer": 1.0},
    )
    assert doc["plant"] == "Test plant" and doc["result_digest"]["version"] == 1
    assert verify(doc, KEY.public_key()).valid


def test_preliminary_data_makes_a_preliminary_passport_and_partial_lots_have_none() -> None:
    prelim = replace(LOT1, metals=(element("ni", 800.0, 720.0, "preliminary"),), assay_status="preliminary")
    assert lot_passport(prelim, Issuer(), issued_at=0.0)["status"] == "preliminary"
    no_carbon = lot_passport(replace(LOT1, carbon=None, origin=()), Issuer(), issued_at=0.0)
    assert no_carbon["co2e_kg"] is None and no_carbon["factors"] is None
    assert {"carbon_unknown", "origin_unknown"} <= set(no_carbon["data_quality"]["flags"])
    with pytest.raises(InputError, match="partial"):
        lot_passport(replace(LOT1, state=BatchState.PARTIAL), Issuer(), issued_at=0.0)


def test_shipment_sums_per_bag_allocates_carbon_by_mass_and_shares_origin_by_element(store: BatchStore) -> None:
    store.create_shipment("SHIP-A", ["BB-1", "BB-3"], now=1.8e9)
    doc = shipment_document(store, "SHIP-A", SETTINGS, KEY, now=1.8e9 + 60)
    schema("shipment-passport").validate(doc)
    assert doc["net_kg"] == 1700.0 and doc["bag_count"] == 2
    # Ni: BB-1 from its own assay 1200 x 0.40 = 480; BB-3 from its lot's grade 500 x 150/500 = 150
    assert [b["elements_kg"]["ni"] for b in doc["bags"]] == pytest.approx([480.0, 150.0])
    assert [b["grade_source"] for b in doc["bags"]] == ["bag_assay", "lot"]
    assert doc["elements"]["ni"]["kg"] == pytest.approx(630.0)
    # shares are stated to 4 decimals (docs/passports.md)
    assert doc["elements"]["ni"]["origin_shares"] == {"pre_consumer": round(480 / 630, 4), "post_consumer": 0.2381}
    assert doc["origin_shares"] == {"pre_consumer": round(1200 / 1700, 4), "post_consumer": round(500 / 1700, 4)}
    # CO2e by mass: BB-1 carries 220 x 1200/2000 = 132 kg, BB-3 all 50 kg of its lot
    assert [b["co2e_kg"] for b in doc["bags"]] == pytest.approx([132.0, 50.0])
    assert doc["co2e_kg"] == pytest.approx(182.0) and doc["co2e_kg_per_t"] == round(182.0 / 1.7, 1)
    assert [(x["batch_id"], x["bags"], x["net_kg"]) for x in doc["lots"]] == [
        ("L1-00001", 1, 1200.0),
        ("L1-00002", 1, 500.0),
    ]
    assert verify(doc, KEY.public_key()).valid


def test_a_shipment_is_all_bags_or_none(store: BatchStore) -> None:
    ships = store
    ships.create_shipment("SHIP-A", ["BB-1"])
    with pytest.raises(ShipmentConflict, match="'BB-1' already shipped in SHIP-A"):
        ships.create_shipment("SHIP-B", ["BB-2", "BB-1"])
    with pytest.raises(InputError, match="'BB-404' is not a black-mass bag") as e:
        ships.create_shipment("SHIP-B", ["BB-2", "BB-404", "BB-405"])
    assert "and 1 more" in str(e.value) and "nothing changed" in str(e.value)
    with pytest.raises(InputError, match="listed twice"):
        ships.create_shipment("SHIP-B", ["BB-2", "BB-2"])
    with pytest.raises(ShipmentConflict, match="already exists"):
        ships.create_shipment("SHIP-A", ["BB-2"])
    with pytest.raises(InputError, match="expected an id"):
        ships.create_shipment("bad id with spaces", ["BB-2"])
    with pytest.raises(NotFoundError, match="not found"):  # by type: the API's 404
        ships.shipment("SHIP-B")  # none of the refused attempts left anything behind
    store.close()
    again = BatchStore(store.path)  # BB-2 is still free, after a reopen
    assert [b.bag_id for b in again.create_shipment("SHIP-B", ["BB-2", "BB-3"]).bags] == ["BB-2", "BB-3"]
    assert [b.bag_id for b in again.shipment("SHIP-A").bags] == ["BB-1"]
    again.close()


def test_bags_of_batches_stored_later_are_found(store: BatchStore) -> None:
    ships = store
    ships.create_shipment("SHIP-A", ["BB-1"])  # indexes what is stored so far
    store.save(lot("L1-00003", {"BB-9": 700.0}, 10.0, 1.0, "pre_consumer", ()))
    assert ships.create_shipment("SHIP-B", ["BB-9"]).bags[0].batch_id == "L1-00003"


def test_lot_scoped_bag_ids_are_keyed_by_line_lot_and_bag(store: BatchStore) -> None:
    # a bag_scope = "lot" line numbers its bags afresh: BB-1 again in L1-00004
    store.save(lot("L1-00004", {"BB-1": 900.0}, 10.0, 1.0, "pre_consumer", ()))
    ships = store
    with pytest.raises(InputError, match=r"'BB-1' is in several lots .*name it LOT/BB-1"):
        ships.create_shipment("SHIP-A", ["BB-1"])
    a = ships.create_shipment("SHIP-A", ["L1-00001/BB-1"])
    b = ships.create_shipment("SHIP-B", ["L1-00004/BB-1"])  # not blocked by the other lot's BB-1
    assert [(x.batch_id, x.bag_id, x.net_kg) for x in a.bags + b.bags] == [
        ("L1-00001", "BB-1", 1200.0),
        ("L1-00004", "BB-1", 900.0),
    ]
    with pytest.raises(ShipmentConflict, match="already shipped in SHIP-B"):
        ships.create_shipment("SHIP-C", ["L1-00004/BB-1"])
    with pytest.raises(InputError, match="listed twice"):
        ships.create_shipment("SHIP-C", ["BB-2", "L1-00001/BB-2"])


def test_shipments_under_the_first_schema_are_kept(store: BatchStore) -> None:
    import sqlite3  # noqa: PLC0415

    store.close()  # a store of schema 2, with the shipment tables an earlier program kept beside it
    db = sqlite3.connect(store.path)
    db.executescript(
        "DROP TABLE shipments; DROP TABLE shipment_bags; DROP TABLE lot_bags;"
        "UPDATE meta SET value = '2' WHERE key = 'schema_version';"
        "CREATE TABLE lot_bags_state (id INTEGER PRIMARY KEY CHECK (id = 1), last_rowid INTEGER NOT NULL);"
        "CREATE TABLE shipments (shipment_id TEXT PRIMARY KEY, created_at REAL NOT NULL, bags INTEGER NOT NULL);"
        "CREATE TABLE shipment_bags (bag_id TEXT PRIMARY KEY, shipment_id TEXT NOT NULL, position INTEGER NOT NULL,"
        " line TEXT NOT NULL, batch_id TEXT NOT NULL, net_kg REAL NOT NULL);"
        "INSERT INTO shipments VALUES ('OLD-1', 1.0, 1);"
        "INSERT INTO shipment_bags VALUES ('BB-1', 'OLD-1', 0, 'L1', 'L1-00001', 1200.0);"
    )
    db.close()
    ships = BatchStore(store.path)
    assert ships.schema_version() == 4  # schema 4 (results as MessagePack) came after
    assert [(b.batch_id, b.bag_id) for b in ships.shipment("OLD-1").bags] == [("L1-00001", "BB-1")]
    with pytest.raises(ShipmentConflict, match="already shipped in OLD-1"):
        ships.create_shipment("NEW-1", ["BB-1"])
    assert [b.bag_id for b in ships.create_shipment("NEW-1", ["BB-2"]).bags] == ["BB-2"]


def test_repeated_bag_options_all_count(store: BatchStore, capsys: pytest.CaptureFixture[str]) -> None:
    from monitor.cli import main  # noqa: PLC0415

    args = [
        "shipment",
        "create",
        "--id",
        "SHIP-R",
        "--data-dir",
        str(store.path.parent),
        "--bag",
        "BB-1",
        "--bag",
        "BB-2",
    ]
    assert main(args) == 0
    assert "2 bags" in capsys.readouterr().out
