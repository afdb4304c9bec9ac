"""How the pages print numbers: unknown is a dash (never 0), masses in t or kg, ratios in %."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from monitor.store.rows import iso

DASH = "–"


def _num(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    return float(x) if math.isfinite(x) else None


def tonnes(x: Any) -> str:
    """kg as t to 3 decimals."""
    v = _num(x)
    return DASH if v is None else f"{v / 1000:,.3f}"


def kg(x: Any) -> str:
    v = _num(x)
    return DASH if v is None else f"{v:,.1f}"


def pct(x: Any, digits: int = 1) -> str:
    """A ratio as a percentage."""
    v = _num(x)
    return DASH if v is None else f"{v * 100:.{digits}f}"


def num(x: Any, digits: int = 3) -> str:
    v = _num(x)
    return DASH if v is None else f"{v:,.{digits}f}"


def text(x: Any) -> str:
    return DASH if x is None or x == "" else str(x)


def value(x: Any) -> str:
    """Any value in a version diff: numbers to 4 significant decimals, the rest as text."""
    v = _num(x)
    if v is not None:
        return f"{v:,.4f}".rstrip("0").rstrip(".") if not float(v).is_integer() else f"{int(v):,}"
    return text(x)


def segment(x: Any) -> str:
    """A value as one URL path segment: every reserved character quoted, "/" too (lot ids may hold one)."""
    return quote(str(x), safe="")


def when(x: Any) -> str:
    """Epoch seconds as ISO 8601 UTC."""
    v = _num(x)
    return DASH if v is None else iso(v)


FILTERS: dict[str, Callable[..., str]] = {
    "t": tonnes,
    "kg": kg,
    "pct": pct,
    "num": num,
    "text": text,
    "value": value,
    "iso": when,
    "seg": segment,
}
