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


def _plain(x: Any) -> Any:
    """Dataclasses as dicts, tuples as lists; no deep copies (dataclasses.asdict made saving slow)."""
    if is_dataclass(x) and not isinstance(x, type):
        return {f.name: _plain(getattr(x, f.name)) for f in fields(x)}
    if isinstance(x, tuple | list):
        return [_plain(v) for v in x]
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    return x


def result_to_json(r: BatchResult) -> str:
    d = _plain(r)
    d["state"] = r.state.value
    return json.dumps(d, sort_keys=True, allow_nan=True)


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
