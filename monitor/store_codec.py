"""BatchResult <-> the JSON text stored per version (the full result; reports read the projection)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from typing import Any

from monitor.core.metals import Balance, ElementAccount, StreamBalance
from monitor.core.results import BatchResult, BatchState, StreamMass


def num(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else x


def result_to_json(r: BatchResult) -> str:
    d = asdict(r)
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
    return BatchResult(**d)
