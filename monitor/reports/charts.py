"""The PDF report's charts: black-mass yield against its baseline, recovery per metal (matplotlib, no pyplot)."""

from __future__ import annotations

import io
from datetime import datetime

import matplotlib.dates as mdates
import polars as pl
from matplotlib.figure import Figure  # no pyplot: no global state, safe in the API's threads
from reportlab.lib.units import mm
from reportlab.platypus import Image

from monitor.core.rules import BASELINE_BATCHES, BASELINE_MIN_BATCHES

# EU Battery Regulation 2023/1542, Annex XII material recovery targets (by end 2027 / end 2031)
EU_TARGETS = {"li": (0.50, 0.80), "co": (0.90, 0.95), "ni": (0.90, 0.95), "cu": (0.90, 0.95)}


def _chart(fig: Figure) -> Image:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    buf.seek(0)
    return Image(buf, width=250 * mm, height=85 * mm)


def yield_chart(frame: pl.DataFrame) -> Image:
    fig = Figure(figsize=(11, 3.8))
    ax = fig.subplots()
    for (chem, form), part in frame.sort("start").group_by(["chemistry", "feed_form"], maintain_order=True):
        t = mdates.date2num([datetime.fromisoformat(s.replace("Z", "+00:00")) for s in part["start"].to_list()])
        y = part["black_mass_yield"].to_list()
        ax.scatter(t, y, s=10, label=f"{chem} {form}")
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
    fig = Figure(figsize=(11, 3.8))
    ax = fig.subplots()
    metals = [
        m for m in ("ni", "co", "mn", "li", "cu", "al") if frame[f"recovery_{m}"].fill_nan(None).drop_nulls().len()
    ]
    data = [frame[f"recovery_{m}"].fill_nan(None).drop_nulls().to_list() for m in metals]
    if data:
        ax.boxplot(data, tick_labels=[m.capitalize() for m in metals], showfliers=True)
    for i, m in enumerate(metals, start=1):
        if m in EU_TARGETS:
            ax.hlines(EU_TARGETS[m], i - 0.4, i + 0.4, colors=["orange", "red"], linestyles="dashed", linewidth=1)
    ax.set_ylabel("recovery into black mass (ratio)")
    ax.set_title("Recovery per metal (dashed: EU 2023/1542 recycling-process targets 2027 / 2031, for context)")
    ax.grid(alpha=0.3)
    return _chart(fig)
