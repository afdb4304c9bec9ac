"""Carbon factors and origin are recorded with a lot once; later config changes do not rewrite it."""

from dataclasses import replace
from pathlib import Path

import pytest

from monitor.accounting.assay_import import Accountant
from monitor.accounting.seeds import load_feed_grades
from monitor.config import load_config
from monitor.core.assays import Assay
from monitor.core.carbon import GhgFactors
from monitor.passport.origin import OriginMap
from monitor.store.batches import BatchStore
from tests.passport.test_lot_shipment import LOT1

ROOT = Path(__file__).resolve().parents[2]
OLD = GhgFactors(grid_kg_co2e_per_kwh=0.4, grid_source="2024 mix", grid_year=2024)
NEW = GhgFactors(grid_kg_co2e_per_kwh=0.2, grid_source="2026 mix", grid_year=2026)


def test_late_assays_keep_the_factors_and_origin_the_lot_was_stamped_with(tmp_path: Path) -> None:
    spec = load_config(ROOT / "config/plant.toml").line
    grades = load_feed_grades(ROOT / "seeds")
    store = BatchStore(tmp_path / "blackmass.db")
    fresh = replace(LOT1, carbon=None, origin=(), supplier="S", feed_form="packs", metals=())
    first = Accountant(
        store, spec, grades, ghg=OLD, origin=OriginMap(feed_forms={"packs": (("post_consumer", 1.0),)})
    ).finalise(fresh)
    assert first is not None and first.carbon is not None
    assert first.carbon.co2e_kg == pytest.approx(200.0)  # 500 kWh x 0.4, no nitrogen factor
    assert first.origin == (("post_consumer", 1.0),)
    later = Accountant(store, spec, grades, ghg=NEW, origin=OriginMap(suppliers={"S": (("pre_consumer", 1.0),)}))
    assay = Assay(LOT1.batch_id, "black_mass", "ni", 36.0, "final", "S1")
    summary = later.import_records([assay], "lab.csv", "sha-1")
    (v2,) = summary.updated
    assert v2.version == 2 and v2.assay_status == "final"
    assert v2.carbon == first.carbon and (v2.carbon.grid_year, v2.carbon.grid_source) == (2024, "2024 mix")
    assert v2.origin == (("post_consumer", 1.0),)
    assert later.account(fresh).carbon.grid_year == 2026  # a lot not yet stamped gets today's factors
    store.close()
