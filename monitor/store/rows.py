"""The report projection: each stored batch version as flat report rows, kept beside it in the store.

Reports read the projection, not the full results: a 30,000-batch export joins the stored CSV
lines and parses them once with polars, instead of rebuilding 30,000 nested dataclasses from
JSON. Unknown values are null (never 0). Bump PROJECTION_VERSION when a column changes: the
store then rebuilds every projection from the full results when it opens.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from monitor.core.assays import ELEMENTS, RECOVERY_ELEMENTS, Assay
from monitor.core.results import BatchResult
from monitor.core.spec import STREAM_NAMES
from monitor.store.query import iso

PROJECTION_VERSION = 3  # 2: nitrogen, CO2e with its factors, origin shares; 3: Cu/Al/Fe in their products
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


_NAMES = tuple(name for name, _ in COLUMNS)


def _known(x: object) -> object:
    return None if isinstance(x, float) and not math.isfinite(x) else x


def _first(pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """key -> value of the first pair with that key (as BatchResult.mass() and .metal() find them)."""
    out: dict[str, Any] = {}
    for k, v in pairs:
        out.setdefault(k, v)
    return out


def batch_row(r: BatchResult) -> dict[str, object]:
    """One batch as report columns; unknown values are None."""
    b = r.balance
    mass = _first((s.stream, s.mass_kg) for s in r.streams)
    bm_t = mass.get("black_mass", NAN) / 1000.0
    row: dict[str, object] = {
        "batch_id": r.batch_id,
        "line": r.line,
        "state": r.state.value,
        "version": r.version,
        "chemistry": r.chemistry,
        "feed_form": r.feed_form,
        "supplier": r.supplier,
        "start": iso(r.start),
        "end": iso(r.end),
        "feed_kg": mass.get("feed", NAN),
        **{f"{s}_kg": mass.get(s, NAN) for s in PRODUCTS},
        "black_mass_yield": r.black_mass_yield,
        "closure": r.closure,
        "black_mass_yield_reconciled": b.yield_reconciled if b else NAN,
        "black_mass_yield_sd": b.yield_sd if b else NAN,
        "balance_gamma": b.gamma if b else NAN,
        "balance_dof": b.dof if b else 0,
        "balance_p_value": b.p_value if b else NAN,
        "suspect": b.suspect if b else "",
        "assay_status": r.assay_status,
        "feed_grade_source": r.metals[0].feed_grade_source if r.metals else "",
        "energy_kwh": r.energy_kwh,
        "energy_kwh_per_t_black_mass": r.energy_kwh / bm_t if bm_t > 0 else NAN,
        "nitrogen_nm3": r.nitrogen_nm3,
        **_carbon(r),
        "origin": ";".join(f"{cls}={share:g}" for cls, share in r.origin),
        "rejected_samples": r.rejected_samples,
        "feed_unattributed_before_kg": sum(sm.unattributed_kg for sm in r.streams if sm.stream == "feed"),
        "flags": ";".join(r.flags),
    }
    metal = _first((m.element, m) for m in r.metals)
    for el in METALS:
        m = metal.get(el)
        row[f"recovery_{el}"] = m.recovery if m else NAN
        row[f"recovery_{el}_reconciled"] = m.recovery_reconciled if m else NAN
        row[f"recovery_{el}_sd"] = m.recovery_sd if m else NAN
        row[f"feed_{el}_kg"] = m.feed_kg if m else NAN
        row[f"black_mass_{el}_kg"] = m.black_mass_kg if m else NAN
    for el, stream in ELEMENT_PRODUCTS:
        m = metal.get(el)
        row[f"{stream}_{el}_kg"] = m.stream_kg.get(stream, NAN) if m else NAN
    # a float that is not finite is unknown (x - x is 0.0 for every finite float): inline, 90 values a lot
    return {name: None if isinstance(x := row[name], float) and x - x != 0.0 else x for name in _NAMES}


def _carbon(r: BatchResult) -> dict[str, object]:
    """CO2e of the lot and the factors it was computed with (recorded with the lot)."""
    c = r.carbon
    if c is None:
        keys = ("co2e_kg", "co2e_kg_per_t_black_mass", "grid_kg_co2e_per_kwh", "nitrogen_kg_co2e_per_nm3")
        return {**dict.fromkeys(keys, NAN), "ghg_factor_sources": ""}
    sources = [f"grid {c.grid_year}: {c.grid_source}"] + [f"nitrogen: {c.nitrogen_source}"] * bool(c.nitrogen_source)
    return {
        "co2e_kg": c.co2e_kg,
        "co2e_kg_per_t_black_mass": c.co2e_kg_per_t_black_mass,
        "grid_kg_co2e_per_kwh": c.grid_kg_co2e_per_kwh,
        "nitrogen_kg_co2e_per_nm3": c.nitrogen_kg_co2e_per_nm3,
        "ghg_factor_sources": " | ".join(sources + [f"{o.name}: {o.source}" for o in c.other]),
    }


def stream_rows(r: BatchResult) -> list[dict[str, object]]:
    """One row per stream: measured and reconciled kg, sd and the measurement test z."""
    rec = {s.stream: s for s in r.balance.streams} if r.balance else {}
    rows = []
    for sm in r.streams:
        b = rec.get(sm.stream)
        rows.append(
            {
                "batch_id": r.batch_id,
                "stream": sm.stream,
                "source": sm.source,
                "measured_kg": _known(sm.mass_kg) if sm.source != "balance" else None,
                "reconciled_kg": _known(b.reconciled_kg) if b else None,
                "sd_kg": _known(b.sd_kg) if b else None,
                "z": _known(b.z) if b else None,
                "samples": sm.samples,
                "unattributed_before_kg": sm.unattributed_kg,
                "flags": ";".join(sm.flags),
            }
        )
    return rows


def recovery_rows(r: BatchResult) -> list[dict[str, object]]:
    """One row per element: grades as fractions, element masses in kg, recoveries as ratios."""
    return [dict(zip(_RECOVERY_NAMES, values, strict=True)) for values in _recovery_values(r)]


_RECOVERY_NAMES = tuple(name for name, _ in RECOVERY_COLUMNS)


def _recovery_values(r: BatchResult) -> list[tuple[object, ...]]:
    """recovery_rows' values, in RECOVERY_COLUMNS order (the projection writes them without the names)."""
    rows: list[tuple[object, ...]] = []
    for m in r.metals:
        vals = (
            r.batch_id,
            r.chemistry,
            r.feed_form,
            m.element,
            m.status,
            m.feed_grade,
            m.feed_grade_source,
            m.calc_head_grade,
            m.feed_kg,
            m.black_mass_grade,
            m.black_mass_kg,
            m.recovery,
            m.recovery_reconciled,
            m.recovery_sd,
            m.two_product,
            ";".join(f"{s}={v:.4f}" for s, v in sorted(m.distribution.items())),
        )  # unknown (not finite) floats as None, inline as in batch_row
        rows.append(tuple(None if isinstance(x, float) and x - x != 0.0 else x for x in vals))
    return rows


@dataclass(frozen=True, slots=True)
class Projection:
    """A batch version's report rows as CSV text, one part per report frame."""

    batch: str
    streams: str
    recoveries: str


def _csv(rows: Iterable[Iterable[object]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def projection(r: BatchResult) -> Projection:
    """The report rows stored beside a batch version (columns in COLUMNS order, no header)."""
    return Projection(
        _csv([batch_row(r).values()]),
        _csv(row.values() for row in stream_rows(r)),
        _csv(_recovery_values(r)),
    )


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
    return _csv([row.get(c) for c, _ in ASSAY_COLUMNS] for row in rows.values())


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
    return decode([projection(r) for r in results])
