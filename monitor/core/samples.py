"""Samples: the one thing collectors produce."""

from __future__ import annotations

import math
from collections.abc import Mapping
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
    retimed: bool = False  # the source timestamp was missing or implausible: ts is the server's or ours
    uncertain_s: float = 0.0  # the value happened within [ts - uncertain_s, ts]: its clock was learnt from receipts


# A sample of this tag says "the server's clock read ts": every value stamped up to ts has been
# delivered, so time moves on even when no tag changes (the last lot before a line stops closes).
SERVER_CLOCK = "@server-clock"

# A sample of this tag says "this source delivered everything it will stamp up to ts" (a Modbus poll
# completed at ts, its values unchanged): it moves that source's watermark (monitor/core/watermarks.py).
SOURCE_CLOCK = "@source-clock"


def lot_id_text(value: float | str | None, idle: tuple[str, ...] = ()) -> str | None:
    """A lot-id value as text; '' means no lot; None when it cannot be a lot id.

    Strings lose whitespace and NUL padding (S7 strings); integer ids are written without a
    fraction; 0, all-NUL and the configured idle words mean no lot.
    """
    if isinstance(value, str):
        text = value.replace("\x00", "").strip()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value) or value != int(value):
            return None
        text = "" if value == 0 else str(int(value))
    else:
        return None
    return "" if text in idle else text


def text_value(value: float | str | None, codes: Mapping[str, str] | None = None) -> str | None:
    """An attribute or bag-id value as text: strings lose NUL padding and whitespace, integer codes
    go through the configured table (`codes`); None when it cannot be one."""
    if isinstance(value, str):
        return value.replace("\x00", "").strip()
    text = lot_id_text(value)
    return text if text is None or not codes else codes.get(text, text)
