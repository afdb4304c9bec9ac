"""The simulator's composition model: what a lot is made of and where each part goes.

Components carry elements; each component splits over the product streams. Numbers are
modelled engineering defaults [M] tuned to the yields in shared/reference/domain.md.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ELEMENTS = ("ni", "co", "mn", "li", "cu", "al", "fe", "c", "f", "p")
STREAMS = ("black_mass", "ferrous", "aluminium", "copper", "light_fraction", "condensate", "fines", "loss")

# component -> stream -> fraction (rows sum to 1)
SPLITS: dict[str, dict[str, float]] = {
    "cam": {
        "black_mass": 0.88,
        "fines": 0.06,
        "light_fraction": 0.02,
        "aluminium": 0.02,
        "copper": 0.01,
        "ferrous": 0.005,
        "loss": 0.005,
    },
    "graphite": {
        "black_mass": 0.87,
        "fines": 0.07,
        "light_fraction": 0.03,
        "copper": 0.015,
        "aluminium": 0.01,
        "loss": 0.005,
    },
    "carbon_binder": {"black_mass": 0.85, "fines": 0.05, "light_fraction": 0.05, "loss": 0.05},
    "al_foil": {"aluminium": 0.93, "black_mass": 0.03, "light_fraction": 0.02, "copper": 0.02},
    "cu_foil": {"copper": 0.94, "black_mass": 0.03, "aluminium": 0.02, "light_fraction": 0.01},
    "solvent": {"condensate": 0.88, "black_mass": 0.02, "loss": 0.10},  # residual solvent = moisture
    "lipf6": {"black_mass": 0.80, "fines": 0.05, "loss": 0.15},
    "separator": {"light_fraction": 0.90, "black_mass": 0.03, "aluminium": 0.03, "copper": 0.03, "loss": 0.01},
    "casing_al": {"aluminium": 0.95, "light_fraction": 0.02, "black_mass": 0.01, "copper": 0.02},
    "casing_al_laminate": {"aluminium": 0.60, "light_fraction": 0.38, "black_mass": 0.02},
    "casing_steel": {"ferrous": 0.97, "black_mass": 0.01, "aluminium": 0.01, "copper": 0.01},
    "housing_steel": {"ferrous": 0.98, "aluminium": 0.01, "copper": 0.01},
    "housing_al": {"aluminium": 0.96, "ferrous": 0.02, "copper": 0.02},
    "housing_plastic": {"light_fraction": 0.95, "black_mass": 0.02, "loss": 0.03},
    "housing_cu": {"copper": 0.95, "aluminium": 0.05},
    "electronics": {"copper": 0.30, "ferrous": 0.30, "light_fraction": 0.30, "aluminium": 0.10},
}

# component -> element -> mass fraction (the rest is O, H, polymer backbone ...)
ELEMENT_FRACTIONS: dict[str, dict[str, float]] = {
    "graphite": {"c": 1.0},
    "carbon_binder": {"c": 0.69, "f": 0.30},  # carbon black + PVDF (F 59.3 % of PVDF)
    "al_foil": {"al": 1.0},
    "cu_foil": {"cu": 1.0},
    "solvent": {"c": 0.41},
    "lipf6": {"li": 0.0457, "p": 0.2039, "f": 0.750},
    "separator": {"c": 0.857},
    "casing_al": {"al": 1.0},
    "casing_al_laminate": {"al": 0.55, "c": 0.35},
    "casing_steel": {"fe": 0.97, "ni": 0.03},  # nickel-plated steel can
    "housing_steel": {"fe": 0.98},
    "housing_al": {"al": 1.0},
    "housing_plastic": {"c": 0.80},
    "housing_cu": {"cu": 1.0},
    "electronics": {"cu": 0.25, "fe": 0.20, "al": 0.05, "c": 0.30},
}

_SPECIAL_FORMS = {
    "cathode_foil_scrap": {"cam": 88.0, "carbon_binder": 4.0, "al_foil": 8.0},
    "anode_foil_scrap": {"graphite": 88.0, "carbon_binder": 3.0, "cu_foil": 9.0},
}


@dataclass(frozen=True)
class Seeds:
    cams: dict[str, dict[str, float]]
    formats: dict[str, dict[str, str]]
    forms: dict[str, dict[str, str]]


def load_seeds(folder: Path) -> Seeds:
    def rows(name: str, key: str) -> dict[str, dict[str, str]]:
        with (folder / name).open(newline="") as fh:
            return {r[key]: r for r in csv.DictReader(fh)}

    cams = {
        k: {e: float(v) for e, v in r.items() if e in ELEMENTS} for k, r in rows("cam_stoichiometry.csv", "cam").items()
    }
    return Seeds(cams, rows("cell_formats.csv", "format"), rows("feed_forms.csv", "feed_form"))


def lot_components(seeds: Seeds, chemistry: str, cell_format: str, feed_form: str) -> dict[str, float]:
    """Mass fractions of components (sum 1) for a lot of this chemistry, cell format and form."""
    if feed_form in _SPECIAL_FORMS:
        comp = dict(_SPECIAL_FORMS[feed_form])
    else:
        f = seeds.formats[cell_format]
        casing = {"al": "casing_al", "al_laminate": "casing_al_laminate", "steel": "casing_steel"}[f["casing_material"]]
        electrolyte = float(f["electrolyte"])
        comp = {
            "cam": float(f["cam"]),
            "graphite": float(f["graphite"]),
            "carbon_binder": float(f["carbon_binder"]),
            "al_foil": float(f["al_foil"]),
            "cu_foil": float(f["cu_foil"]),
            "solvent": 0.875 * electrolyte,
            "lipf6": 0.125 * electrolyte,
            "separator": float(f["separator"]),
            casing: float(f["casing"]),
        }
        if feed_form == "jelly_rolls":
            for k in ("solvent", "lipf6", casing):
                comp.pop(k)
        form = seeds.forms[feed_form]
        cells = float(form["cell_fraction"])
        total = sum(comp.values())
        comp = {k: v / total * cells for k, v in comp.items()}
        for h in ("housing_steel", "housing_al", "housing_plastic", "housing_cu", "electronics"):
            if float(form[h]) > 0:
                comp[h] = float(form[h])
    total = sum(comp.values())
    _ = seeds.cams[chemistry]  # unknown chemistry fails here, at lot creation
    return {k: v / total for k, v in comp.items()}


def element_fractions(seeds: Seeds, chemistry: str, component: str) -> Mapping[str, float]:
    if component == "cam":
        return seeds.cams[chemistry]
    return ELEMENT_FRACTIONS.get(component, {})


Splits = Mapping[str, Mapping[str, float]]


def torn_sieve(splits: Splits, lost: float = 0.35) -> dict[str, dict[str, float]]:
    """A torn sieve screen: `lost` of what would be black mass rides the oversize to the eddy current."""
    out = {}
    for comp, row in splits.items():
        new = dict(row)
        moved = new.get("black_mass", 0.0) * lost
        if moved:
            new["black_mass"] -= moved
            new["aluminium"] = new.get("aluminium", 0.0) + moved / 2
            new["copper"] = new.get("copper", 0.0) + moved / 2
        out[comp] = new
    return out


def stream_fractions(components: Mapping[str, float], splits: Splits = SPLITS) -> dict[str, float]:
    """Fraction of the lot's mass that leaves in each stream (sums to 1)."""
    out = dict.fromkeys(STREAMS, 0.0)
    for comp, frac in components.items():
        for stream, share in splits[comp].items():
            out[stream] += frac * share
    return out


VOLATILE = ("solvent",)  # leaves at the lab's drying step: the assay's moisture


def stream_assays(
    seeds: Seeds, chemistry: str, components: Mapping[str, float], splits: Splits = SPLITS
) -> dict[str, tuple[float, dict[str, float]]]:
    """What a perfect lab reports per stream: (moisture fraction, dry element fractions)."""
    out: dict[str, tuple[float, dict[str, float]]] = {}
    for stream in STREAMS:
        wet = volatile = 0.0
        dry_el = dict.fromkeys(ELEMENTS, 0.0)
        for comp, frac in components.items():
            share = frac * splits[comp].get(stream, 0.0)
            wet += share
            if comp in VOLATILE:
                volatile += share
                continue
            for el, ef in element_fractions(seeds, chemistry, comp).items():
                dry_el[el] += share * ef
        dry = wet - volatile
        if wet > 0:
            out[stream] = (volatile / wet, {el: (v / dry if dry > 0 else 0.0) for el, v in dry_el.items()})
    return out


def element_split(
    seeds: Seeds, chemistry: str, components: Mapping[str, float], splits: Splits = SPLITS
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Per kg of lot: element kg in the feed, and element kg per stream."""
    feed = dict.fromkeys(ELEMENTS, 0.0)
    per_stream = {s: dict.fromkeys(ELEMENTS, 0.0) for s in STREAMS}
    for comp, frac in components.items():
        for el, ef in element_fractions(seeds, chemistry, comp).items():
            feed[el] += frac * ef
            for stream, share in splits[comp].items():
                per_stream[stream][el] += frac * ef * share
    return feed, per_stream


TYPICAL_FORMAT = {
    "LCO": "pouch",
    "NMC111": "prismatic_al",
    "NMC532": "prismatic_al",
    "NMC622": "prismatic_al",
    "NMC811": "pouch",
    "NCA": "cylindrical_steel",
    "NCMA": "pouch",
    "LFP": "prismatic_lfp",
    "LMO": "prismatic_al",
}


def feed_composition_rows(seeds: Seeds) -> list[dict[str, str]]:
    """The declared-grade table (seeds/feed_compositions.csv): element wt % per chemistry and form."""
    rows = []
    for chem in seeds.cams:
        fmt = TYPICAL_FORMAT[chem]
        for form in seeds.forms:
            feed, _ = element_split(seeds, chem, lot_components(seeds, chem, fmt, form))
            row = {"chemistry": chem, "feed_form": form, "cell_format": fmt}
            row.update({el: f"{feed[el] * 100:.6g}" for el in ELEMENTS})
            row["label"] = "M"
            row["source"] = "component model over seeds/cell_formats.csv, feed_forms.csv, cam_stoichiometry.csv"
            rows.append(row)
    return rows


def main() -> None:
    """python -m monitor.simulator.composition SEEDS_DIR: rewrite SEEDS_DIR/feed_compositions.csv."""
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "seeds")
    rows = feed_composition_rows(load_seeds(folder))
    with (folder / "feed_compositions.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, list(rows[0]))
        w.writeheader()
        w.writerows(rows)


if __name__ == "__main__":
    main()
