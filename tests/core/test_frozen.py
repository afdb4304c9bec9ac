"""frozen.maker builds the same frozen dataclass instances as the class's own constructor."""

from __future__ import annotations

import math
import pickle
from dataclasses import FrozenInstanceError, dataclass, field

import msgspec
import pytest

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
