"""One page of the latest batch versions, sorted and counted in SQL (the web's lots page before it
holds every lot in memory: after a start, or after a write made on the pages).

The query's conditions are the store's one translation of a `BatchQuery` (`where`, also read by
store/sql.py), so a page holds exactly the rows `latest`/`report_texts` would return, in the order
the pages sort them in memory: the sort column, then the lot id, in the same direction, unknown
values last. Only the report columns the version table also holds can sort here (`SORTABLE`); text
columns a PostgreSQL collation might order differently are left to the caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monitor.errors import InputError, StoreError
from monitor.store.query import BatchQuery

# a report column -> the version table's column holding the same value (store/sql.py version_row)
SORTABLE = {
    "start": "v.start_ts",  # the report's ISO start, stored in whole seconds: the same order
    "line": "v.line",
    "batch_id": "v.batch_id",
    "feed_kg": "v.feed_kg",
    "black_mass_kg": "v.black_mass_kg",
    "black_mass_yield": "v.black_mass_yield",
    "closure": "v.closure",
}
NOT_NULL = frozenset({"start", "line", "batch_id"})
# the latest version: none later of the same lot (an anti-join for PostgreSQL's planner; the former
# `version = (SELECT MAX(version) ...)` ran a sub-plan per row, 90-130 ms on 30,000 lots, as fast on SQLite)
LATEST = (
    "NOT EXISTS (SELECT 1 FROM batch_versions w WHERE w.line = v.line AND w.batch_id = v.batch_id "
    "AND w.version > v.version)"
)


def where(q: BatchQuery) -> tuple[list[str], list[object]]:
    """The query as SQL conditions on batch_versions v (values only ever as parameters)."""
    conditions: list[str] = [LATEST]
    args: list[object] = []
    if q.lines is not None:
        conditions.append(f"v.line IN ({','.join('?' * len(q.lines))})" if q.lines else "1 = 0")
        args += q.lines
    given = (
        ("v.batch_id = ?", q.batch_id),
        ("v.chemistry = ?", q.chemistry),
        ("v.feed_form = ?", q.feed_form),
        ("v.state = ?", None if q.state is None else q.state.value),
        ("v.start_ts >= ?", q.start_from),
        ("v.start_ts < ?", q.start_to),
    )
    for sql, value in given:
        if value is not None:
            conditions.append(sql)
            args.append(value)
    if q.state is None and not q.include_partial:
        conditions.append("v.state != 'partial'")
    return conditions, args


def order_by(sort: str, desc: bool) -> str:
    """ORDER BY of a report column, the lot id next, unknown values last (as the pages sort in memory)."""
    column = SORTABLE.get(sort)
    if column is None:
        raise InputError("batch page sort", f"expected one of {', '.join(SORTABLE)}, got {sort!r}")
    way = " DESC" if desc else ""
    nulls = "" if sort in NOT_NULL else f"({column} IS NULL), "  # a column never null keeps its index's order
    return f"{nulls}{column}{way}, v.batch_id{way}, v.line{way}"


class PagedReads:
    """The paged half of the store's reads (mixed into store.sql.Store)."""

    url: str
    errors: tuple[type[Exception], ...]

    def _read(self, sql: str, args: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def batch_page(self, q: BatchQuery, *, sort: str, desc: bool, offset: int, limit: int) -> tuple[list[str], int]:
        """The stored report batch rows (`batch_texts`) of one page of the lots `q` takes, sorted by a
        SORTABLE report column, and how many lots it takes in all. Light reads: the count and the
        page's keys (narrow columns; by start, the start index read backwards, stopping at the
        page), then only the page's projections, by primary key."""
        conditions, args = where(q)
        cond = " AND ".join(conditions)
        count = f"SELECT COUNT(*) FROM batch_versions v WHERE {cond}"
        page = f"FROM batch_versions v WHERE {cond} ORDER BY {order_by(sort, desc)} LIMIT ? OFFSET ?"
        try:
            if sort == "start":  # the start index read backwards stops at the page; the count reads keys only
                total = int(self._read(count, args)[0][0])
                keys = self._read(f"SELECT v.line, v.batch_id, v.version {page}", [*args, limit, offset])
            else:  # every row is read to sort it anyway: counted in the same pass
                rows = self._read(
                    f"SELECT v.line, v.batch_id, v.version, COUNT(*) OVER () {page}", [*args, limit, offset]
                )
                keys = [r[:3] for r in rows]
                total = int(rows[0][3]) if rows else int(self._read(count, args)[0][0])
            if not keys:
                return [], total
            each = " OR ".join("(line = ? AND batch_id = ? AND version = ?)" for _ in keys)  # key lookups
            found = self._read(
                f"SELECT line, batch_id, version, report_batch FROM batch_versions WHERE {each}",
                [x for k in keys for x in k],
            )
        except self.errors as exc:
            raise StoreError(f"{self.url}: cannot read a page of lots ({q.describe() or 'all'}): {exc}") from exc
        texts = {(str(a), str(b), int(c)): str(t) for a, b, c, t in found}
        return [texts[(str(a), str(b), int(c))] for a, b, c in keys], total

    def listing_choices(self) -> dict[str, list[str]]:
        """The distinct lines, chemistries and feed forms of the lots' latest versions, sorted."""
        try:
            rows = self._read(f"SELECT DISTINCT v.line, v.chemistry, v.feed_form FROM batch_versions v WHERE {LATEST}")
        except self.errors as exc:
            raise StoreError(f"{self.url}: cannot read the lots' lines and chemistries: {exc}") from exc
        return {k: sorted({str(r[i]) for r in rows if r[i]}) for i, k in enumerate(("line", "chemistry", "feed_form"))}
