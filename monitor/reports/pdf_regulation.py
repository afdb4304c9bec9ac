"""The PDF's regulatory section: element recovery per EU 2023/1542 Annex XII, carbon, and their footnotes."""

from __future__ import annotations

import math
from xml.sax.saxutils import escape

import polars as pl
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import CondPageBreak, Flowable, LongTable, Paragraph, Spacer, TableStyle

from monitor.core.carbon import UNSOURCED
from monitor.reports.recovery import ROUTES, element_table

STYLE = getSampleStyleSheet()
LOT_TABLE_METALS = ("ni", "co", "li")  # in and to black mass, per lot
STREAM_LABEL = {"black_mass": "black mass", "copper": "copper fraction", "aluminium": "aluminium fraction"}
STREAM_LABEL["ferrous"] = "ferrous fraction"


def pct(x: object, digits: int = 1) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{float(x) * 100:.{digits}f}"  # type: ignore[arg-type]


def num(x: object, fmt: str = "{:,.1f}") -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else fmt.format(x)


def table(rows: list[list[str]], style: TableStyle, widths: list[float] | None = None) -> LongTable:
    t = LongTable(rows, repeatRows=1, colWidths=widths)
    t.setStyle(style)
    return t


def regulation(frame: pl.DataFrame, shown: pl.DataFrame, style: TableStyle) -> list[Flowable]:
    """Element recovery into each element's product stream, the carbon paragraph, the per-lot table."""
    h2, body = STYLE["Heading2"], STYLE["BodyText"]
    streams = "; ".join(
        f"{', '.join(r.element.capitalize() for r in ROUTES if r.stream == s)} into the {STREAM_LABEL[s]}"
        for s in dict.fromkeys(r.stream for r in ROUTES)
    )
    story: list[Flowable] = [
        CondPageBreak(60 * mm),
        Paragraph("Regulatory section: element recovery per product stream", h2),
        Paragraph(
            "Preprocessing contribution only: the share of each element recovered at this plant into the product "
            "stream it is recycled from, supplied per lot to the downstream recycler (EU Battery Regulation "
            f"2023/1542, Annex XII Part C; Delegated Regulation 2025/606). Streams counted: {streams}. Co, Ni and "
            "Li (and Pb where fed; none is) are measured into the black mass; Cu and Al leave in their own "
            "fractions and are not counted into the black mass; Fe is reported without a target. The material "
            "recovery targets apply to the whole recycling process, not to this step alone. A lot without "
            "assays is left out of both the element in and the element recovered, and counted apart.",
            body,
        ),
        Spacer(1, 3 * mm),
    ]
    head = ["element", "product stream", "in (kg)", "recovered (kg)", "recovered (%)", "lots counted"]
    rows = [[*head, "lots without assays", "target 2027 (%)", "target 2031 (%)"]]
    for r in element_table(frame).iter_rows(named=True):
        rows.append(
            [
                r["element"].capitalize(),
                STREAM_LABEL[r["product_stream"]],
                num(r["feed_kg"]),
                num(r["recovered_kg"]),
                pct(r["recovery"]),
                str(r["lots_counted"]),
                str(r["lots_without_assays"]),
                pct(r["target_2027"], 0) if r["target_2027"] is not None else "no target",
                pct(r["target_2031"], 0) if r["target_2031"] is not None else "no target",
            ]
        )
    story += [table(rows, style), Spacer(1, 3 * mm), Paragraph(carbon_text(frame), body)]
    if unsourced(frame):
        story.append(
            Paragraph(
                "* unsourced: an emission factor configured without a source ([ghg] grid_source / "
                "nitrogen_source); its figure is a modelled value, not a published factor.",
                STYLE["Italic"],
            )
        )
    story.append(Spacer(1, 3 * mm))
    lot = [["batch", *(f"{m.capitalize()} {s}" for m in LOT_TABLE_METALS for s in ("in", "to BM"))]]
    lot[0] += ["Cu to copper", "Ni (%)", "Co (%)", "Li (%)", "assays"]
    for r in shown.iter_rows(named=True):
        lot.append(
            [
                r["batch_id"],
                *(num(r[f"{s}_{m}_kg"]) for m in LOT_TABLE_METALS for s in ("feed", "black_mass")),
                num(r["copper_cu_kg"]),
                pct(r["recovery_ni"]),
                pct(r["recovery_co"]),
                pct(r["recovery_li"]),
                r["assay_status"],
            ]
        )
    story += [Paragraph("Element masses per lot (kg)", STYLE["Heading3"]), table(lot, style)]
    return story


def unsourced(frame: pl.DataFrame) -> bool:
    return bool(frame.height) and bool(frame["ghg_factor_sources"].str.contains(UNSOURCED).any())


def carbon_text(frame: pl.DataFrame) -> str:
    """One paragraph: CO2e of the preprocessing step over the period, and the factors behind it."""
    known = frame.filter(pl.col("co2e_kg").is_not_null() & ~pl.col("co2e_kg").is_nan())
    if known.height == 0:
        return "Carbon of the preprocessing step: no lot carries a CO2e figure (no [ghg] factors configured)."
    co2e, bm_t = float(known["co2e_kg"].sum()), float(known["black_mass_kg"].fill_nan(None).sum()) / 1000.0
    kwh, n2 = float(known["energy_kwh"].fill_nan(None).sum()), float(known["nitrogen_nm3"].fill_nan(None).sum())
    sources = "; ".join(sorted(set(known["ghg_factor_sources"].to_list()))).replace(UNSOURCED, UNSOURCED + "*")
    per_t = f"{co2e / bm_t:,.1f}" if bm_t > 0 else "n/a"
    return (
        f"Carbon of the preprocessing step ({known.height} of {frame.height} lots): {co2e:,.0f} kg CO2e, "
        f"{per_t} kg CO2e per t of black mass, from {kwh:,.0f} kWh and {n2:,.0f} Nm3 of nitrogen. "
        f"Factors: {escape(sources)}. Signed per-lot figures: blackmass passport lot (docs/passports.md)."
    )
