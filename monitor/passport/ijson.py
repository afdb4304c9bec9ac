"""Reading a passport to verify: I-JSON (RFC 7493) or refused.

A verifier must see exactly what the signer signed. JSON parsers disagree on a duplicate key
(Python keeps the last copy, others the first: a forged first copy would pass one reader and
fool another), on lone surrogates and on numbers beyond an IEEE double; RFC 7493 forbids all
three, so verify refuses them before it looks at the signature.
"""

from __future__ import annotations

import json
import math
from typing import Any

from monitor.errors import InputError

_MAX_SAFE_INT = 2**53


class NotIJson(InputError):
    """JSON that RFC 7493 forbids: the document is not valid, whatever its signature says."""


def _no_duplicates(where: str) -> Any:
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in pairs:
            if k in out:
                raise NotIJson(where, f"key {k[:60]!r} appears twice in one object; refused (RFC 7493 §2.3)")
            out[k] = v
        return out

    return hook


def _int(where: str) -> Any:
    def parse(text: str) -> int:
        v = int(text)
        if abs(v) > _MAX_SAFE_INT:
            raise NotIJson(where, f"integer {text[:30]} is beyond an IEEE double's exact range (RFC 7493 §2.2)")
        return v

    return parse


def _float(where: str) -> Any:
    def parse(text: str) -> float:
        v = float(text)
        if not math.isfinite(v):
            raise NotIJson(where, f"number {text[:30]} overflows an IEEE double (RFC 7493 §2.2)")
        return v

    return parse


def _constant(where: str) -> Any:
    def parse(name: str) -> None:
        raise NotIJson(where, f"{name} is not JSON (RFC 8259 §6)")

    return parse


def _check_strings(value: Any, where: str) -> None:
    stack = [value]
    while stack:
        v = stack.pop()
        texts = [v] if isinstance(v, str) else list(v) if isinstance(v, dict) else []
        for s in texts:
            try:
                s.encode("utf-8")
            except UnicodeEncodeError:
                raise NotIJson(where, "a string holds a lone surrogate (not Unicode text; RFC 7493 §2.1)") from None
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)


def load_ijson(text: str, where: str) -> Any:
    """The JSON value of `text`, or InputError when it is not I-JSON."""
    try:
        value = json.loads(
            text,
            object_pairs_hook=_no_duplicates(where),
            parse_int=_int(where),
            parse_float=_float(where),
            parse_constant=_constant(where),
        )
    except (json.JSONDecodeError, RecursionError) as exc:
        raise InputError(where, f"not JSON: {exc}") from None
    _check_strings(value, where)
    return value
