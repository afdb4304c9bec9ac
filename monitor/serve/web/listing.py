"""The lots page's question, read from the URL: filters, sorting and paging over the report rows.

The store's filters (period, line, chemistry, feed form, state) are the one `BatchQuery`
(store/query.py), parsed by its own parser; the page adds supplier, "flagged only", sorting and
paging on top. Everything here is pure: `parse_query` turns the query string into a `LotQuery`
(refusing what it cannot read, naming the field), `select` filters, sorts and pages every lot's
report rows, `query_string` writes a query back for a link.

A page filters the rows of every lot held in memory (`rows_of`: the BatchQuery's conditions as
polars expressions, the store's SQL in another form) instead of asking the store again: 30,000
rows filter in milliseconds, a store read takes 0.6-1.4 s. tests/web/test_web_http.py holds the
two to the same lots for every filter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

import polars as pl

from monitor.errors import InputError
from monitor.store.paging import SORTABLE
from monitor.store.query import STATES, BatchQuery, Given, iso
from monitor.store.query import parse_query as parse_batch_query

PAGE_SIZE = 50
# what a column header sorts by: the URL's short name -> the report row's column
SORTS = {
    "start": "start",
    "line": "line",
    "lot": "batch_id",
    "chemistry": "chemistry",
    "feed_form": "feed_form",
    "supplier": "supplier",
    "feed": "feed_kg",
    "bm": "black_mass_kg",
    "yield": "black_mass_yield",
    "closure": "closure",
    "ni": "recovery_ni",
    "co": "recovery_co",
    "li": "recovery_li",
    "state": "state",
    "assay": "assay_status",
}
TEXT_FILTERS = ("line", "chemistry", "feed_form", "supplier", "state")
__all__ = ["STATES", "LotQuery", "batch_query", "in_store", "parse_query", "query_string", "rows_of", "select"]


@dataclass(frozen=True, kw_only=True)
class LotQuery:
    """One lots page: which lots (filters), in which order, which page. Text as the person typed it."""

    start_from: str = ""  # a date or datetime (UTC when naive): lots starting at or after
    start_to: str = ""  # lots starting before
    line: str = ""
    chemistry: str = ""
    feed_form: str = ""
    supplier: str = ""
    state: str = ""
    flagged: bool = False
    sort: str = "start"
    desc: bool = True
    page: int = 1

    @property
    def filtered(self) -> bool:
        return any(getattr(self, k) for k in (*TEXT_FILTERS, "start_from", "start_to", "flagged"))


_URL_NAMES = {"start_from": "from", "start_to": "to"}  # field -> URL parameter (the CLI's words)
DEFAULT = LotQuery()


def _flag(text: str, key: str) -> bool:
    if text.lower() in ("1", "true", "on", "yes"):
        return True
    if text.lower() in ("", "0", "false", "off", "no"):
        return False
    raise InputError(f"query '{key}'", f"expected on or off, got {text!r}")


def batch_query(q: LotQuery) -> BatchQuery:
    """The store's part of the page's filters (every state, partial lots included, unless one is named)."""
    given: dict[str, Given] = {"from": q.start_from, "to": q.start_to, "line": q.line or None}
    given |= {"chemistry": q.chemistry, "feed_form": q.feed_form, "state": q.state, "include_partial": True}
    return parse_batch_query(given, label=lambda k: f"query '{k}'")


def parse_query(q: Mapping[str, str]) -> LotQuery:
    """The LotQuery of a URL's query; InputError naming the parameter for a value it cannot read.
    Unknown parameters are ignored (a mailed link from a newer version still opens)."""
    get = {k: q.get(k, "").strip() for k in ("from", "to", *TEXT_FILTERS, "flagged", "sort", "desc", "page")}
    sort = get["sort"] or DEFAULT.sort
    if sort not in SORTS:
        raise InputError("query 'sort'", f"expected one of {', '.join(SORTS)}, got {sort!r}")
    page_text = get["page"] or "1"
    if not page_text.isdigit() or int(page_text) < 1:
        raise InputError("query 'page'", f"expected a page number from 1, got {page_text!r}")
    lots = LotQuery(
        start_from=get["from"],
        start_to=get["to"],
        **{k: get[k] for k in TEXT_FILTERS},
        flagged=_flag(get["flagged"], "flagged"),
        sort=sort,
        desc=_flag(get["desc"], "desc") if get["desc"] else DEFAULT.desc,
        page=int(page_text),
    )
    batch_query(lots)  # refuses a bad date or state, naming the parameter
    return lots


def query_string(q: LotQuery, **changes: Any) -> str:
    """The URL query of `q` with `changes` (defaults left out): "?line=L1&sort=yield"."""
    from urllib.parse import urlencode  # noqa: PLC0415 - small; keeps the module's imports about frames

    q = replace(q, **changes)
    pairs: list[tuple[str, str]] = []
    for f in fields(q):
        value = getattr(q, f.name)
        if value == getattr(DEFAULT, f.name):
            continue
        text = ("1" if value else "0") if isinstance(value, bool) else str(value)
        pairs.append((_URL_NAMES.get(f.name, f.name), text))
    return "?" + urlencode(pairs) if pairs else "?"


def _filters(q: LotQuery) -> list[pl.Expr]:
    """The page's own filters on top of the store's (which `frame` has already been read with)."""
    out = [pl.col("supplier") == q.supplier] if q.supplier else []
    if q.flagged:
        out.append(pl.col("flags").fill_null("") != "")
    return out


def rows_of(every: pl.DataFrame, q: BatchQuery) -> pl.DataFrame:
    """The rows of `every` (report rows of every lot's latest version, in the store's order) that the
    store would return for `q` (store/paging.py where). Bounds are whole seconds (starts are stored so)."""
    out: list[pl.Expr] = []
    if q.lines is not None:
        out.append(pl.col("line").is_in(list(q.lines)))
    for column, value in (("batch_id", q.batch_id), ("chemistry", q.chemistry), ("feed_form", q.feed_form)):
        if value is not None:
            out.append(pl.col(column) == value)
    if q.state is not None:
        out.append(pl.col("state") == q.state.value)
    elif not q.include_partial:
        out.append(pl.col("state") != "partial")
    if q.start_from is not None:
        out.append(pl.col("start") >= iso(q.start_from))
    if q.start_to is not None:
        out.append(pl.col("start") < iso(q.start_to))
    return every.filter(*out) if out else every


def select(every: pl.DataFrame, q: LotQuery, page_size: int = PAGE_SIZE) -> tuple[pl.DataFrame, int]:
    """The rows of page `q.page` and how many rows match in all (the page past the end is empty);
    `every`: the report rows of every lot."""
    frame = rows_of(every, batch_query(q))
    conditions = _filters(q)
    matched = frame.filter(*conditions) if conditions else frame
    ordered = matched.sort(SORTS[q.sort], "batch_id", descending=q.desc, nulls_last=True)
    return ordered.slice((q.page - 1) * page_size, page_size), matched.height


def in_store(q: LotQuery) -> bool:
    """Whether the store can page `q` itself (store/paging.py): no supplier or "flagged" filter (only
    the report rows hold those) and a sort column the version table holds too."""
    return not q.supplier and not q.flagged and SORTS[q.sort] in SORTABLE


def window(q: LotQuery, page_size: int = PAGE_SIZE) -> dict[str, int]:
    """The page's rows as the store's offset and limit."""
    return {"offset": (q.page - 1) * page_size, "limit": page_size}


def choices(frame: pl.DataFrame) -> dict[str, list[str]]:
    """The filters' choices in the rows: lines, chemistries, feed forms, suppliers."""
    return {k: options(frame, k) for k in ("line", "chemistry", "feed_form", "supplier")}


def options(frame: pl.DataFrame, column: str) -> list[str]:
    """The distinct values of a column (the filter's choices), sorted."""
    return sorted(v for v in frame[column].unique().to_list() if v)
