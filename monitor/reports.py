"""Batch recovery reports. Reports only read the store; engineers read kg and ratios."""

from __future__ import annotations

import io
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from monitor.core.results import BatchResult

PRODUCTS = ("black_mass", "ferrous", "aluminium", "copper", "light_fraction", "condensate", "fines", "loss")
METALS = ("ni", "co", "mn", "li", "cu", "al", "fe")
NAN = float("nan")

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
    ("energy_kwh", pl.Float64),
    ("energy_kwh_per_t_black_mass", pl.Float64),
    ("rejected_samples", pl.Int64),
    ("flags", pl.String),
]


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def batch_row(r: BatchResult) -> dict[str, object]:
    """One batch as report columns; unknown values are NaN (written as empty cells)."""
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
        "feed_kg": r.feed_kg,
        "black_mass_yield": r.black_mass_yield,
        "closure": r.closure,
        "assay_status": r.assay_status,
        "rejected_samples": r.rejected_samples,
        "flags": ";".join(r.flags),
    }
    for s in PRODUCTS:
        row[f"{s}_kg"] = r.mass(s)
    bm_t = r.mass("black_mass") / 1000.0
    row["energy_kwh"] = r.energy_kwh
    row["energy_kwh_per_t_black_mass"] = r.energy_kwh / bm_t if bm_t > 0 else NAN
    b = r.balance
    row.update(
        {
            "black_mass_yield_reconciled": b.yield_reconciled if b else NAN,
            "black_mass_yield_sd": b.yield_sd if b else NAN,
            "balance_gamma": b.gamma if b else NAN,
            "balance_dof": b.dof if b else 0,
            "balance_p_value": b.p_value if b else NAN,
            "suspect": b.suspect if b else "",
            "feed_grade_source": r.metals[0].feed_grade_source if r.metals else "",
        }
    )
    for el in METALS:
        m = r.metal(el)
        row[f"recovery_{el}"] = m.recovery if m else NAN
        row[f"recovery_{el}_reconciled"] = m.recovery_reconciled if m else NAN
        row[f"recovery_{el}_sd"] = m.recovery_sd if m else NAN
        row[f"feed_{el}_kg"] = m.feed_kg if m else NAN
        row[f"black_mass_{el}_kg"] = m.black_mass_kg if m else NAN
    return row


def batches_frame(results: Sequence[BatchResult]) -> pl.DataFrame:
    """One row per batch; masses in kg, yields, recoveries and closure as ratios 0–1."""
    names = [n for n, _ in COLUMNS]
    data = {n: [] for n in names}  # type: dict[str, list[object]]
    for r in results:
        row = batch_row(r)
        for n in names:
            data[n].append(row[n])
    return pl.DataFrame(data, schema=dict(COLUMNS))


def write_csv(frame: pl.DataFrame, out: str | Path | io.StringIO) -> None:
    """CSV to a file, a text buffer, or standard output for '-'. NaN (unknown) is an empty cell."""
    frame = frame.with_columns(pl.col(pl.Float64).fill_nan(None))
    if isinstance(out, io.StringIO):
        frame.write_csv(out)
        return
    if str(out) == "-":
        buf = io.StringIO()
        frame.write_csv(buf)
        sys.stdout.write(buf.getvalue())
        return
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    frame.write_csv(Path(out))


def streams_frame(results: Sequence[BatchResult]) -> pl.DataFrame:
    """One row per batch and stream: measured and reconciled kg, sd, measurement test."""
    rows: dict[str, list[object]] = {
        k: []
        for k in ("batch_id", "stream", "source", "measured_kg", "reconciled_kg", "sd_kg", "z", "samples", "flags")
    }
    for r in results:
        rec = {s.stream: s for s in r.balance.streams} if r.balance else {}
        for sm in r.streams:
            b = rec.get(sm.stream)
            for k, v in (
                ("batch_id", r.batch_id),
                ("stream", sm.stream),
                ("source", sm.source),
                ("measured_kg", sm.mass_kg if sm.source != "balance" else NAN),
                ("reconciled_kg", b.reconciled_kg if b else NAN),
                ("sd_kg", b.sd_kg if b else NAN),
                ("z", b.z if b else NAN),
                ("samples", sm.samples),
                ("flags", ";".join(sm.flags)),
            ):
                rows[k].append(v)
    return pl.DataFrame(
        rows,
        schema={
            "batch_id": pl.String,
            "stream": pl.String,
            "source": pl.String,
            "measured_kg": pl.Float64,
            "reconciled_kg": pl.Float64,
            "sd_kg": pl.Float64,
            "z": pl.Float64,
            "samples": pl.Int64,
            "flags": pl.String,
        },
    )


RECOVERY_COLUMNS = (
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


def recoveries_frame(results: Sequence[BatchResult]) -> pl.DataFrame:
    """One row per batch and element; grades and recoveries as fractions, element masses in kg."""
    rows: dict[str, list[object]] = {k: [] for k in RECOVERY_COLUMNS}
    for r in results:
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
            )
            for k, v in zip(RECOVERY_COLUMNS, vals, strict=True):
                rows[k].append(v)
    text = {"batch_id", "chemistry", "feed_form", "element", "assay_status", "feed_grade_source", "distribution"}
    return pl.DataFrame(rows, schema={k: (pl.String if k in text else pl.Float64) for k in RECOVERY_COLUMNS})


def summary_frame(batches: pl.DataFrame) -> pl.DataFrame:
    """Totals by chemistry and feed form: masses in t, mass-weighted yield, mean recoveries."""
    if batches.is_empty():
        return pl.DataFrame(schema={"chemistry": pl.String, "feed_form": pl.String, "batches": pl.UInt32})
    return (
        batches.group_by("chemistry", "feed_form")
        .agg(
            pl.len().alias("batches"),
            (pl.col("feed_kg").sum() / 1000).alias("feed_t"),
            (pl.col("black_mass_kg").sum() / 1000).alias("black_mass_t"),
            (pl.col("black_mass_kg").sum() / pl.col("feed_kg").sum()).alias("black_mass_yield"),
            *[pl.col(f"recovery_{el}").fill_nan(None).mean().alias(f"recovery_{el}_mean") for el in METALS],
            (pl.col("assay_status") == "final").sum().alias("assays_final"),
        )
        .sort("chemistry", "feed_form")
    )


def write_parquet(frame: pl.DataFrame, out: str | Path | io.BytesIO) -> None:
    """Parquet keeps NaN apart from null: unknown values are null, as in CSV."""
    frame = frame.with_columns(pl.col(pl.Float64).fill_nan(None))
    frame.write_parquet(out if isinstance(out, io.BytesIO) else Path(out))
