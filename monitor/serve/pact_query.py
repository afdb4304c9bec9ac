"""GET /3/footprints query: the v3 filters and RFC 8288 Link pagination (pure).

Filters: productId, companyId, geography, classification, validOn, validAfter, validBefore, status.
Several values of one filter match any of them (OR); different filters must all match (AND).
Pagination: `limit` (1..1000, default 100) and `offset`; the Link header names first, prev, next
and last as absolute URLs on the host the client called.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

LIST_FILTERS = ("productId", "companyId", "geography", "classification", "status")
TIME_FILTERS = ("validOn", "validAfter", "validBefore")
PAGING = ("limit", "offset")
DEFAULT_LIMIT, MAX_LIMIT = 100, 1000


class QueryError(ValueError):
    """A query parameter that is malformed; the message names it and what was expected."""

    def __init__(self, message: str, code: str = "BadRequest") -> None:
        super().__init__(message)
        self.code = code  # the v3 error code: BadRequest, or NotImplemented for a v2 $filter


@dataclass(frozen=True)
class Query:
    lists: Mapping[str, tuple[str, ...]]
    times: Mapping[str, datetime]
    limit: int
    offset: int


def _time(text: str, name: str) -> datetime:
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise QueryError(
            f"query '{name}': expected an RFC 3339 date-time like 2026-01-01T00:00:00Z, got {text[:40]!r}"
        ) from exc
    if t.tzinfo is None:
        raise QueryError(f"query '{name}': expected a time zone (Z or +hh:mm), got {text[:40]!r}")
    return t


def _int(text: str, name: str, lo: int, hi: int) -> int:
    if not text.isdigit() or not lo <= int(text) <= hi:
        raise QueryError(f"query '{name}': expected a whole number from {lo} to {hi}, got {text[:20]!r}")
    return int(text)


def parse_query(items: Sequence[tuple[str, str]]) -> Query:
    """The query string's (key, value) pairs as a Query; QueryError names the first bad one."""
    known = set(LIST_FILTERS) | set(TIME_FILTERS) | set(PAGING)
    if any(k == "$filter" for k, _ in items):
        raise QueryError(
            "query '$filter' (PACT v2) is not implemented: v3 filters are productId, companyId, geography, "
            "classification, validOn, validAfter, validBefore and status",
            "NotImplemented",
        )
    unknown = sorted({k for k, _ in items} - known)
    if unknown:
        raise QueryError(f"query '{unknown[0]}': not a filter of this endpoint ({', '.join(sorted(known))})")
    lists = {f: tuple(v for k, v in items if k == f) for f in LIST_FILTERS}
    times: dict[str, datetime] = {}
    for k, v in items:
        if k in TIME_FILTERS:
            if k in times:
                raise QueryError(f"query '{k}': expected once, got it twice")
            times[k] = _time(v, k)
    last = {k: v for k, v in items if k in PAGING}
    limit = _int(last["limit"], "limit", 1, MAX_LIMIT) if "limit" in last else DEFAULT_LIMIT
    offset = _int(last["offset"], "offset", 0, 10**9) if "offset" in last else 0
    return Query({k: v for k, v in lists.items() if v}, times, limit, offset)


def _geographies(pcf: Mapping[str, Any]) -> set[str]:
    keys = ("geographyCountry", "geographyRegionOrSubregion", "geographyCountrySubdivision")
    return {str(pcf[k]) for k in keys if pcf.get(k)}


def matches(f: Mapping[str, Any], q: Query) -> bool:
    """A footprint against every filter of the query (AND), each filter's values OR-ed."""
    have = {
        "productId": set(f.get("productIds", ())),
        "companyId": set(f.get("companyIds", ())),
        "classification": set(f.get("productClassifications", ())),
        "geography": _geographies(f.get("pcf", {})),
        "status": {str(f.get("status"))},
    }
    if any(not (have[k] & set(v)) for k, v in q.lists.items()):
        return False
    start = datetime.fromisoformat(str(f["validityPeriodStart"]).replace("Z", "+00:00"))
    end = datetime.fromisoformat(str(f["validityPeriodEnd"]).replace("Z", "+00:00"))
    t = q.times
    return (
        ("validOn" not in t or start <= t["validOn"] <= end)
        and ("validAfter" not in t or start > t["validAfter"])
        and ("validBefore" not in t or end < t["validBefore"])
    )


def page(
    found: Sequence[Mapping[str, Any]], q: Query, base: str, items: Sequence[tuple[str, str]]
) -> tuple[list[Mapping[str, Any]], str | None]:
    """The page `q` asks for and its Link header (None when everything fits on one page from 0)."""
    chunk = list(found[q.offset : q.offset + q.limit])
    total = len(found)
    if q.offset == 0 and total <= q.limit:
        return chunk, None
    keep = [(k, v) for k, v in items if k not in PAGING]

    def url(offset: int) -> str:
        return f"{base}?{urlencode([*keep, ('offset', str(offset)), ('limit', str(q.limit))])}"

    last = max(0, (total - 1) // q.limit * q.limit)
    links = [f'<{url(0)}>; rel="first"']
    if q.offset > 0:
        links.append(f'<{url(max(0, q.offset - q.limit))}>; rel="prev"')
    if q.offset + q.limit < total:
        links.append(f'<{url(q.offset + q.limit)}>; rel="next"')
    links.append(f'<{url(last)}>; rel="last"')
    return chunk, ", ".join(links)
