"""BatchResult <-> the JSON text stored per version (the full result; reports read the projection)."""

from __future__ import annotations

import json
import math
from dataclasses import fields, is_dataclass
from typing import Any

from monitor.core.carbon import CarbonAccount, OtherInput
from monitor.core.metals import Balance, ElementAccount, StreamBalance
from monitor.core.results import BatchResult, BatchState, StreamMass


def num(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else x


_FIELDS: dict[type, tuple[str, ...]] = {}


def _fields_of(x: object) -> dict[str, Any]:
    """json's hook for what it cannot encode itself: a dataclass as a dict of its fields (one level; the
    C encoder walks on, tuples as lists). A Python walk of every value made saving slow."""
    names = _FIELDS.get(type(x))
    if names is None:
        if not is_dataclass(x) or isinstance(x, type):
            raise TypeError(
                f"result_to_json: cannot store a {type(x).__name__} ({x!r}); expected dataclasses, "
                "tuples, dicts, str and numbers (hint: a core result grew a field of a new type)"
            )
        names = _FIELDS.setdefault(type(x), tuple(f.name for f in fields(x)))
    return {n: getattr(x, n) for n in names}


# json.dumps(r, default=_fields_of, sort_keys=True, allow_nan=True) built an encoder per call and kept
# every container it entered to detect cycles (a result has none): the same text, 6 % less time
_ENCODER = json.JSONEncoder(default=_fields_of, sort_keys=True, allow_nan=True, check_circular=False)


def result_to_json(r: BatchResult) -> str:
    # state is a StrEnum: encoded as its value
    return _ENCODER.encode(r)


def result_from_json(text: str) -> BatchResult:
    d: dict[str, Any] = json.loads(text)
    d["state"] = BatchState(d["state"])
    d["streams"] = tuple(
        StreamMass(**{**s, "flags": tuple(s["flags"]), "items": tuple(tuple(i) for i in s.get("items", ()))})
        for s in d["streams"]
    )
    d["flags"] = tuple(d["flags"])
    d["metals"] = tuple(ElementAccount(**m) for m in d.get("metals", ()))
    if d.get("balance") is not None:
        b = d["balance"]
        d["balance"] = Balance(
            **{
                **b,
                "streams": tuple(StreamBalance(**x) for x in b["streams"]),
                "elements_used": tuple(b["elements_used"]),
            }
        )
    if d.get("carbon") is not None:
        c = d["carbon"]
        d["carbon"] = CarbonAccount(**{**c, "other": tuple(OtherInput(**o) for o in c.get("other", ()))})
    d["origin"] = tuple((str(k), float(v)) for k, v in d.get("origin", ()))
    return BatchResult(**d)
