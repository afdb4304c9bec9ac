import math

import pytest

from monitor.core.carbon import GhgFactors, OtherInput, allocate_by_mass, lot_carbon

GRID = GhgFactors(
    grid_kg_co2e_per_kwh=0.35,
    grid_source="utility 2025 disclosure",
    grid_year=2025,
    nitrogen_kg_co2e_per_nm3=0.09,
    nitrogen_source="gas supplier EPD",
)


def test_co2e_is_energy_times_grid_plus_nitrogen_times_its_factor() -> None:
    # 412.5 kWh x 0.35 = 144.375; 250 Nm3 x 0.09 = 22.5; total 166.875 kg on 1.5 t black mass
    c = lot_carbon(GRID, energy_kwh=412.5, nitrogen_nm3=250.0, feed_kg=3000.0, black_mass_kg=1500.0)
    assert c.electricity_co2e_kg == pytest.approx(144.375)
    assert c.nitrogen_co2e_kg == pytest.approx(22.5)
    assert c.co2e_kg == pytest.approx(166.875)
    assert c.co2e_kg_per_t_black_mass == pytest.approx(111.25)
    assert (c.grid_kg_co2e_per_kwh, c.grid_source, c.grid_year) == (0.35, "utility 2025 disclosure", 2025)
    assert c.nitrogen_source == "gas supplier EPD"


def test_other_inputs_are_charged_per_tonne_of_feed() -> None:
    f = GhgFactors(
        grid_kg_co2e_per_kwh=0.5,
        grid_source="x",
        grid_year=2024,
        other=(OtherInput(name="loaders", kg_co2e_per_t_feed=1.5, source="fuel log"),),
    )
    c = lot_carbon(f, energy_kwh=100.0, nitrogen_nm3=math.nan, feed_kg=4000.0, black_mass_kg=2000.0)
    # 100 x 0.5 = 50; no nitrogen factor: nitrogen not counted (0, not unknown); 4 t x 1.5 = 6
    assert (c.electricity_co2e_kg, c.nitrogen_co2e_kg, c.other_co2e_kg, c.co2e_kg) == (50.0, 0.0, 6.0, 56.0)
    assert c.co2e_kg_per_t_black_mass == pytest.approx(28.0)


def test_unknown_energy_or_nitrogen_makes_the_total_unknown_never_zero() -> None:
    no_meter = lot_carbon(GRID, energy_kwh=math.nan, nitrogen_nm3=250.0, feed_kg=3000.0, black_mass_kg=1500.0)
    assert math.isnan(no_meter.co2e_kg) and math.isnan(no_meter.co2e_kg_per_t_black_mass)
    no_n2 = lot_carbon(GRID, energy_kwh=100.0, nitrogen_nm3=math.nan, feed_kg=3000.0, black_mass_kg=1500.0)
    assert math.isnan(no_n2.co2e_kg)
    no_bm = lot_carbon(GRID, energy_kwh=100.0, nitrogen_nm3=0.0, feed_kg=3000.0, black_mass_kg=0.0)
    assert no_bm.co2e_kg == pytest.approx(35.0) and math.isnan(no_bm.co2e_kg_per_t_black_mass)


def test_allocation_by_mass() -> None:
    assert allocate_by_mass(166.875, 750.0, 1500.0) == pytest.approx(83.4375)
    assert allocate_by_mass(100.0, 312.0, 1248.0) == pytest.approx(25.0)
    assert math.isnan(allocate_by_mass(100.0, 1.0, 0.0))
    assert math.isnan(allocate_by_mass(math.nan, 1.0, 10.0))
