"""Canonical JSON (RFC 8785, JSON Canonicalization Scheme) of the values a passport holds.

The bytes that get signed must not depend on who serialised the document: object members sorted
by key (UTF-16 code units, as the RFC says), no whitespace, strings with the minimal escapes of
ECMAScript's JSON.stringify, and numbers as ECMAScript prints them (shortest round-trip digits;
exponent form below 1e-6 and from 1e21). NaN and infinities have no JSON form: a passport says
null for an unknown value, so meeting one here is a bug and raises.
"""

from __future__ import annotations

import json
import math
from typing import Any

_MAX_SAFE_INT = 2**53


class CanonicalError(ValueError):
    """A value that has no canonical JSON form (NaN, infinity, a huge integer, a foreign type)."""


def _number(x: float) -> str:
    """ECMAScript Number.prototype.toString for a finite double (RFC 8785 §3.2.2.3)."""
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    mantissa, _, exp = repr(abs(x)).partition("e")  # Python's repr: the shortest digits that round-trip
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    # value = 0.<digits> × 10^n
    n = len(whole.lstrip("0")) if whole.strip("0") else -(len(frac) - len(frac.lstrip("0")))
    n += int(exp or 0)
    digits = digits.rstrip("0") or "0"
    k = len(digits)
    if k <= n <= 21:  # noqa: PLR2004 - ECMAScript Number::toString (RFC 8785 3.2.2.3)
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:  # noqa: PLR2004 - ECMAScript Number::toString (RFC 8785 3.2.2.3)
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:  # noqa: PLR2004 - ECMAScript Number::toString (RFC 8785 3.2.2.3)
        return sign + "0." + "0" * -n + digits
    e = n - 1
    head = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{sign}{head}e{'+' if e > 0 else '-'}{abs(e)}"


def _key(k: str) -> list[int]:
    return list(k.encode("utf-16-be"))  # sort by UTF-16 code units, not code points


def _encode(v: Any, path: str) -> str:
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        if abs(v) > _MAX_SAFE_INT:
            raise CanonicalError(f"{path}: integer {v} is beyond what an IEEE double holds exactly")
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise CanonicalError(f"{path}: {v} has no JSON form (hint: write null for an unknown value)")
        return _number(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list | tuple):
        return "[" + ",".join(_encode(x, f"{path}[{i}]") for i, x in enumerate(v)) + "]"
    if isinstance(v, dict):
        for k in v:
            if not isinstance(k, str):
                raise CanonicalError(f"{path}: object key {k!r} is not a string")
        items = sorted(v.items(), key=lambda kv: _key(kv[0]))
        return (
            "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{_encode(x, f'{path}.{k}')}" for k, x in items) + "}"
        )
    raise CanonicalError(f"{path}: a {type(v).__name__} has no JSON form")


def canonical(value: Any) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of a JSON value (dict, list, str, number, bool, None)."""
    return _encode(value, "$").encode("utf-8")
