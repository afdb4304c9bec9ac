"""Metal accounting with literal numbers: grades, recovery, distribution, head grade, reconciliation."""

import math

import pytest

from monitor.core.assays import Assay, stream_grade
from monitor.core.metal_accounts import account_metals
from monitor.core.metals import reconcile_batch
from monitor.core.spec import LineSpec, SourceKind, StreamSpec

SPEC = LineSpec(
    line="L1",
    batch_id_tag="lot",
    streams=(
        StreamSpec(name="feed", direction="in", tag="f", accuracy=0.005),
        StreamSpec(name="black_mass", source=SourceKind.WEIGHING, tag="b", bag_id_tag="i", accuracy=0.001),
        StreamSpec(name="aluminium", tag="a", accuracy=0.01),
        StreamSpec(name="loss", source=SourceKind.ESTIMATE, estimate_ratio=0.015, accuracy=1.0),
    ),
)
MASSES = {"feed": 10_000.0, "black_mass": 5_000.0, "aluminium": 4_850.0, "loss": 150.0}
BAGS = {"B1": 2_500.0, "B2": 2_500.0}


def a(stream: str, el: str, v: float, status: str = "final", bag: str = "", m: float | None = None) -> Assay:
    return Assay("X", stream, el, v, status, bag_id=bag, moisture_pct=m)


ASSAYS = [
    a("black_mass", "ni", 36.0, bag="B1", m=1.0),
    a("black_mass", "ni", 38.0, bag="B2", m=1.0),
    a("black_mass", "ni", 55.0, status="preliminary", bag="B1"),  # superseded by the final
    a("aluminium", "ni", 2.0),
]


def test_bag_assays_weighted_by_dry_mass() -> None:
    g = stream_grade(ASSAYS, "black_mass", "ni", 5_000.0, {"B1": 3_000.0, "B2": 1_000.0})
    assert g is not None
    assert g.fraction == pytest.approx((2970 * 0.36 + 990 * 0.38) / 3960)
    assert g.dry_kg == pytest.approx(3960.0)
    assert g.status == "final" and g.samples == 2


def test_recovery_distribution_head_grade_two_product() -> None:
    acc = {e.element: e for e in account_metals(SPEC, MASSES, BAGS, ASSAYS, {"ni": 0.20, "co": 0.03})}
    ni = acc["ni"]
    assert ni.feed_grade_source == "declared" and ni.feed_kg == pytest.approx(2000.0)
    assert ni.black_mass_kg == pytest.approx(0.37 * 4950)
    assert ni.recovery == pytest.approx(0.37 * 4950 / 2000)
    assert ni.status == "final"
    assert ni.distribution["black_mass"] == pytest.approx(1831.5 / (1831.5 + 97.0))
    assert ni.calc_head_grade == pytest.approx((1831.5 + 97.0) / 10_000)
    assert ni.two_product == pytest.approx(0.37 * 0.18 / (0.20 * 0.35))
    co = acc["co"]
    assert math.isnan(co.recovery) and co.status == "none"  # no black-mass assay: unknown, never 0
    assert math.isnan(acc["li"].recovery) and acc["li"].feed_grade_source == "none"


def test_feed_assay_beats_the_declared_grade() -> None:
    assays = [*ASSAYS, a("feed", "ni", 19.0)]
    ni = account_metals(SPEC, MASSES, BAGS, assays, {"ni": 0.20})[0]
    assert ni.feed_grade_source == "assay" and ni.feed_kg == pytest.approx(1900.0)


def test_mass_only_reconciliation() -> None:
    bal, recov = reconcile_batch(SPEC, {**MASSES, "aluminium": 4_800.0})  # 200 kg unaccounted vs a 150 kg prior
    assert bal.dof == 1 and recov == {}
    assert bal.gamma == pytest.approx(50.0**2 / (50.0**2 + 150.0**2 + 48.0**2 + 5.0**2), rel=1e-6)
    rec = {s.stream: s for s in bal.streams}
    total_out = rec["black_mass"].reconciled_kg + rec["aluminium"].reconciled_kg + rec["loss"].reconciled_kg
    assert rec["feed"].reconciled_kg == pytest.approx(total_out)
    assert bal.yield_reconciled == pytest.approx(rec["black_mass"].reconciled_kg / rec["feed"].reconciled_kg)
    assert 0.0005 < bal.yield_sd < 0.005
    assert bal.suspect == ""


def consistent_plant(bias: dict[str, float]) -> tuple[dict[str, float], list[Assay], dict[str, float]]:
    """A plant whose every balance closes, then the named scales biased."""
    feed = 10_000.0
    split = {"black_mass": 0.55, "aluminium": 0.435, "loss": 0.015}
    grades = {  # element -> (feed grade, share of the element to black mass, to aluminium)
        "ni": (0.20, 0.92, 0.065),
        "co": (0.03, 0.92, 0.065),
        "al": (0.10, 0.03, 0.955),
        "li": (0.03, 0.90, 0.085),
    }  # the rest, 1.5 %, is lost: the loss carries the feed's grade, as the prior assumes
    masses = {s: feed * f for s, f in split.items()}
    masses["feed"] = feed
    assays = []
    declared = {}
    for el, (g, to_bm, to_al) in grades.items():
        declared[el] = g
        assays.append(a("black_mass", el, 100 * feed * g * to_bm / masses["black_mass"]))
        assays.append(a("aluminium", el, 100 * feed * g * to_al / masses["aluminium"]))
    for s, b in bias.items():
        masses[s] *= 1 + b
    return masses, assays, declared


def test_joint_reconciliation_of_a_closing_plant_changes_nothing() -> None:
    masses, assays, declared = consistent_plant({})
    bal, recov = reconcile_batch(SPEC, masses, None, assays, declared)
    assert set(bal.elements_used) == {"ni", "co", "li", "al"}
    assert bal.dof == 5 and bal.gamma == pytest.approx(0.0, abs=1e-9)
    assert recov["ni"][0] == pytest.approx(0.92, rel=1e-9)
    assert 0 < recov["ni"][1] < 0.05  # declared feed grade ± 5 % dominates


def test_biased_scale_is_named_when_element_balances_can_tell() -> None:
    masses, assays, declared = consistent_plant({"aluminium": 0.20})
    bal, _ = reconcile_batch(SPEC, masses, None, assays, declared)
    assert bal.p_value < 0.01
    assert bal.suspect == "scale:aluminium"
