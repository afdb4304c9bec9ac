"""The stored JSON of a result: the fast encoder writes exactly what the old walk of every value wrote."""

from __future__ import annotations

import json
import math
from dataclasses import fields, is_dataclass, replace
from typing import Any

import pytest

from monitor.core.carbon import CarbonAccount, OtherInput
from monitor.core.metals import Balance, ElementAccount, StreamBalance
from monitor.core.results import BatchResult, BatchState, StreamMass
from monitor.store.codec import result_from_json, result_to_json

NAN = float("nan")


def walked(r: BatchResult) -> str:
    """The encoder as it was: a Python walk turning dataclasses into dicts and tuples into lists."""

    def plain(x: Any) -> Any:
        if is_dataclass(x) and not isinstance(x, type):
            return {f.name: plain(getattr(x, f.name)) for f in fields(x)}
        if isinstance(x, tuple | list):
            return [plain(v) for v in x]
        if isinstance(x, dict):
            return {k: plain(v) for k, v in x.items()}
        return x

    d = plain(r)
    d["state"] = r.state.value
    return json.dumps(d, sort_keys=True, allow_nan=True)


def rich() -> BatchResult:
    """Every nested type a stored result carries, NaNs, bags and an empty dict included."""
    bags = tuple((f"BAG-{i:04d}", 1000.0 + i / 7) for i in range(40))
    return BatchResult(
        line="L2",
        batch_id="L2-00042",
        start=1_700_000_000.25,
        end=1_700_010_000.5,
        state=BatchState.ASSAYED,
        chemistry="NMC622",
        feed_form="modules",
        supplier="ACME",
        streams=(
            StreamMass("feed", 4000.0, "totalizer", 1.0, 2.0, 120, ("feed:boundary_split",), (), 3.25),
            StreamMass("black_mass", 2350.5, "weighing", 1.0, 2.5, 40, (), bags),
        ),
        yields={"black_mass": 0.587625, "loss": NAN},
        closure=0.9971,
        flags=("feed:rollover", "late"),
        rejected_samples=3,
        version=4,
        metals=(
            ElementAccount("Ni", 0.12, "assay", 480.0, 0.2, 470.1, 0.979, "final", {"black_mass": 470.1}, {}),
            ElementAccount("Co", NAN, "none", NAN, NAN, NAN, NAN, "none"),
        ),
        balance=Balance(
            0.03, 1, 0.86, 0.5876, 0.002, (StreamBalance("feed", 4000.0, 3999.1, 12.9, 0.16),), "", ("Ni",)
        ),
        assay_status="final",
        energy_kwh=812.5,
        nitrogen_nm3=NAN,
        carbon=CarbonAccount(
            energy_kwh=812.5,
            nitrogen_nm3=40.0,
            co2e_kg=300.0,
            co2e_kg_per_t_black_mass=127.6,
            electricity_co2e_kg=280.0,
            nitrogen_co2e_kg=12.0,
            other_co2e_kg=8.0,
            grid_kg_co2e_per_kwh=0.35,
            grid_source="grid mix",
            grid_year=2025,
            nitrogen_kg_co2e_per_nm3=0.3,
            nitrogen_source="supplier",
            other=(OtherInput(name="diesel", kg_co2e_per_t_feed=2.0, source="log"),),
        ),
        origin=(("post-consumer", 0.75), ("production scrap", 0.25)),
    )


@pytest.mark.parametrize(
    "r",
    [rich(), replace(rich(), balance=None, carbon=None, metals=(), origin=(), state=BatchState.PARTIAL)],
    ids=["every-part", "bare"],
)
def test_stored_json_is_what_the_walk_wrote(r: BatchResult) -> None:
    text = result_to_json(r)
    assert text == walked(r)
    assert len(text) > 2000 if r.balance else len(text) > 500
    back = result_from_json(text)
    assert back.bags == r.bags and back.version == 4 and back.state is r.state
    assert back.mass("black_mass") == 2350.5 and math.isnan(back.yields["loss"])
    assert result_to_json(back) == text  # read back, written again: the same text


def test_an_unstorable_value_names_its_type() -> None:
    with pytest.raises(TypeError, match="cannot store a set"):
        result_to_json(replace(rich(), yields={"black_mass": {0.5}}))  # type: ignore[dict-item]
