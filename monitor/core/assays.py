"""Lab assays and how they become a stream's grade (dry basis, mass-weighted over bags)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

ELEMENTS = ("ni", "co", "mn", "li", "cu", "al", "fe", "c", "f", "p")  # the grade table's columns (seeds/)
# what a lab may report: the grade table's elements plus Pb (lead: Battery Pass recycled content, EU 2023/1542 Art. 8)
ASSAY_ELEMENTS = (*ELEMENTS, "pb")
RECOVERY_ELEMENTS = ("ni", "co", "mn", "li", "cu", "al", "fe")

# Lab precision, relative σ of an assay [M after domain.md: Ni/Co 1–3 %, Li 2–5 %], and a
# detection limit (wt %) below which the absolute σ does not shrink further.
ASSAY_REL_SIGMA = {
    "ni": 0.015,
    "co": 0.015,
    "mn": 0.015,
    "li": 0.03,
    "cu": 0.03,
    "al": 0.03,
    "fe": 0.03,
    "c": 0.03,
    "f": 0.05,
    "p": 0.05,
    "pb": 0.05,
}
DETECTION_LIMIT_PCT = 0.005
PRELIMINARY_SIGMA_FACTOR = 2.0  # quick assays (XRF/ICP screening) are about twice as scattered
DECLARED_GRADE_REL_SIGMA = 0.05  # a grade from the seeds table, not an assay of this lot [M]


@dataclass(frozen=True, slots=True)
class Assay:
    batch_id: str
    stream: str
    element: str
    value_pct: float  # wt %, dry basis
    status: str  # "preliminary" | "final"
    sample_id: str = ""
    bag_id: str = ""
    lab: str = ""
    method: str = ""
    moisture_pct: float | None = None
    line: str = ""  # the line the lot ran on, when the lab file says (not stored: batch ids are per line)


@dataclass(frozen=True, slots=True)
class Grade:
    """A stream's element content as used in the balance."""

    fraction: float  # mass fraction, dry basis
    sigma: float  # absolute σ of the fraction
    dry_kg: float  # dry mass of the stream the grade applies to
    status: str  # "final" | "preliminary" | "declared"
    samples: int


def assay_sigma(element: str, fraction: float, status: str) -> float:
    rel = ASSAY_REL_SIGMA.get(element, 0.05) * (PRELIMINARY_SIGMA_FACTOR if status == "preliminary" else 1.0)
    return max(rel * fraction, DETECTION_LIMIT_PCT / 100.0)


def _best(rows: list[Assay]) -> tuple[list[Assay], str]:
    """Final assays supersede preliminary ones of the same stream and element."""
    finals = [a for a in rows if a.status == "final"]
    return (finals, "final") if finals else (rows, "preliminary")


def stream_grade(
    assays: Iterable[Assay], stream: str, element: str, wet_kg: float, bags: Mapping[str, float] | None = None
) -> Grade | None:
    """The stream's grade of `element`, or None when it has no assay.

    Per-bag assays are weighted by each bag's dry mass; lot composites are averaged. Dry mass
    is wet × (1 − moisture) where the lab gave a moisture, else the wet mass.
    """
    rows = [a for a in assays if a.stream == stream and a.element == element]
    if not rows:
        return None
    rows, status = _best(rows)
    moisture = {a.bag_id: a.moisture_pct for a in assays if a.stream == stream and a.moisture_pct is not None}
    bags = bags or {}
    bag_rows = [a for a in rows if a.bag_id and a.bag_id in bags]
    if bag_rows:
        weights, values = [], []
        for a in bag_rows:
            m = (a.moisture_pct if a.moisture_pct is not None else moisture.get(a.bag_id, 0.0)) or 0.0
            weights.append(bags[a.bag_id] * (1 - m / 100.0))
            values.append(a.value_pct / 100.0)
        total = sum(weights)
        frac = sum(w * v for w, v in zip(weights, values, strict=True)) / total if total > 0 else 0.0
        known_m = [moisture.get(b, 0.0) or 0.0 for b in bags]
        mean_m = sum(known_m) / len(known_m) if known_m else 0.0
        dry = sum(kg * (1 - (moisture.get(b, mean_m) or 0.0) / 100.0) for b, kg in bags.items())
        n = len(bag_rows)
        # bags are sampled separately: the mean's σ shrinks with the number of bags assayed
        sigma = assay_sigma(element, frac, status) / max(1.0, n**0.5)
    else:
        frac = sum(a.value_pct for a in rows) / len(rows) / 100.0
        ms = [a.moisture_pct for a in rows if a.moisture_pct is not None] or [
            m for m in moisture.values() if m is not None
        ]
        m = sum(ms) / len(ms) if ms else 0.0
        dry = wet_kg * (1 - m / 100.0)
        n = len(rows)
        sigma = assay_sigma(element, frac, status) / max(1.0, n**0.5)
    return Grade(frac, sigma, dry, status, n)


def declared_grade(fraction: float, wet_kg: float) -> Grade:
    return Grade(fraction, max(DECLARED_GRADE_REL_SIGMA * fraction, DETECTION_LIMIT_PCT / 100.0), wet_kg, "declared", 0)
