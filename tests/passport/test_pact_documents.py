"""PACT v3 footprints, Catena-X and Battery Pass documents from a real store: valid against the
project's schemas, decimal strings, new ids on change, and the same figures as the signed passports."""

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from monitor.accounting import footprints
from monitor.accounting.exports import export_document
from monitor.accounting.footprints import FootprintContext
from monitor.accounting.seeds import FeedGrades
from monitor.core.assays import Assay
from monitor.core.carbon import OtherInput, lot_carbon
from monitor.passport.issue import lot_document, shipment_document
from monitor.passport.pact_settings import PactSettings
from monitor.passport.settings import PassportSettings
from monitor.store.batches import BatchStore
from tests.passport.test_lot_shipment import FACTORS, KEY, LOT1, LOT2, lot

ROOT = Path(__file__).resolve().parents[2]
DECIMAL = re.compile(r"^[+-]?\d+(\.\d+)?$")
PACT = PactSettings(
    company_name="Demo Black Mass Co.",
    company_ids=("urn:pact:blackmass.example:company-id:demo",),
    domain="blackmass.example",
    geography_country="DE",
)
CTX = FootprintContext(
    passport=PassportSettings(plant="Test plant"), pact=PACT, grades=FeedGrades({("NCMA", "cells"): {"c": 0.2}}, "t")
)
NOW = 1.8e9 + 7200


def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(
        json.loads((ROOT / f"schemas/{name}.schema.json").read_text()), format_checker=FormatChecker()
    )


@pytest.fixture
def store(tmp_path: Path) -> BatchStore:
    s = BatchStore(tmp_path / "blackmass.db")
    s.save(LOT1)
    s.save(LOT2)
    # L1-00001's black mass assayed for carbon (38 %), BB-1 for nickel (40 %); L1-00002 has no C assay
    s.import_assays(
        [
            Assay("L1-00001", "black_mass", "c", 38.0, "final", "S0"),
            Assay("L1-00001", "black_mass", "ni", 40.0, "final", "S1", "BB-1", moisture_pct=0.0),
        ],
        "lab",
        "h1",
    )
    return s


def test_a_lot_footprint_is_pact_v3_and_states_the_signed_passports_figures(store: BatchStore) -> None:
    fp = footprints.issue(store, "lot", "L1-00001", CTX, now=NOW)
    validator("pact-product-footprint-3.0").validate(fp)
    ext = fp["extensions"][0]
    assert ext["dataSchema"] == "https://blackmass.example/schemas/pact-blackmass-extension-1.0.0.schema.json"
    validator("pact-blackmass-extension-1.0.0").validate(ext["data"])
    pcf = fp["pcf"]
    assert fp["productIds"] == ["urn:pact:blackmass.example:product-id:L1-00001"] and fp["status"] == "Active"
    assert fp["companyIds"] == ["urn:pact:blackmass.example:company-id:demo"] and pcf["geographyCountry"] == "DE"
    # 500 kWh x 0.4 + 200 Nm3 x 0.1 = 220 kg CO2e on 2000 kg of black mass
    assert pcf["pcfExcludingBiogenicUptake"] == pcf["fossilGhgEmissions"] == "0.1100"
    assert pcf["fossilCarbonContent"] == "0.3800" and ext["data"]["carbonContent"]["source"] == "assay"
    assert pcf["primaryDataShare"] == "100.0"  # electricity and nitrogen are both metered
    assert (pcf["referencePeriodStart"], pcf["referencePeriodEnd"]) == ("2027-01-15T08:00:00Z", "2027-01-15T09:00:00Z")
    assert fp["validityPeriodStart"] == pcf["referencePeriodEnd"] and fp["validityPeriodEnd"] == "2030-01-14T09:00:00Z"
    for key in (
        "declaredUnitAmount",
        "productMassPerDeclaredUnit",
        "pcfIncludingBiogenicUptake",
        "exemptedEmissionsPercent",
    ):
        assert DECIMAL.match(pcf[key]), key
    assert [s["name"] for s in pcf["secondaryEmissionFactorSources"]] == ["grid electricity: grid", "nitrogen: n2"]
    signed = lot_document(store, "L1-00001", CTX.passport, KEY, now=NOW)
    assert float(pcf["pcfExcludingBiogenicUptake"]) == pytest.approx(
        signed["co2e_kg"] / signed["black_mass_kg"], abs=5e-5
    )
    assert ext["data"]["blackMassKg"] == f"{signed['black_mass_kg']:.1f}" and ext["data"]["co2eKg"] == "220.0"
    assert ext["data"]["elements"]["ni"]["kg"] == f"{signed['elements']['ni']['black_mass_kg']:.1f}" == "720.0"
    assert ext["data"]["originShares"] == {"preConsumer": "1.0000", "postConsumer": "0.0000", "unknown": "0.0000"}


def test_without_a_carbon_assay_the_grade_table_gives_an_upper_bound(store: BatchStore) -> None:
    fp = footprints.issue(store, "lot", "L1-00002", CTX, now=NOW)
    # the feed's 20 % carbon (1000 kg feed), all of it put on 500 kg of black mass
    assert fp["pcf"]["fossilCarbonContent"] == "0.4000"
    assert fp["extensions"][0]["data"]["carbonContent"] == {"kgPerKg": "0.4000", "source": "grade_table"}


def test_an_unchanged_lot_keeps_its_id_and_a_recomputed_one_supersedes_it(store: BatchStore) -> None:
    first = footprints.issue(store, "lot", "L1-00001", CTX, now=NOW)
    assert footprints.issue(store, "lot", "L1-00001", CTX, now=NOW + 60)["id"] == first["id"]
    carbon = lot_carbon(FACTORS, energy_kwh=600.0, nitrogen_nm3=200.0, feed_kg=4000.0, black_mass_kg=2000.0)
    store.save(replace(LOT1, energy_kwh=600.0, carbon=carbon), reason="recomputed")  # a late meter correction
    second = footprints.issue(store, "lot", "L1-00001", CTX, now=NOW + 120)
    validator("pact-product-footprint-3.0").validate(second)
    assert second["id"] != first["id"] and second["precedingPfIds"] == [first["id"]]
    assert second["pcf"]["pcfExcludingBiogenicUptake"] == "0.1300"  # (240 + 20) / 2000
    old = store.footprint(first["id"])
    assert old is not None and json.loads(old[1])["status"] == "Deprecated"


def test_a_shipments_pact_catenax_and_batterypass_documents_agree_with_its_signed_passport(store: BatchStore) -> None:
    store.create_shipment("SHIP-A", ["BB-1", "BB-3"], customer="ACME", now=1.8e9 + 3600)
    signed = shipment_document(store, "SHIP-A", CTX.passport, KEY, now=NOW)
    fp = footprints.issue(store, "shipment", "SHIP-A", CTX, now=NOW)
    validator("pact-product-footprint-3.0").validate(fp)
    validator("pact-blackmass-extension-1.0.0").validate(fp["extensions"][0]["data"])
    # BB-1 carries 132 kg CO2e of its lot, BB-3 all 50 kg: 182 kg on 1700 kg
    assert signed["co2e_kg"] == 182.0 and signed["net_kg"] == 1700.0
    assert fp["pcf"]["pcfExcludingBiogenicUptake"] == "0.1071"
    assert float(fp["pcf"]["pcfExcludingBiogenicUptake"]) == pytest.approx(
        signed["co2e_kg"] / signed["net_kg"], abs=5e-5
    )
    cx = export_document(store, "catenax-recycling", "shipment", "SHIP-A", CTX, now=NOW)
    validator("catenax-recycling-1.0.0").validate(cx)
    batches = cx["urn:samm:io.catenax.material_accounting:1.0.0#RecyclingBatch"]
    assert [b["recyclingBatchId"] for b in batches] == ["L1-00001", "L1-00002"]
    packed = [s for b in batches for s in b["childProcessSteps"] if s["childProcessType"] == "Packaging / Labeling"]
    assert [(s["weighingSlip"], s["outputNetMass"]) for s in packed] == [("BB-1", 1200.0), ("BB-3", 500.0)]
    assert sum(s["outputNetMass"] for s in packed) == signed["net_kg"]
    info = cx["urn:samm:io.catenax.material_accounting:1.0.0#RecyclingInformation"]
    assert (
        info["preConsumerShares"]["nonAutomotive"] == round(100 * signed["origin_shares"]["pre_consumer"], 2) == 70.59
    )
    assert info["postConsumerShares"]["automotive"] == 29.41 and info["origin"] == "DE"
    bp = export_document(store, "batterypass-circularity", "shipment", "SHIP-A", CTX, now=NOW)
    validator("batterypass-circularity-1.2.0").validate(bp)
    content = {
        c["recycledMaterial"]: c for c in bp["urn:samm:io.BatteryPass.Circularity:1.2.0#Circularity"]["recycledContent"]
    }
    assert set(content) == {"Nickel", "Cobalt", "Lithium", "Lead"}
    # Ni: 480 kg from BB-1 (pre-consumer) and 150 kg from BB-3 (post-consumer), as the signed passport
    assert content["Nickel"]["preConsumerShare"] == round(
        100 * signed["elements"]["ni"]["origin_shares"]["pre_consumer"], 2
    )
    assert (content["Nickel"]["preConsumerShare"], content["Nickel"]["postConsumerShare"]) == (76.19, 23.81)
    assert content["Lead"]["preConsumerShare"] == 70.59  # no Pb assay: the black mass's own shares
    assert fp["pcf"]["primaryDataShare"] == "100.0"
    assert [x["name"] for x in fp["pcf"]["secondaryEmissionFactorSources"]] == [
        "grid electricity: grid",
        "nitrogen: n2",
    ]
    ext = fp["extensions"][0]["data"]
    assert ext["originShares"]["preConsumer"] == "0.7059" and ext["elements"]["ni"]["kg"] == "630.0"


def test_configured_per_tonne_inputs_are_secondary_data(store: BatchStore) -> None:
    factors = replace(FACTORS, other=(OtherInput(name="loaders", kg_co2e_per_t_feed=1.5, source="site fuel log 2026"),))
    carbon = lot_carbon(factors, energy_kwh=100.0, nitrogen_nm3=100.0, feed_kg=1000.0, black_mass_kg=500.0)
    store.save(replace(LOT2, carbon=carbon), reason="recomputed")
    pcf = footprints.issue(store, "lot", "L1-00002", CTX, now=NOW)["pcf"]
    # 40 kg (electricity) + 10 kg (nitrogen) metered of 51.5 kg: 1.5 kg from 1 t of feed x 1.5 kg/t
    assert pcf["primaryDataShare"] == "97.1" and pcf["pcfExcludingBiogenicUptake"] == "0.1030"
    assert pcf["secondaryEmissionFactorSources"][-1] == {
        "name": "loaders: site fuel log 2026",
        "version": "as configured",
    }


def test_totals_are_the_sums_of_their_rounded_parts(tmp_path: Path) -> None:
    s = BatchStore(tmp_path / "blackmass.db")
    s.save(lot("L1-00009", {"BB-7": 100.04, "BB-8": 100.04, "BB-9": 2500.000000000001}, 10.0, 1.0, "pre_consumer", ()))
    s.create_shipment("SHIP-R", ["BB-7", "BB-8", "BB-9"])
    doc = shipment_document(s, "SHIP-R", PassportSettings(), KEY, now=NOW)
    assert [b["net_kg"] for b in doc["bags"]] == [100.0, 100.0, 2500.0]
    assert doc["net_kg"] == 2700.0  # not round(2700.080..., 1) = 2700.1
    assert doc["lots"][0]["net_kg"] == 2700.0 and json.dumps(doc).count("000000000") == 0
    assert doc["co2e_kg"] == round(sum(b["co2e_kg"] for b in doc["bags"]), 2)
