"""The PDF report's charts: black-mass yield against its baseline, recovery per metal (matplotlib, no pyplot)."""

from __future__ import annotations

import io
from datetime import datetime

import matplotlib.dates as mdates
import polars as pl
from matplotlib.figure import Figure
from matplotlib.patches import Patch  # no pyplot: no global state, safe in the API's threads
from reportlab.lib.units import mm
from reportlab.platypus import Image

from monitor.core.rules import BASELINE_BATCHES, BASELINE_MIN_BATCHES
from monitor.reports.recovery import ROUTES, product_column

# EU Battery Regulation 2023/1542, Annex XII material recovery targets (by end 2027 / end 2031)
EU_TARGETS = {
    r.element: (r.target_2027, r.target_2031) for r in ROUTES if r.target_2027 is not None and r.target_2031 is not None
}
MARKERS = ("o", "^", "s", "D", "v", "P", "X")  # one per line: lines told apart in black and white too


def _chart(fig: Figure) -> Image:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    buf.seek(0)
    return Image(buf, width=250 * mm, height=68 * mm)


def yield_chart(frame: pl.DataFrame) -> Image:
    fig = Figure(figsize=(11, 3.0))
    ax = fig.subplots()
    lines = sorted(set(frame["line"].to_list()))
    groups = frame.sort("start").group_by(["line", "chemistry", "feed_form"], maintain_order=True)
    for (line, chem, form), part in groups:
        t = mdates.date2num([datetime.fromisoformat(s.replace("Z", "+00:00")) for s in part["start"].to_list()])
        y = part["black_mass_yield"].to_list()
        marker = MARKERS[lines.index(line) % len(MARKERS)]
        ax.scatter(t, y, s=10, marker=marker, label=f"{line} {chem} {form}" if len(lines) > 1 else f"{chem} {form}")
        base = (
            part["black_mass_yield"]
            .rolling_median(window_size=BASELINE_BATCHES, min_samples=BASELINE_MIN_BATCHES)
            .shift(1)
            .to_list()
        )
        ax.plot(t, base, linewidth=1)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M"))
    ax.set_ylabel("black-mass yield (ratio)")
    ax.set_title(
        f"Black-mass yield per batch; lines: baseline (median of the previous {BASELINE_BATCHES} "
        "of that chemistry and form)"
    )
    ax.legend(fontsize=6, ncol=4)
    ax.grid(alpha=0.3)
    return _chart(fig)


def recovery_chart(frame: pl.DataFrame) -> Image:
    """Per-lot recovery of each element into its product stream (reports/recovery.py), a box per line."""
    fig = Figure(figsize=(11, 3.0))
    ax = fig.subplots()
    lines = sorted(set(frame["line"].to_list()))
    width = 0.8 / max(len(lines), 1)
    ticks, labels = [], []
    for i, r in enumerate(ROUTES, start=1):
        per_lot = (pl.col(product_column(r.element)) / pl.col(f"feed_{r.element}_kg")).fill_nan(None)
        for k, line in enumerate(lines):
            data = frame.filter(pl.col("line") == line).select(per_lot.alias("r"))["r"].drop_nulls().to_list()
            if data:
                pos = i - 0.4 + width * (k + 0.5)
                box = ax.boxplot([data], positions=[pos], widths=width * 0.9, showfliers=True, patch_artist=True)
                box["boxes"][0].set_facecolor(f"C{k}")
        ticks.append(i)
        labels.append(f"{r.element.capitalize()}\n→ {r.stream.replace('_', ' ')}")
        if r.element in EU_TARGETS:
            ax.hlines(
                EU_TARGETS[r.element], i - 0.4, i + 0.4, colors=["orange", "red"], linestyles="dashed", linewidth=1
            )
    ax.set_xticks(ticks, labels, fontsize=7)
    if len(lines) > 1:
        ax.legend([Patch(facecolor=f"C{k}") for k in range(len(lines))], lines, fontsize=6, title="line")
    ax.set_ylabel("recovery into product (ratio)")
    ax.set_title("Recovery per element into its product stream (dashed: EU 2023/1542 targets 2027 / 2031, for context)")
    ax.grid(alpha=0.3)
    return _chart(fig)
