"""Samples: the one thing collectors produce."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Quality(IntEnum):
    GOOD = 0
    UNCERTAIN = 1
    BAD = 2


def quality_from_status(code: int) -> Quality:
    """Map an OPC-UA StatusCode to a quality from its two severity bits (Part 4, 7.39)."""
    severity = (code >> 30) & 0b11
    if severity == 0:
        return Quality.GOOD
    if severity == 1:
        return Quality.UNCERTAIN
    return Quality.BAD


@dataclass(frozen=True, slots=True)
class Sample:
    """One value of one tag at its source timestamp (UTC epoch seconds).

    `value` is a float for measurements and a str for batch ids, chemistry and feed form;
    `status` keeps the raw OPC-UA StatusCode (0 = Good).
    """

    tag: str
    ts: float
    value: float | str | None
    quality: Quality = Quality.GOOD
    status: int = 0
