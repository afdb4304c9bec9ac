"""The simulator's own truth: mass conserved per lot, yields in the domain's ranges, bags add up."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.errors import ConfigError
from monitor.simulator.composition import STREAMS, load_seeds, lot_components, stream_fractions
from monitor.simulator.lots import load_schedule, truth_row
from monitor.simulator.plant import Plant
from monitor.simulator.settings import SimConfig, load_sim_config

ROOT = Path(__file__).resolve().parents[2]
SEEDS = load_seeds(ROOT / "seeds")


def run(
    steps: int, *, noise: bool, seed: int = 3
) -> tuple[Plant, list[dict[str, object]], list[tuple[float, str, float]]]:
    plant = Plant(SimConfig(), SEEDS, load_schedule(ROOT / "seeds/demo_lots.csv"), t0=0.0, seed=seed, noise=noise)
    rows, bags = [], []
    for _ in range(steps):
        ts, changed, finished = plant.step()
        if "BlackMass.BagNetWeight" in changed:
            bags.append((ts, str(changed["BlackMass.BagId"]), float(changed["BlackMass.BagNetWeight"])))
        rows += [truth_row(lot, "L1") for lot in finished]
    return plant, rows, bags


@pytest.mark.parametrize(
    ("chemistry", "fmt", "form", "lo", "hi"),
    [
        ("NMC811", "pouch", "cells", 0.48, 0.59),
        ("NMC622", "prismatic_al", "modules", 0.40, 0.50),
        ("NMC622", "prismatic_al", "packs", 0.31, 0.38),
        ("NCMA", "pouch", "cathode_foil_scrap", 0.78, 0.90),
    ],
)
def test_black_mass_yield_within_the_domain_ranges(chemistry: str, fmt: str, form: str, lo: float, hi: float) -> None:
    frac = stream_fractions(lot_components(SEEDS, chemistry, fmt, form))
    assert lo <= frac["black_mass"] <= hi
    assert sum(frac.values()) == pytest.approx(1.0)
    assert 0.0 < frac["loss"] < 0.03


def test_truth_conserves_mass_and_elements() -> None:
    _, rows, _ = run(2000, noise=True)
    assert len(rows) >= 10
    for r in rows:
        out = sum(float(r[f"{s}_kg"]) for s in STREAMS)  # type: ignore[arg-type]
        assert out == pytest.approx(float(r["feed_kg"]), abs=1e-3)  # truth is rounded to 0.1 g  # type: ignore[arg-type]
        for el in ("ni", "co", "mn", "li", "cu", "al", "fe"):
            assert 0.0 <= float(r[f"black_mass_{el}_kg"]) <= float(r[f"feed_{el}_kg"]) + 1e-9  # type: ignore[arg-type]
        assert 2000 <= float(r["feed_kg"]) <= 6100  # type: ignore[arg-type]


def test_noise_free_bags_add_up_to_the_truth_and_ids_are_unique() -> None:
    plant, rows, bags = run(1500, noise=False)
    assert len({b[1] for b in bags}) == len(bags)
    for r in rows:
        # a lot's bags are weighed during its output window (start + delay, end + delay]
        lo, hi = float(r["start"]) + 2100, float(r["end"]) + 2100  # type: ignore[arg-type]
        in_window = [kg for ts, _, kg in bags if lo < ts <= hi]
        assert sum(in_window) == pytest.approx(float(r["black_mass_kg"]), abs=1e-3)  # type: ignore[arg-type]
        assert all(kg <= 1000.0 + 34.0 for kg in in_window)
    fed = sum(float(r["feed_kg"]) for r in rows)  # type: ignore[arg-type]
    assert plant.tot_meas["feed"] >= fed


def test_scale_errors_only_with_noise_and_of_the_configured_size() -> None:
    schedule = load_schedule(ROOT / "seeds/demo_lots.csv")
    noisy = Plant(SimConfig(), SEEDS, schedule, t0=0.0, seed=9, noise=True)
    feed_errors = [noisy._new_lot(0.0).bias["feed"] for _ in range(400)]
    sd = (sum(e * e for e in feed_errors) / len(feed_errors)) ** 0.5
    assert 0.004 < sd < 0.006  # configured belt-scale sigma 0.5 %
    exact = Plant(SimConfig(), SEEDS, schedule, t0=0.0, seed=9, noise=False)
    assert set(exact._new_lot(0.0).bias.values()) == {0.0}


def test_delays_must_fall_on_steps(tmp_path: Path) -> None:
    p = tmp_path / "sim.toml"
    p.write_text("[simulator]\nstep_s = 60\n[simulator.delays_s]\nblack_mass = 2130\n")
    with pytest.raises(ConfigError, match=r"simulator\.delays_s\.black_mass"):
        load_sim_config(p)
    p.write_text("[simulator]\nspeed_of_light = 1\n")
    with pytest.raises(ConfigError, match=r"simulator\.speed_of_light"):
        load_sim_config(p)
    assert load_sim_config(ROOT / "config/simulator.toml").delays_s["black_mass"] == 2100
