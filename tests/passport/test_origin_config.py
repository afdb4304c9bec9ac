"""Origin classes (supplier wins over feed form), mass-weighted shares, and the [ghg]/[origin]/[passport] config."""

import math
import tomllib
from pathlib import Path

import pytest

from monitor.config import load_config, parse_config
from monitor.errors import ConfigError
from monitor.passport.origin import OriginMap, lot_origin, mix
from monitor.passport.settings import KEY_ENV, PassportSettings

ROOT = Path(__file__).resolve().parents[2]
MAP = OriginMap(
    suppliers={"LGES-scrap": (("pre_consumer", 1.0),), "Mixed": (("post_consumer", 0.75), ("pre_consumer", 0.25))},
    feed_forms={"packs": (("post_consumer", 1.0),), "cathode_foil_scrap": (("pre_consumer", 1.0),)},
)


def test_supplier_decides_then_feed_form_then_unknown() -> None:
    assert lot_origin("LGES-scrap", "packs", MAP) == ((("pre_consumer", 1.0),), "supplier")
    assert lot_origin("Other", "packs", MAP) == ((("post_consumer", 1.0),), "feed_form")
    assert lot_origin("", "cells", MAP) == ((("unknown", 1.0),), "unmapped")
    assert lot_origin("Mixed", "cells", MAP)[0] == (("post_consumer", 0.75), ("pre_consumer", 0.25))


def test_mixed_shares_are_weighted_by_mass() -> None:
    # 600 kg all pre-consumer + 400 kg of a 25/75 lot: pre = (600 + 100) / 1000, post = 300 / 1000
    got = mix([(600.0, (("pre_consumer", 1.0),)), (400.0, (("post_consumer", 0.75), ("pre_consumer", 0.25)))])
    assert got == pytest.approx({"pre_consumer": 0.7, "post_consumer": 0.3})
    assert list(got) == ["pre_consumer", "post_consumer"]
    assert mix([(math.nan, (("pre_consumer", 1.0),)), (0.0, (("unknown", 1.0),))]) == {}
    assert mix([(2.0, (("unknown", 1.0),)), (6.0, (("pre_consumer", 1.0),))]) == {"pre_consumer": 0.75, "unknown": 0.25}


def base() -> dict[str, object]:
    return tomllib.loads((ROOT / "config/plant.toml").read_text())


def test_the_shipped_config_has_factors_with_sources_and_an_origin_map() -> None:
    cfg = load_config(ROOT / "config/plant.toml")
    assert cfg.ghg is not None and cfg.ghg.grid_year == 2025
    # the demo's factors are modelled, not a site's: named "unsourced", never a placeholder sentence
    assert (cfg.ghg.grid_source, cfg.ghg.nitrogen_source) == ("unsourced", "unsourced")
    assert cfg.plant_name == "Demo black-mass preprocessing plant" == cfg.passport.plant
    assert cfg.line.nitrogen_tag == "Shredder.N2Flow"
    assert "Shredder.N2Flow" in cfg.tag_addresses()
    assert cfg.origin.suppliers["EoL-collector"] == (("post_consumer", 1.0),)


@pytest.mark.parametrize(
    ("section", "value", "field"),
    [
        ("ghg", {"grid_kg_co2e_per_kwh": 0.3, "grid_source": 7, "grid_year": 2024}, "ghg.grid_source"),
        ("ghg", {"grid_kg_co2e_per_kwh": -1, "grid_source": "x", "grid_year": 2024}, "ghg.grid_kg_co2e_per_kwh"),
        ("ghg", {"grid_kg_co2e_per_kwh": 0.3, "grid_source": "x", "grid_year": "2024"}, "ghg.grid_year"),
        ("origin", {"suppliers": {"A": "recycled"}}, "origin.suppliers.A.recycled"),
        ("origin", {"feed_forms": {"packs": {"pre_consumer": 0.5, "post_consumer": 0.4}}}, "origin.feed_forms.packs"),
        ("passport", {"key": 42}, "passport.key"),
    ],
)
def test_bad_sections_name_the_field(section: str, value: object, field: str) -> None:
    data = base()
    data[section] = value
    with pytest.raises(ConfigError) as e:
        parse_config(data, "plant.toml")
    assert e.value.field == field and "plant.toml" in str(e.value)


def test_no_ghg_section_means_carbon_unknown() -> None:
    data = base()
    del data["ghg"]
    assert parse_config(data, "plant.toml").ghg is None


def test_the_key_path_comes_from_the_environment_first_and_stays_out_of_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    s = PassportSettings(plant="P", key=Path("/etc/blackmass/passport.key"))
    assert "passport.key" not in repr(s)
    monkeypatch.delenv(KEY_ENV, raising=False)
    assert s.key_path() == (Path("/etc/blackmass/passport.key"), "[passport] key")
    monkeypatch.setenv(KEY_ENV, "/run/secrets/k")
    assert s.key_path() == (Path("/run/secrets/k"), KEY_ENV)


def test_the_plant_name_lives_in_plant_and_the_old_passport_key_still_works(caplog: pytest.LogCaptureFixture) -> None:
    data = base()
    del data["plant"]
    data["passport"] = {"plant": "Old-style plant"}
    with caplog.at_level("WARNING"):
        cfg = parse_config(data, "plant.toml")
    assert cfg.plant_name == cfg.passport.plant == "Old-style plant"
    assert "[passport] plant is deprecated" in caplog.text and "[plant] name" in caplog.text
    data["plant"] = {"name": "New plant"}
    assert parse_config(data, "plant.toml").passport.plant == "New plant"  # [plant] wins
    data["plant"] = {"name": "X", "nmae": "typo"}
    with pytest.raises(ConfigError):
        parse_config(data, "plant.toml")
