"""The printable batch recovery report (PDF): title block, KPIs, charts, tables, regulation."""

from __future__ import annotations

import io
import math
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape

import polars as pl
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    LongTable,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    TableStyle,
)

from monitor.core.rules import BALANCE_P_FAIL
from monitor.reports.charts import EU_TARGETS, recovery_chart, yield_chart
from monitor.reports.frames import iso, lines_frame

HEADLINE_METALS = ("ni", "co", "li")  # the summary's recovery columns
REGULATED_METALS = ("ni", "co", "mn", "li", "cu")  # the regulatory section's element totals
LOT_TABLE_METALS = ("ni", "co", "li", "cu")  # in and to black mass, per lot
MAX_TABLE_ROWS = 1500  # longer periods: the table shows the latest, the CSV/XLSX export has all
STYLE = getSampleStyleSheet()
GRID = TableStyle(
    [
        ("FONT", (0, 0), (-1, -1), "Helvetica", 7),
        ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 7),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dde4ea")),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
        ("ALIGN", (1, 1), (-1, -1), "RIGHT"),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
    ]
)


def _pct(x: object, digits: int = 1) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{float(x) * 100:.{digits}f}"  # type: ignore[arg-type]


def _num(x: object, fmt: str = "{:,.0f}") -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else fmt.format(x)


def _table(rows: list[list[str]], widths: list[float] | None = None) -> LongTable:
    t = LongTable(rows, repeatRows=1, colWidths=widths)
    t.setStyle(GRID)
    return t


def write_pdf(
    frame: pl.DataFrame,
    out: str | Path | io.BytesIO,
    *,
    plant: str = "",
    period: str = "",
    generated: datetime | None = None,
) -> None:
    """The PDF report of a batches frame (the store's report projection: store/rows.py)."""
    gen = generated or datetime.now(UTC)
    doc = SimpleDocTemplate(
        out if isinstance(out, io.BytesIO) else str(out),
        pagesize=landscape(A4),
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=12 * mm,
        bottomMargin=12 * mm,
        title="Batch recovery report",
        author="blackmass-monitor",
    )
    h1, body = STYLE["Title"], STYLE["BodyText"]
    story: list[object] = [Paragraph("Batch recovery report", h1)]
    lines = sorted(set(frame["line"].to_list())) if frame.height else []
    first, last = (str(frame["start"].min()), str(frame["end"].max())) if frame.height else ("", "")
    versions = int(frame["version"].sum()) if frame.height else 0
    meta = [
        ["plant / line", f"{plant or 'plant'} / {', '.join(lines) or '-'}"],
        ["period", period or f"{first} – {last}"],
        ["generated at", gen.isoformat(timespec="seconds").replace("+00:00", "Z")],
        ["data version", f"{frame.height} batches, {versions} stored versions"],
    ]
    story += [_table([["report", "batch recovery report"], *meta], [45 * mm, 200 * mm]), Spacer(1, 5 * mm)]
    if frame.height == 0:
        story.append(Paragraph("No batches match this report's filter.", body))
        doc.build(story)
        return
    story += _summary(frame, lines)
    shown = frame.sort("start").tail(MAX_TABLE_ROWS)
    story += _batch_table(frame, shown)
    story += _balance(frame)
    story += _assay_status(frame)
    story += _regulation(frame, shown)

    def footer(canvas: Canvas, _doc: object) -> None:
        canvas.setFont("Helvetica", 7)
        stamp = f"blackmass-monitor · batch recovery report · {iso(gen.timestamp())}"
        canvas.drawString(12 * mm, 6 * mm, f"{stamp} · page {canvas.getPageNumber()}")

    doc.build(story, onFirstPage=footer, onLaterPages=footer)


def _summary(frame: pl.DataFrame, lines: list[str]) -> list[Flowable]:
    """Totals and KPIs, per-line subtotals for a plant report, and the charts."""
    h2 = STYLE["Heading2"]
    story: list[Flowable] = []
    feed, bm = float(frame["feed_kg"].sum()), float(frame["black_mass_kg"].sum())
    energy = float(frame["energy_kwh"].fill_nan(None).sum())  # batches without a meter reading add nothing
    final = int((frame["assay_status"] == "final").sum())
    failed = int((frame["balance_p_value"].fill_nan(None) < BALANCE_P_FAIL).sum())
    kpi = [
        [
            "batches",
            "feed (t)",
            "black mass (t)",
            "yield (%)",
            "Ni rec. (%)",
            "Co rec. (%)",
            "Li rec. (%)",
            "final assays",
            f"balance failures (p < {BALANCE_P_FAIL:g})",
            "energy (kWh/t BM)",
        ],
        [
            str(frame.height),
            _num(feed / 1000, "{:,.1f}"),
            _num(bm / 1000, "{:,.1f}"),
            _pct(bm / feed if feed else math.nan),
            *(_pct(frame[f"recovery_{m}"].fill_nan(None).mean()) for m in HEADLINE_METALS),
            f"{final} of {frame.height}",
            str(failed),
            _num(energy / (bm / 1000) if bm else math.nan, "{:,.0f}"),
        ],
    ]
    story += [Paragraph("Summary", h2), _table(kpi), Spacer(1, 4 * mm)]
    if len(lines) > 1:  # a plant report: each line's subtotal, then all lines
        per_line = [["line", "batches", "feed (t)", "black mass (t)", "yield (%)", "Ni rec. (%)"]]
        per_line[0] += ["Co rec. (%)", "Li rec. (%)"]
        for r in lines_frame(frame).iter_rows(named=True):
            masses = [_num(r["feed_t"], "{:,.1f}"), _num(r["black_mass_t"], "{:,.1f}"), _pct(r["black_mass_yield"])]
            recoveries = [_pct(r[f"recovery_{m}_mean"]) for m in HEADLINE_METALS]
            per_line.append([str(r["line"]), str(r["batches"]), *masses, *recoveries])
        story += [Paragraph("Per line", h2), _table(per_line), Spacer(1, 4 * mm)]
    story += [yield_chart(frame), PageBreak(), recovery_chart(frame)]
    return story


def _batch_table(frame: pl.DataFrame, shown: pl.DataFrame) -> list[Flowable]:
    """One row per batch (the latest MAX_TABLE_ROWS)."""
    h2, body = STYLE["Heading2"], STYLE["BodyText"]
    story: list[Flowable] = []
    story += [PageBreak(), Paragraph("Batches", h2)]
    if shown.height < frame.height:
        story.append(
            Paragraph(
                f"The latest {shown.height} of {frame.height} batches; every batch is in the CSV, "
                "XLSX and Parquet exports of the same filter.",
                body,
            )
        )
    head = [
        "batch",
        "chemistry",
        "form",
        "start (UTC)",
        "feed (kg)",
        "black mass (kg)",
        "yield (%)",
        "yield rec. (%)",
        "± 1.96 sd",
        "closure (%)",
        "Ni (%)",
        "Co (%)",
        "Li (%)",
        "assays",
        "flags",
    ]
    rows = [head] + [
        [
            r["batch_id"],
            r["chemistry"],
            r["feed_form"],
            r["start"][:16],
            _num(r["feed_kg"]),
            _num(r["black_mass_kg"]),
            _pct(r["black_mass_yield"], 2),
            _pct(r["black_mass_yield_reconciled"], 2),
            _pct(1.96 * r["black_mass_yield_sd"] if r["black_mass_yield_sd"] is not None else math.nan, 2),
            _pct(r["closure"]),
            _pct(r["recovery_ni"]),
            _pct(r["recovery_co"]),
            _pct(r["recovery_li"]),
            r["assay_status"],
            r["flags"][:30],
        ]
        for r in shown.iter_rows(named=True)
    ]
    story.append(_table(rows))
    return story


def _balance(frame: pl.DataFrame) -> list[Flowable]:
    """The batches that fail the balance test, with the suspect instrument."""
    h2, body = STYLE["Heading2"], STYLE["BodyText"]
    story: list[Flowable] = []
    failed = int((frame["balance_p_value"].fill_nan(None) < BALANCE_P_FAIL).sum())
    bad = frame.filter(pl.col("balance_p_value").fill_nan(None) < BALANCE_P_FAIL)
    story += [
        PageBreak(),
        Paragraph("Mass balance", h2),
        Paragraph(
            f"Reconciliation by weighted least squares over masses and element flows; {failed} of {frame.height} "
            f"batches fail the χ² test (p < {BALANCE_P_FAIL:g}). Where the element balances can tell, "
            "the suspect instrument is named.",
            body,
        ),
    ]
    brows = [["batch", "γ", "dof", "p", "suspect", "closure (%)"]] + [
        [
            r["batch_id"],
            _num(r["balance_gamma"], "{:.2f}"),
            str(r["balance_dof"]),
            _num(r["balance_p_value"], "{:.4f}"),
            r["suspect"] or "not identifiable",
            _pct(r["closure"]),
        ]
        for r in bad.head(MAX_TABLE_ROWS).iter_rows(named=True)
    ]
    story.append(_table(brows) if len(brows) > 1 else Paragraph("No batch fails the balance test.", body))
    return story


def _assay_status(frame: pl.DataFrame) -> list[Flowable]:
    """How many batches have final, preliminary or no assays."""
    h2 = STYLE["Heading2"]
    story: list[Flowable] = []
    counts = {s: int((frame["assay_status"] == s).sum()) for s in ("final", "preliminary", "none")}
    story += [
        Paragraph("Assay status", h2),
        _table(
            [
                ["final", "preliminary", "no assay yet"],
                [str(counts["final"]), str(counts["preliminary"]), str(counts["none"])],
            ]
        ),
    ]
    return story


def _regulation(frame: pl.DataFrame, shown: pl.DataFrame) -> list[Flowable]:
    """Element masses in and to black mass per lot (EU Battery Regulation), and the carbon paragraph."""
    h2, body = STYLE["Heading2"], STYLE["BodyText"]
    story: list[Flowable] = []
    story += [
        PageBreak(),
        Paragraph("Regulatory section: element balance per lot", h2),
        Paragraph(
            "Preprocessing contribution only. Black mass is an intermediate: the figures below are the element "
            "masses in and the share recovered into black mass at this plant, supplied per lot to the downstream "
            "recycler (EU Battery Regulation 2023/1542, Annex XII; Delegated Regulation 2025/606). The material "
            "recovery targets — Li 50 % by end 2027 and 80 % by end 2031; Co, Ni, Cu 90 % / 95 % — apply to the "
            "whole recycling process, not to this step alone.",
            body,
        ),
        Spacer(1, 3 * mm),
    ]
    tot = [["element", "in (kg)", "to black mass (kg)", "recovered (%)", "target 2027 (%)", "target 2031 (%)"]]
    for m in REGULATED_METALS:
        fin = float(frame[f"feed_{m}_kg"].fill_nan(None).sum())
        fout = float(frame[f"black_mass_{m}_kg"].fill_nan(None).sum())
        t27, t31 = EU_TARGETS.get(m, (math.nan, math.nan))
        tot.append(
            [m.capitalize(), _num(fin), _num(fout), _pct(fout / fin if fin else math.nan), _pct(t27, 0), _pct(t31, 0)]
        )
    story += [_table(tot), Spacer(1, 3 * mm), Paragraph(_carbon_text(frame), body), Spacer(1, 3 * mm)]
    lot = [
        [
            "batch",
            "Ni in",
            "Ni to BM",
            "Co in",
            "Co to BM",
            "Li in",
            "Li to BM",
            "Cu in",
            "Cu to BM",
            "Ni (%)",
            "Co (%)",
            "Li (%)",
            "assays",
        ]
    ]
    for r in shown.iter_rows(named=True):
        lot.append(
            [
                r["batch_id"],
                *(_num(r[f"{s}_{m}_kg"], "{:,.1f}") for m in LOT_TABLE_METALS for s in ("feed", "black_mass")),
                _pct(r["recovery_ni"]),
                _pct(r["recovery_co"]),
                _pct(r["recovery_li"]),
                r["assay_status"],
            ]
        )
    story.append(_table(lot))
    return story


def _carbon_text(frame: pl.DataFrame) -> str:
    """One paragraph: CO2e of the preprocessing step over the period, and the factors behind it."""
    known = frame.filter(pl.col("co2e_kg").is_not_null() & ~pl.col("co2e_kg").is_nan())
    if known.height == 0:
        return "Carbon of the preprocessing step: no lot carries a CO2e figure (no [ghg] factors configured)."
    co2e, bm_t = float(known["co2e_kg"].sum()), float(known["black_mass_kg"].fill_nan(None).sum()) / 1000.0
    kwh, n2 = float(known["energy_kwh"].fill_nan(None).sum()), float(known["nitrogen_nm3"].fill_nan(None).sum())
    sources = "; ".join(sorted(set(known["ghg_factor_sources"].to_list())))
    per_t = f"{co2e / bm_t:,.1f}" if bm_t > 0 else "n/a"
    return (
        f"Carbon of the preprocessing step ({known.height} of {frame.height} lots): {co2e:,.0f} kg CO2e, "
        f"{per_t} kg CO2e per t of black mass, from {kwh:,.0f} kWh and {n2:,.0f} Nm3 of nitrogen. "
        f"Factors: {escape(sources)}. Signed per-lot figures: blackmass passport lot (docs/passports.md)."
    )
