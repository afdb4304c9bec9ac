"""The report projection: each stored batch version as flat report rows, kept beside it in the store.

Reports read the projection, not the full results: a 30,000-batch export joins the stored CSV
lines and parses them once with polars, instead of rebuilding 30,000 nested dataclasses from
JSON. Unknown values are null (never 0). Bump PROJECTION_VERSION when a column changes: the
store then rebuilds every projection from the full results when it opens.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Sequence
from typing import Any

import polars as pl

from monitor.core.assays import ELEMENTS, Assay
from monitor.core.results import BatchResult
from monitor.store.lotvalues import (
    COLUMNS,
    ELEMENT_PRODUCTS,
    METALS,
    PRODUCTS,
    RECOVERY_COLUMNS,
    STREAM_COLUMNS,
    batch_row,
    recovery_rows,
    stream_rows,
)
from monitor.store.projection import Projection, csv_text, projection, projections
from monitor.store.query import iso

__all__ = [
    "ASSAY_COLUMNS",
    "COLUMNS",
    "ELEMENT_PRODUCTS",
    "METALS",
    "PRODUCTS",
    "PROJECTION_VERSION",
    "RECOVERY_COLUMNS",
    "STREAM_COLUMNS",
    "Projection",
    "assay_rows",
    "batch_row",
    "decode",
    "decode_assays",
    "decode_batches",
    "frames",
    "iso",
    "projection",
    "projections",
    "recovery_rows",
    "stream_rows",
]

PROJECTION_VERSION = 3  # 2: nitrogen, CO2e with its factors, origin shares; 3: Cu/Al/Fe in their products

# Lab results one row per sample, elements side by side (wt %, dry basis), as labs report them.
ASSAY_COLUMNS: list[tuple[str, Any]] = [
    ("batch_id", pl.String),
    ("stream", pl.String),
    ("status", pl.String),
    ("sample_id", pl.String),
    ("bag_id", pl.String),
    ("lab", pl.String),
    ("method", pl.String),
    ("moisture_pct", pl.Float64),
    *[(f"{el}_pct", pl.Float64) for el in ELEMENTS],
]


def _known(x: object) -> object:
    return None if isinstance(x, float) and not math.isfinite(x) else x


def assay_rows(assays: Iterable[Assay]) -> str:
    """A batch's effective assays as CSV rows, one per sample and status (stored per batch)."""
    rows: dict[tuple[str, ...], dict[str, object]] = {}
    for a in assays:
        key = (a.batch_id, a.stream, a.status, a.sample_id, a.bag_id)
        row = rows.setdefault(
            key,
            {
                "batch_id": a.batch_id,
                "stream": a.stream,
                "status": a.status,
                "sample_id": a.sample_id,
                "bag_id": a.bag_id,
                "lab": a.lab,
                "method": a.method,
                "moisture_pct": None,
            },
        )
        if a.moisture_pct is not None:
            row["moisture_pct"] = a.moisture_pct
        row[f"{a.element}_pct"] = _known(a.value_pct)
    return csv_text([row.get(c) for c, _ in ASSAY_COLUMNS] for row in rows.values())


def _read(texts: Iterable[str], cols: list[tuple[str, Any]]) -> pl.DataFrame:
    """Concatenated CSV parts -> a frame; empty text cells are "" (as in the results), numbers null."""
    data = "".join(texts).encode()
    if not data:
        return pl.DataFrame(schema=dict(cols))
    frame = pl.read_csv(io.BytesIO(data), has_header=False, schema=dict(cols), quote_char='"')
    return frame.with_columns(pl.col(pl.String).fill_null(""))


def decode(parts: Sequence[Projection]) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Stored projections -> (batches, streams, recoveries) frames, in the order given."""
    return (
        _read((p.batch for p in parts), COLUMNS),
        _read((p.streams for p in parts), STREAM_COLUMNS),
        _read((p.recoveries for p in parts), RECOVERY_COLUMNS),
    )


def decode_batches(texts: Sequence[str]) -> pl.DataFrame:
    """Stored batch rows alone -> the batches frame (the API's listing needs no streams or recoveries)."""
    return _read(texts, COLUMNS)


def decode_assays(texts: Sequence[str]) -> pl.DataFrame:
    return _read(texts, ASSAY_COLUMNS)


def frames(results: Sequence[BatchResult]) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The report frames of results in memory (same path as the store's)."""
    return decode(projections(results))
