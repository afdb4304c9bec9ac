"""Reference data the service is seeded with: declared feed grades by chemistry and feed form."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from monitor.core.assays import ELEMENTS
from monitor.errors import ConfigError


@dataclass(frozen=True)
class FeedGrades:
    """(chemistry, feed form) → element mass fractions, from seeds/feed_compositions.csv."""

    table: dict[tuple[str, str], dict[str, float]]
    source: str

    def declared(self, chemistry: str, feed_form: str) -> dict[str, float] | None:
        return self.table.get((chemistry, feed_form))


def load_feed_grades(folder: Path) -> FeedGrades:
    path = folder / "feed_compositions.csv"
    try:
        fh = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), "(file)", "the seeds table of feed compositions", str(exc)) from exc
    table: dict[tuple[str, str], dict[str, float]] = {}
    with fh:
        reader = csv.DictReader(fh)
        cols = reader.fieldnames or []
        for need in ("chemistry", "feed_form", *ELEMENTS, "label", "source"):
            if need not in cols:
                raise ConfigError(str(path), need, "a column of that name", ",".join(cols))
        for n, row in enumerate(reader, start=2):
            grades = {}
            for el in ELEMENTS:
                try:
                    v = float(row[el])
                except ValueError as exc:
                    raise ConfigError(f"{path}:{n}", el, "a wt % number", row[el]) from exc
                if not math.isfinite(v) or not 0 <= v <= 100:  # noqa: PLR2004 - a percentage
                    raise ConfigError(f"{path}:{n}", el, "a wt % between 0 and 100", row[el])
                grades[el] = v / 100.0
            if sum(grades.values()) > 1.0 + 1e-9:
                raise ConfigError(
                    f"{path}:{n}", "(sum)", "elements summing to at most 100 %", round(sum(grades.values()) * 100, 3)
                )
            key = (row["chemistry"], row["feed_form"])
            if key in table:
                raise ConfigError(f"{path}:{n}", "chemistry,feed_form", "each pair once", key)
            table[key] = grades
    return FeedGrades(table, str(path))
