"""frozen.maker builds the same frozen dataclass instances as the class's own constructor."""

from __future__ import annotations

import math
import pickle
from dataclasses import FrozenInstanceError, dataclass, field

import msgspec
import pytest

from monitor.core.carbon import CarbonAccount, GhgFactors, OtherInput, lot_carbon
from monitor.core.frozen import maker
from monitor.core.metals import ElementAccount, StreamBalance


def test_maker_gives_the_constructors_instance_frozen_equal_and_same_bytes() -> None:
    values = ("ni", 0.22, "declared", 602.69, math.nan, math.nan, math.nan, "none", {"black_mass": 1.5}, {}, 1.0, 2.0)
    values += (3.0, 4.0)
    made, built = maker(ElementAccount)(*values), ElementAccount(*values)
    assert type(made) is ElementAccount
    assert repr(made) == repr(built)
    assert msgspec.msgpack.encode(made) == msgspec.msgpack.encode(built)
    assert repr(pickle.loads(pickle.dumps(made))) == repr(built)
    with pytest.raises(FrozenInstanceError):
        made.feed_kg = 1.0  # type: ignore[misc]
    sb = maker(StreamBalance)("feed", 2733.3, 2732.6, 12.98, 0.16)
    assert sb == StreamBalance("feed", 2733.3, 2732.6, 12.98, 0.16)
    assert hash(sb) == hash(StreamBalance("feed", 2733.3, 2732.6, 12.98, 0.16))


@dataclass(frozen=True)
class _NoSlots:
    a: int


@dataclass(slots=True)
class _NotFrozen:
    a: int


@dataclass(frozen=True, slots=True)
class _PostInit:
    a: int
    b: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.b.append(self.a)


@pytest.mark.parametrize("cls", [_NoSlots, _NotFrozen, _PostInit, int])
def test_maker_refuses_a_class_it_cannot_build_naming_it(cls: type) -> None:
    with pytest.raises(TypeError, match=cls.__name__):
        maker(cls)


def test_lot_carbon_equals_the_account_its_constructor_builds_field_by_name() -> None:
    f = GhgFactors(
        grid_kg_co2e_per_kwh=0.38,
        grid_source="grid",
        grid_year=2024,
        nitrogen_kg_co2e_per_nm3=0.2,
        nitrogen_source="n2",
        other=(OtherInput(name="diesel", kg_co2e_per_t_feed=3.0),),
    )
    made = lot_carbon(f, energy_kwh=412.5, nitrogen_nm3=250.0, feed_kg=4000.0, black_mass_kg=2348.0)
    electricity, nitrogen, other = 412.5 * 0.38, 250.0 * 0.2, 3.0 * 4000.0 / 1000.0
    total = electricity + nitrogen + other
    built = CarbonAccount(
        energy_kwh=412.5,
        nitrogen_nm3=250.0,
        co2e_kg=total,
        co2e_kg_per_t_black_mass=total / 2.348,
        electricity_co2e_kg=electricity,
        nitrogen_co2e_kg=nitrogen,
        other_co2e_kg=other,
        grid_kg_co2e_per_kwh=0.38,
        grid_source="grid",
        grid_year=2024,
        nitrogen_kg_co2e_per_nm3=0.2,
        nitrogen_source="n2",
        other=f.other,
    )
    assert type(made) is CarbonAccount
    assert repr(made) == repr(built)
    assert msgspec.msgpack.encode(made) == msgspec.msgpack.encode(built)
