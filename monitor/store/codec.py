"""BatchResult <-> its stored forms: MessagePack bytes per version in the store (the full result;
reports read the projection), and the canonical JSON text (the passport hashes it, the API returns it).

MessagePack keeps a float's 64 bits, NaN included (a result carries dozens of NaNs: "unknown"), and is
written and read by msgspec's C code: 8x faster to write than the JSON text, 2x to read (issue 20).
"""

from __future__ import annotations

import json
import math
from dataclasses import fields, is_dataclass, replace
from typing import Any

import msgspec

from monitor.core.carbon import CarbonAccount, OtherInput
from monitor.core.metals import Balance, ElementAccount, StreamBalance
from monitor.core.results import BatchResult, BatchState, StreamMass
from monitor.errors import StoreError


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


def _plain_float(x: object) -> object:
    """msgspec's hook for what it cannot encode itself: numpy's float64 (a float subclass) as the float."""
    if isinstance(x, float):
        return float(x)
    raise TypeError(
        f"result_to_msgpack: cannot store a {type(x).__name__} ({x!r}); expected dataclasses, "
        "tuples, dicts, str and numbers (hint: a core result grew a field of a new type)"
    )


# dict keys sorted, as the JSON text sorts them: equal results are equal bytes whatever order their
# dicts were filled in (store/sql.py compares a new result's bytes with the stored version's)
_PACKER = msgspec.msgpack.Encoder(enc_hook=_plain_float, order="deterministic")
_UNPACKER = msgspec.msgpack.Decoder(BatchResult)  # typed: dataclasses, tuples and the state enum built in C


def result_to_msgpack(r: BatchResult) -> bytes:
    """The stored form of a result (store column batch_versions.result_msgpack)."""
    try:
        return _PACKER.encode(r)
    except OverflowError as exc:
        raise StoreError(
            f"lot {r.batch_id!r} version {r.version}: cannot store the result: {exc} (MessagePack holds "
            "64-bit ints; hint: a count in the result is not a count)"
        ) from exc


def result_from_msgpack(blob: bytes, line: str, batch_id: str, version: int) -> BatchResult:
    """The stored result of (line, batch_id, version) back; an int in a float field reads as that float."""
    try:
        return _UNPACKER.decode(blob)
    except (msgspec.DecodeError, TypeError) as exc:  # ValidationError included; TypeError: a text cell
        raise StoreError(
            f"batch_versions line {line!r} lot {batch_id!r} version {version}: the stored result "
            f"({len(blob)} {'bytes' if isinstance(blob, bytes) else type(blob).__name__}) does not decode as "
            f"a BatchResult: {exc} (hint: a row "
            "written by hand or a damaged file; restore the store from a backup)"
        ) from exc


def results_of(rows: list[tuple[Any, ...]]) -> list[BatchResult]:
    """Store rows (line, batch_id, version, result_msgpack) as their results."""
    return [result_from_msgpack(blob, line, lot, version) for line, lot, version, blob in rows]


def same_but_version(stored: tuple[int, bytes], key: tuple[str, str], result: BatchResult) -> bool:
    """Is `result` the stored (version, bytes) of lot `key` but for its number? Equal bytes say yes
    at once; else the canonical JSON texts decide, as they did before the bytes: a NaN's bits (numpy's
    0/0 sets the sign) are no change."""
    version, blob = stored
    if result_to_msgpack(replace(result, version=version)) == blob:
        return True
    old = result_from_msgpack(blob, *key, version)
    return result_to_json(replace(old, version=0)) == result_to_json(replace(result, version=0))


def msgpack_of_json(text: str, line: str, batch_id: str, version: int) -> bytes:
    """A schema 1-3 row's result text as schema 4's bytes (store upgrade): the same result, stored anew."""
    try:
        r = result_from_json(text)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise StoreError(
            f"batch_versions line {line!r} lot {batch_id!r} version {version}: the stored result_json does "
            f"not read as a BatchResult: {exc!r} (hint: a row edited by hand; restore the store from a backup)"
        ) from exc
    return result_to_msgpack(r)
