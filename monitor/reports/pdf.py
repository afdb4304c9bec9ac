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
    CondPageBreak,
    Flowable,
    LongTable,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    TableStyle,
)

from monitor.core.rules import BALANCE_P_FAIL
from monitor.reports.charts import recovery_chart, yield_chart
from monitor.reports.frames import iso, lines_frame
from monitor.reports.pdf_regulation import num, pct, regulation, table
from monitor.reports.recovery import element_table

HEADLINE_METALS = ("ni", "co", "li")  # the summary's recovery columns
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
    return pct(x, digits)


def _num(x: object, fmt: str = "{:,.0f}") -> str:
    return num(x, fmt)


def _table(rows: list[list[str]], widths: list[float] | None = None) -> LongTable:
    return table(rows, GRID, widths)


def write_pdf(
    frame: pl.DataFrame,
    out: str | Path | io.BytesIO,
    *,
    plant: str = "",
    period: str = "",
    filters: str = "",
    generated: datetime | None = None,
) -> None:
    """The PDF report of a batches frame (the store's report projection: store/rows.py).

    `plant` is the config's [plant] name, `filters` what selected the lots, `period` the asked-for
    span (else the lots' own); plant, lines and filters are on every page.
    """
    gen = generated or datetime.now(UTC)
    doc = SimpleDocTemplate(
        out if isinstance(out, io.BytesIO) else str(out),
        pagesize=landscape(A4),
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=14 * mm,
        bottomMargin=12 * mm,
        title=f"Batch recovery report · {plant}" if plant else "Batch recovery report",
        author="blackmass-monitor",
    )
    h1, body = STYLE["Title"], STYLE["BodyText"]
    story: list[object] = [Paragraph("Batch recovery report", h1)]
    lines = sorted(set(frame["line"].to_list())) if frame.height else []
    first, last = (str(frame["start"].min()), str(frame["end"].max())) if frame.height else ("", "")
    versions = int(frame["version"].sum()) if frame.height else 0
    where = f"{plant or 'plant name not configured ([plant] name)'} / line {', '.join(lines) or '-'}"
    meta = [
        ["plant / line", where],
        ["period", period or (f"{first} – {last}" if frame.height else "all time")],
        ["filters", filters or "none (every complete lot)"],
        ["generated at", iso(gen.timestamp())],
        ["data version", f"{frame.height} batches, {versions} stored versions"],
    ]
    story += [_table([["report", "batch recovery report"], *meta], [45 * mm, 220 * mm]), Spacer(1, 4 * mm)]

    def page(canvas: Canvas, _doc: object) -> None:
        canvas.setFont("Helvetica", 7)
        w, h = landscape(A4)
        canvas.drawString(12 * mm, h - 8 * mm, f"{plant or 'plant'} · line {', '.join(lines) or '-'}")
        canvas.drawRightString(w - 12 * mm, h - 8 * mm, f"filters: {filters or 'none'} · period: {meta[1][1]}")
        stamp = f"blackmass-monitor · batch recovery report · {iso(gen.timestamp())}"
        canvas.drawString(12 * mm, 6 * mm, f"{stamp} · page {canvas.getPageNumber()}")

    if frame.height == 0:
        story.append(Paragraph(f"No lots match this report's filters ({escape(filters or 'none')}).", body))
        doc.build(story, onFirstPage=page, onLaterPages=page)
        return
    story += _summary(frame, lines)
    shown = frame.sort("start").tail(MAX_TABLE_ROWS)
    story += _batch_table(frame, shown)
    story += _balance(frame)
    story += _assay_status(frame)
    story += regulation(frame, shown, GRID)
    doc.build(story, onFirstPage=page, onLaterPages=page)


def _summary(frame: pl.DataFrame, lines: list[str]) -> list[Flowable]:
    """Totals and KPIs (recoveries from reports/recovery.py, as in the regulatory table), per line, charts."""
    h2, body = STYLE["Heading2"], STYLE["BodyText"]
    feed, bm = float(frame["feed_kg"].sum()), float(frame["black_mass_kg"].sum())
    energy = float(frame["energy_kwh"].fill_nan(None).sum())  # batches without a meter reading add nothing
    final = int((frame["assay_status"] == "final").sum())
    failed = int((frame["balance_p_value"].fill_nan(None) < BALANCE_P_FAIL).sum())
    rec = {r["element"]: r for r in element_table(frame).iter_rows(named=True)}
    head = ["batches", "feed (t)", "black mass (t)", "yield (%)"]
    head += [f"{m.capitalize()} rec. (%)" for m in HEADLINE_METALS]
    head += ["lots without assays", "final assays", f"balance failures (p < {BALANCE_P_FAIL:g})", "kWh/t BM"]
    kpi = [
        head,
        [
            str(frame.height),
            _num(feed / 1000, "{:,.1f}"),
            _num(bm / 1000, "{:,.1f}"),
            _pct(bm / feed if feed else math.nan),
            *(_pct(rec[m]["recovery"]) for m in HEADLINE_METALS),
            str(rec["ni"]["lots_without_assays"]),
            f"{final} of {frame.height}",
            str(failed),
            _num(energy / (bm / 1000) if bm else math.nan, "{:,.0f}"),
        ],
    ]
    note = (
        "Recoveries: element recovered into its product stream over element in, summed over the lots with "
        f"assays; {rec['ni']['lots_without_assays']} lots without assays are left out of both (the regulatory "
        "section has every element)."
    )
    story: list[Flowable] = [Paragraph("Summary", h2), _table(kpi), Paragraph(note, body), Spacer(1, 3 * mm)]
    story.append(yield_chart(frame))  # summary and trend on the first page
    if len(lines) > 1:  # a plant report: each line's subtotal, then all lines
        per_line = [["line", "batches", "feed (t)", "black mass (t)", "yield (%)", "Ni rec. (%)"]]
        per_line[0] += ["Co rec. (%)", "Li rec. (%)", "lots without assays"]
        for r in lines_frame(frame).iter_rows(named=True):
            masses = [_num(r["feed_t"], "{:,.1f}"), _num(r["black_mass_t"], "{:,.1f}"), _pct(r["black_mass_yield"])]
            recoveries = [_pct(r[f"recovery_{m}"]) for m in HEADLINE_METALS]
            per_line.append([str(r["line"]), str(r["batches"]), *masses, *recoveries, str(r["lots_without_assays_ni"])])
        story += [Paragraph("Per line", h2), _table(per_line), Spacer(1, 3 * mm)]
    return [*story, recovery_chart(frame)]


def _batch_table(frame: pl.DataFrame, shown: pl.DataFrame) -> list[Flowable]:
    """One row per batch (the latest MAX_TABLE_ROWS)."""
    h2, body = STYLE["Heading2"], STYLE["BodyText"]
    story: list[Flowable] = []
    story += [CondPageBreak(40 * mm), Paragraph("Batches", h2)]
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
            _pct(r["black_mass_yield"]),
            _pct(r["black_mass_yield_reconciled"]),
            _pct(1.96 * r["black_mass_yield_sd"] if r["black_mass_yield_sd"] is not None else math.nan),
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
        CondPageBreak(40 * mm),
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
