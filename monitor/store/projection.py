"""The report projection of many lots at once: their rows as one polars frame per part, written as CSV
once and cut back into each lot's text.

The text is byte for byte what Python's csv module writes for the lot's rows (store/lotvalues.py
`Part.clean`), which is how a few lots (under BULK_FROM) are written, and every lot polars would
write differently: a value not of its column's type (an int among floats, a bool), a text with a
line break (csv and polars quote a lone CR differently, and a break would cut the lot's lines
wrong). Floats polars formats otherwise than repr (0 < |x| < 1e-4: 1e-05 against 0.00001) are
written with repr into the column's text. tests/test_projection_bulk.py holds both ways to the
projection as it was written before (csv.writer over one lot's dict rows).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import polars as pl

from monitor.core.results import BatchResult
from monitor.store.lotvalues import PARTS, Column, Part

TINY = 1e-4  # below this (and not 0) repr writes an exponent, polars positional digits or a shorter exponent
_NATURAL: dict[Any, type] = {pl.String: str, pl.Float64: float, pl.Int64: int}
_INT64 = (-(2**63), 2**63 - 1)
BULK_FROM = 40  # lots: below, a frame costs more than it saves (1 lot: 3.7 ms against 0.15 ms by csv)


@dataclass(frozen=True, slots=True)
class Projection:
    """A batch version's report rows as CSV text, one part per report frame."""

    batch: str
    streams: str
    recoveries: str


def csv_text(rows: Iterable[Iterable[object]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def projections(results: Sequence[BatchResult]) -> list[Projection]:
    """The report rows stored beside each batch version (columns in COLUMNS order, no header)."""
    if not results:
        return []
    texts = [_part_texts(part, results) for part in PARTS]
    return [Projection(*t) for t in zip(*texts, strict=True)]


def projection(r: BatchResult) -> Projection:
    """One lot's projection (projections of one lot)."""
    return projections([r])[0]


def _part_texts(part: Part, results: Sequence[BatchResult]) -> list[str]:
    """Each lot's rows of one part as CSV text."""
    counts = [part.count(r) for r in results]
    cols = part.gather(results)
    if not cols[0]:
        return [""] * len(results)
    lines, csv_lots = _bulk_lines(part, cols, counts) if len(results) >= BULK_FROM else ([], set(range(len(results))))
    out, k, at = [], 0, 0
    for i, n in enumerate(counts):
        if i in csv_lots:
            rows = zip(*[col[at : at + n] for col in cols], strict=True)
            out.append(csv_text(part.clean(row) for row in rows))
        else:
            out.append("\n".join(lines[k : k + n]) + "\n" if n else "")
            k += n
        at += n
    return out


def _bulk_lines(part: Part, cols: list[Column], counts: list[int]) -> tuple[list[str], set[int]]:
    """The rows of every lot polars writes as csv does, as lines in order, and the lots it leaves out."""
    odd: set[int] = set()
    typed = [_typed(dtype, col, odd) for (_, dtype), col in zip(part.columns, cols, strict=True)]
    frame = _frame(part, typed)
    if not odd:
        return frame.write_csv(include_header=False).split("\n"), set()
    owner = [i for i, n in enumerate(counts) for _ in range(n)]
    odd_lots = {owner[i] for i in odd}
    frame = frame.filter(pl.Series([i not in odd_lots for i in owner]))
    return frame.write_csv(include_header=False).split("\n"), odd_lots


def _typed(dtype: Any, col: Column, odd: set[int]) -> Column:
    """The column with None for each value polars would not write as csv does, whose row joins `odd`:
    one not of the column's type (an int among floats, a bool), an int beyond 64 bits, a line break."""
    natural = _NATURAL[dtype]
    kinds = set(map(type, col))
    bad: set[int] = set()
    if not kinds <= {natural, type(None)}:
        bad = {i for i, x in enumerate(col) if x is not None and type(x) is not natural}
    if (
        natural is int
        and (ints := [x for x in col if type(x) is int])
        and not _INT64[0] <= min(ints) <= max(ints) <= _INT64[1]
    ):
        bad |= {i for i, x in enumerate(col) if type(x) is int and not _INT64[0] <= x <= _INT64[1]}
    if natural is str:
        text = "".join([x for x in col if isinstance(x, str)] if bad or type(None) in kinds else cast("list[str]", col))
        if "\n" in text or "\r" in text:
            bad |= {i for i, x in enumerate(col) if type(x) is str and ("\n" in x or "\r" in x)}
    odd |= bad
    return [None if i in bad else x for i, x in enumerate(col)] if bad else col


def _frame(part: Part, cols: list[Column]) -> pl.DataFrame:
    """The part's columns as a frame polars writes as csv would: empty text and an unknown float as
    an empty cell; a float polars formats otherwise than repr, or a kept not-finite one, as repr."""
    floats = [j for j, (_, dtype) in enumerate(part.columns) if dtype == pl.Float64]
    block = np.array([cols[j] for j in floats], dtype=np.float64).reshape(len(floats), -1)  # None -> NaN
    with np.errstate(invalid="ignore"):
        special = (np.abs(block) < TINY) & (block != 0.0)
    kept = [k for k, j in enumerate(floats) if not part.unknown[j]]
    special[kept] |= ~np.isfinite(block[kept])  # a not-finite float kept as it is: repr ("nan")
    block[np.isinf(block)] = np.nan  # in an unknown column, unknown (and written over when kept)
    at = {j: k for k, j in enumerate(floats)}
    series = []
    for j, ((name, dtype), col) in enumerate(zip(part.columns, cols, strict=True)):
        if j not in at:  # an empty text as None: polars writes "" for it, csv nothing
            series.append(pl.Series(name, [x or None for x in col] if dtype == pl.String else col, dtype=dtype))
            continue
        s = pl.Series(name, block[at[j]], nan_to_null=True)
        if special[at[j]].any():
            idx = [i for i in np.flatnonzero(special[at[j]]).tolist() if col[i] is not None]
            s = s.cast(pl.String).scatter(idx, [repr(col[i]) for i in idx])
        series.append(s)
    return pl.DataFrame(series)
