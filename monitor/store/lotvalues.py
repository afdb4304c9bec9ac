"""A batch result as the report columns: one home for what each column holds (store/rows.py reads it).

Each part of the projection (batch, streams, recoveries) is a `Part`: its columns and the rows one
lot gives it, values in column order. A not-finite float is unknown (None) in the columns the part
names `unknown`; elsewhere it is kept as it is. `Part.row_dicts` is one lot's rows as dicts (the API,
the lot page); store/projection.py writes many lots' rows as CSV at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from monitor.core.assays import RECOVERY_ELEMENTS
from monitor.core.carbon import CarbonAccount
from monitor.core.metals import ElementAccount
from monitor.core.results import BatchResult
from monitor.core.spec import STREAM_NAMES
from monitor.store.query import iso

PRODUCTS = tuple(s for s in STREAM_NAMES if s != "feed")  # the one stream vocabulary (core/spec.py)
METALS = RECOVERY_ELEMENTS  # the one element vocabulary (core/assays.py)
NAN = float("nan")
# Elements recovered into a product stream other than black mass (EU 2023/1542 Annex XII: reports/recovery.py)
ELEMENT_PRODUCTS = (("cu", "copper"), ("al", "aluminium"), ("fe", "ferrous"))

COLUMNS: list[tuple[str, Any]] = [
    ("batch_id", pl.String),
    ("line", pl.String),
    ("state", pl.String),
    ("version", pl.Int64),
    ("chemistry", pl.String),
    ("feed_form", pl.String),
    ("supplier", pl.String),
    ("start", pl.String),
    ("end", pl.String),
    ("feed_kg", pl.Float64),
    *[(f"{s}_kg", pl.Float64) for s in PRODUCTS],
    ("black_mass_yield", pl.Float64),
    ("closure", pl.Float64),
    ("black_mass_yield_reconciled", pl.Float64),
    ("black_mass_yield_sd", pl.Float64),
    ("balance_gamma", pl.Float64),
    ("balance_dof", pl.Int64),
    ("balance_p_value", pl.Float64),
    ("suspect", pl.String),
    ("assay_status", pl.String),
    ("feed_grade_source", pl.String),
    *[(f"recovery_{el}", pl.Float64) for el in METALS],
    *[(f"recovery_{el}_reconciled", pl.Float64) for el in METALS],
    *[(f"recovery_{el}_sd", pl.Float64) for el in METALS],
    *[(f"feed_{el}_kg", pl.Float64) for el in METALS],
    *[(f"black_mass_{el}_kg", pl.Float64) for el in METALS],
    *[(f"{stream}_{el}_kg", pl.Float64) for el, stream in ELEMENT_PRODUCTS],
    ("energy_kwh", pl.Float64),
    ("energy_kwh_per_t_black_mass", pl.Float64),
    ("nitrogen_nm3", pl.Float64),
    ("co2e_kg", pl.Float64),
    ("co2e_kg_per_t_black_mass", pl.Float64),
    ("grid_kg_co2e_per_kwh", pl.Float64),
    ("nitrogen_kg_co2e_per_nm3", pl.Float64),
    ("ghg_factor_sources", pl.String),
    ("origin", pl.String),
    ("rejected_samples", pl.Int64),
    ("feed_unattributed_before_kg", pl.Float64),  # the feed counter's rise since the previous lot, in no lot
    ("flags", pl.String),
]

STREAM_COLUMNS: list[tuple[str, Any]] = [
    ("batch_id", pl.String),
    ("stream", pl.String),
    ("source", pl.String),
    ("measured_kg", pl.Float64),
    ("reconciled_kg", pl.Float64),
    ("sd_kg", pl.Float64),
    ("z", pl.Float64),
    ("samples", pl.Int64),
    ("unattributed_before_kg", pl.Float64),  # the counter's rise since the previous lot's window, in no lot
    ("flags", pl.String),
]

_RECOVERY_TEXT = ("batch_id", "chemistry", "feed_form", "element", "assay_status", "feed_grade_source", "distribution")
RECOVERY_COLUMNS: list[tuple[str, Any]] = [
    (c, pl.String if c in _RECOVERY_TEXT else pl.Float64)
    for c in (
        "batch_id",
        "chemistry",
        "feed_form",
        "element",
        "assay_status",
        "feed_grade",
        "feed_grade_source",
        "calc_head_grade",
        "feed_kg",
        "black_mass_grade",
        "black_mass_kg",
        "recovery",
        "recovery_reconciled",
        "recovery_sd",
        "two_product_check",
        "distribution",
    )
]

Row = tuple[object, ...]
Column = list[Any]  # one value per row, of the column's type (or None)


_DATETIME_END = 253402300800.0  # 10000-01-01T00:00:00Z: past it, datetime (hence iso) cannot write a time
_US = 1e6  # microseconds a second: datetime's resolution


def isos(stamps: Sequence[float]) -> list[str]:
    """query.iso of each epoch time, in bulk (numpy): the same text. datetime rounds a time to the
    microsecond, half to even, before isoformat cuts it to the second: 59.9999996 s writes :00 of the
    next minute. A time before 1970 or past 9999 (or not finite) goes through iso itself."""
    ts = np.array(stamps, dtype=np.float64)
    if not np.all((ts >= 0.0) & (ts < _DATETIME_END - 1.0)):
        return [iso(t) for t in stamps]
    whole = np.floor(ts)
    secs = whole + (np.round((ts - whole) * _US) >= _US)  # the fraction as datetime rounds it: carried?
    return [text + "Z" for text in np.datetime_as_string(secs.astype("datetime64[s]")).tolist()]


def _batches(rs: Sequence[BatchResult]) -> list[Column]:
    """One row per batch, as columns in COLUMNS order."""
    # the first stream or element of a name counts (as BatchResult.mass() and .metal() find them)
    mass = [{s.stream: s.mass_kg for s in reversed(r.streams)} for r in rs]
    metal = [{m.element: m for m in reversed(r.metals)} for r in rs]
    nan6 = (NAN, NAN, NAN, 0, NAN, "")
    balance = [
        (b.yield_reconciled, b.yield_sd, b.gamma, b.dof, b.p_value, b.suspect) if (b := r.balance) else nan6 for r in rs
    ]
    bm_t = [m.get("black_mass", NAN) / 1000.0 for m in mass]
    return [
        [r.batch_id for r in rs],
        [r.line for r in rs],
        [r.state.value for r in rs],
        [r.version for r in rs],
        [r.chemistry for r in rs],
        [r.feed_form for r in rs],
        [r.supplier for r in rs],
        isos([r.start for r in rs]),
        isos([r.end for r in rs]),
        *([m.get(s, NAN) for m in mass] for s in ("feed", *PRODUCTS)),
        [r.black_mass_yield for r in rs],
        [r.closure for r in rs],
        *map(list, zip(*balance, strict=True)),
        [r.assay_status for r in rs],
        [r.metals[0].feed_grade_source if r.metals else "" for r in rs],
        *_metal_columns(metal),
        *(
            [m.stream_kg.get(stream, NAN) if (m := d.get(el)) else NAN for d in metal]
            for el, stream in ELEMENT_PRODUCTS
        ),
        [r.energy_kwh for r in rs],
        [r.energy_kwh / t if t > 0 else NAN for r, t in zip(rs, bm_t, strict=True)],
        [r.nitrogen_nm3 for r in rs],
        *map(list, zip(*[_carbon(r.carbon) for r in rs], strict=True)),
        [";".join(f"{cls}={share:g}" for cls, share in r.origin) for r in rs],
        [r.rejected_samples for r in rs],
        [sum(sm.unattributed_kg for sm in r.streams if sm.stream == "feed") for r in rs],
        [";".join(r.flags) for r in rs],
    ]


def _metal_columns(metal: list[dict[str, ElementAccount]]) -> list[Column]:
    """recovery_*, recovery_*_reconciled, recovery_*_sd, feed_*_kg, black_mass_*_kg: each for every element."""
    per = [[d.get(el) for d in metal] for el in METALS]
    return [
        *([m.recovery if m else NAN for m in ms] for ms in per),
        *([m.recovery_reconciled if m else NAN for m in ms] for ms in per),
        *([m.recovery_sd if m else NAN for m in ms] for ms in per),
        *([m.feed_kg if m else NAN for m in ms] for ms in per),
        *([m.black_mass_kg if m else NAN for m in ms] for ms in per),
    ]


def _carbon(c: CarbonAccount | None) -> Row:
    """CO2e of the lot and the factors it was computed with (recorded with the lot), and their sources."""
    if c is None:
        return (NAN, NAN, NAN, NAN, "")
    sources = [f"grid {c.grid_year}: {c.grid_source}"] + [f"nitrogen: {c.nitrogen_source}"] * bool(c.nitrogen_source)
    return (
        c.co2e_kg,
        c.co2e_kg_per_t_black_mass,
        c.grid_kg_co2e_per_kwh,
        c.nitrogen_kg_co2e_per_nm3,
        " | ".join(sources + [f"{o.name}: {o.source}" for o in c.other]),
    )


def _streams(rs: Sequence[BatchResult]) -> list[Column]:
    """One row per stream: measured and reconciled kg, sd and the measurement test z."""
    sms = [sm for r in rs for sm in r.streams]
    fits = [
        rec.get(sm.stream)
        for r in rs
        for rec in ({s.stream: s for s in r.balance.streams} if r.balance else {},)
        for sm in r.streams
    ]
    return [
        [r.batch_id for r in rs for _ in r.streams],
        [sm.stream for sm in sms],
        [sm.source for sm in sms],
        [sm.mass_kg if sm.source != "balance" else None for sm in sms],
        [b.reconciled_kg if b else None for b in fits],
        [b.sd_kg if b else None for b in fits],
        [b.z if b else None for b in fits],
        [sm.samples for sm in sms],
        [sm.unattributed_kg for sm in sms],
        [";".join(sm.flags) for sm in sms],
    ]


def _recoveries(rs: Sequence[BatchResult]) -> list[Column]:
    """One row per element: grades as fractions, element masses in kg, recoveries as ratios."""
    ms = [m for r in rs for m in r.metals]
    return [
        [r.batch_id for r in rs for _ in r.metals],
        [r.chemistry for r in rs for _ in r.metals],
        [r.feed_form for r in rs for _ in r.metals],
        [m.element for m in ms],
        [m.status for m in ms],
        [m.feed_grade for m in ms],
        [m.feed_grade_source for m in ms],
        [m.calc_head_grade for m in ms],
        [m.feed_kg for m in ms],
        [m.black_mass_grade for m in ms],
        [m.black_mass_kg for m in ms],
        [m.recovery for m in ms],
        [m.recovery_reconciled for m in ms],
        [m.recovery_sd for m in ms],
        [m.two_product for m in ms],
        [";".join(f"{s}={v:.4f}" for s, v in sorted(m.distribution.items())) if m.distribution else "" for m in ms],
    ]


@dataclass(frozen=True, slots=True)
class Part:
    """One report frame: its columns, how many rows a lot gives it and their values (column-wise for
    many lots), and per column whether a not-finite float is stored as unknown."""

    columns: list[tuple[str, Any]]
    gather: Callable[[Sequence[BatchResult]], list[Column]]
    count: Callable[[BatchResult], int]
    unknown: tuple[bool, ...]  # True: a not-finite float in this column is stored as unknown (None)

    def clean(self, row: Row) -> Row:
        """A row as stored: a not-finite float in an `unknown` column is None (x - x is 0.0 for a finite x)."""
        return tuple(
            None if flag and isinstance(x, float) and x - x != 0.0 else x
            for flag, x in zip(self.unknown, row, strict=True)
        )

    def row_dicts(self, r: BatchResult) -> list[dict[str, object]]:
        """One lot's rows as stored, by column name."""
        names = [name for name, _ in self.columns]
        return [dict(zip(names, self.clean(row), strict=True)) for row in zip(*self.gather([r]), strict=True)]


def _part(
    cols: list[tuple[str, Any]],
    gather: Callable[[Sequence[BatchResult]], list[Column]],
    count: Callable[[BatchResult], int],
    known: Iterable[str] = (),
) -> Part:
    """A part whose every column but `known` stores a not-finite float as unknown."""
    return Part(cols, gather, count, tuple(name not in known for name, _ in cols))


BATCH = _part(COLUMNS, _batches, lambda r: 1)
# streams keep a not-finite count or unattributed mass as it is (as they always have been stored)
STREAMS = _part(
    STREAM_COLUMNS,
    _streams,
    lambda r: len(r.streams),
    ("batch_id", "stream", "source", "samples", "unattributed_before_kg", "flags"),
)
RECOVERIES = _part(RECOVERY_COLUMNS, _recoveries, lambda r: len(r.metals))
PARTS = (BATCH, STREAMS, RECOVERIES)  # in Projection's order


def batch_row(r: BatchResult) -> dict[str, object]:
    """One batch as report columns; unknown values are None."""
    return BATCH.row_dicts(r)[0]


def stream_rows(r: BatchResult) -> list[dict[str, object]]:
    """One row per stream: measured and reconciled kg, sd and the measurement test z."""
    return STREAMS.row_dicts(r)


def recovery_rows(r: BatchResult) -> list[dict[str, object]]:
    """One row per element: grades as fractions, element masses in kg, recoveries as ratios."""
    return RECOVERIES.row_dicts(r)
