from pathlib import Path

import pytest

from monitor.cli import main
from monitor.config import load_config
from monitor.core.spec import SourceKind
from monitor.errors import ConfigError

PLANT = Path(__file__).resolve().parent.parent / "config" / "plant.toml"


def broken(tmp_path: Path, old: str, new: str) -> Path:
    text = PLANT.read_text()
    assert old in text
    p = tmp_path / "bad.toml"
    p.write_text(text.replace(old, new, 1))
    return p


def test_shipped_config_loads() -> None:
    cfg = load_config(PLANT)
    assert cfg.line.line == "L1"
    assert cfg.line.feed.name == "feed" and cfg.line.feed.source is SourceKind.TOTALIZER
    assert cfg.line.stream("black_mass").source is SourceKind.WEIGHING
    assert cfg.line.stream("black_mass").delay_s == 2100
    assert len(cfg.tag_addresses()) == 24  # 4 lot attributes, 9 mass tags, 11 process values
    assert cfg.tag_addresses()["Feed.Totalizer"] == "nsu=urn:blackmass:simulator:L1;s=Feed.Totalizer"


@pytest.mark.parametrize(
    ("old", "new", "field", "expected"),
    [
        ('endpoint = "opc.tcp://127.0.0.1:4840/blackmass"', "endpoint = 42", "opcua.endpoint", "non-empty string"),
        ('endpoint = "opc.tcp://127.0.0.1:4840/blackmass"', 'endpoint = "http://x"', "opcua.endpoint", "opc.tcp"),
        ("accuracy = 0.005 ", "accuracy = -1 ", "streams.feed.accuracy", "a number in"),
        ('source = "weighing"', 'source = "scale"', "streams.black_mass.source", "one of"),
        ('bag_id_tag = "BlackMass.BagId"', "", "streams.black_mass.bag_id_tag", "bag id"),
        ('direction = "in"', 'direction = "out"', "streams", "exactly one stream"),
        ("[streams.fines]", "[streams.dust]", "streams.dust", "one of feed"),
        ('metric = "shredder_oxygen_ratio"', 'metric = "O2 %"', "process.Shredder.O2.metric", "metric name"),
    ],
)
def test_bad_config_names_file_field_expected_and_got(
    tmp_path: Path, old: str, new: str, field: str, expected: str
) -> None:
    p = broken(tmp_path, old, new)
    with pytest.raises(ConfigError) as err:
        load_config(p)
    msg = str(err.value)
    assert str(p) in msg and f"'{field}'" in msg and expected in msg


def test_syntax_error_and_missing_file(tmp_path: Path) -> None:
    p = tmp_path / "x.toml"
    p.write_text("[line\nname=")
    with pytest.raises(ConfigError, match="valid TOML"):
        load_config(p)
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.toml")


def test_check_config_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(PLANT)]) == 0
    assert "OK" in capsys.readouterr().out
    bad = broken(tmp_path, 'endpoint = "opc.tcp://127.0.0.1:4840/blackmass"', "endpoint = 42")
    assert main(["check-config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "opcua.endpoint" in err and "got 42" in err


@pytest.mark.parametrize(
    ("old", "new", "field", "near"),
    [
        ("delay_s = 2100", "delay_seconds = 2100", "streams.black_mass.delay_seconds", "delay_s"),
        ("abandon_after_s = 14400", "abandon_after = 60", "line.abandon_after", "abandon_after_s"),
        ("accuracy = 0.005 ", "accuracy = 0.005\nscael = 10.0 ", "streams.feed.scael", "scale"),
        ("publishing_interval_ms = 250", "publish_interval_ms = 250", "opcua.publish_interval_ms", "publishing"),
    ],
)
def test_unknown_keys_are_refused_naming_the_nearest_known_one(
    tmp_path: Path, old: str, new: str, field: str, near: str
) -> None:
    p = broken(tmp_path, old, new)
    with pytest.raises(ConfigError) as err:
        load_config(p)
    msg = str(err.value)
    assert f"'{field}'" in msg and "unknown key" in msg and f"did you mean `{near}" in msg


@pytest.mark.parametrize("address", ["nsu=urn:plc;", "ns=two;s=X", "s=", "/Objects/a:b", "foo"])
def test_malformed_node_address_is_refused_at_check_config(tmp_path: Path, address: str) -> None:
    p = tmp_path / "plant.toml"
    p.write_text(PLANT.read_text() + f'\n[nodes]\n"Feed.Totalizer" = "{address}"\n')
    with pytest.raises(ConfigError, match=r"nodes\.Feed\.Totalizer"):
        load_config(p)


def test_plc_keys_reach_the_line_spec(tmp_path: Path) -> None:
    text = PLANT.read_text().replace(
        'energy = "Energy.TotalKWh"', 'energy = "Energy.TotalKWh"\nidle_values = ["IDLE", "----"]'
    )
    text = text.replace("accuracy = 0.005 ", "accuracy = 0.005\nscale = 10.0\nrollover = 65536 ")
    text = text.replace('bag_id_tag = "BlackMass.BagId"', 'bag_id_tag = "BlackMass.BagId"\nbag_scope = "lot"')
    text += (
        '\n[codes.chemistry]\n1 = "NMC622"\n3 = "NMC811"\n'
        '\n[sampling."Feed.Totalizer"]\nsampling_interval_ms = 5000\ndeadband = 10\n'
        '\n[nodes]\n"Feed.LotId" = "/Objects/nsu=urn:blackmass:simulator:L1;Line_L1/Feed/LotId"\n'
    )
    text = text.replace("timeout_s = 4", 'timeout_s = 4\ntimestamps = "server"')
    p = tmp_path / "plant.toml"
    p.write_text(text)
    cfg = load_config(p)
    feed = cfg.line.feed
    assert (feed.scale, feed.rollover, feed.min_cycle_s) == (10.0, 65536.0, 5.0)
    assert cfg.line.stream("black_mass").bag_scope == "lot"
    assert cfg.line.idle_ids == ("IDLE", "----")
    assert cfg.line.codes == {"Feed.Chemistry": {"1": "NMC622", "3": "NMC811"}}
    s = cfg.opcua.sampling["Feed.Totalizer"]
    assert (s.interval_ms, s.deadband, s.deadband_type) == (5000.0, 10.0, "absolute")
    assert cfg.opcua.clock.mode.value == "server"
    assert cfg.tag_addresses()["Feed.LotId"].startswith("/Objects/")


def test_scan_s_reaches_the_line_spec_and_is_bounded(tmp_path: Path) -> None:
    # docs/timestamps.md, "One scan, several stamps": 0.1 s by default, at most 1 s
    assert load_config(PLANT).line.scan_s == 0.1
    assert load_config(broken(tmp_path, "scan_s = 0.1 ", "scan_s = 0.25 ")).line.scan_s == 0.25
    with pytest.raises(ConfigError, match=r"'line.scan_s'.*a number in \[0, 1.0\]"):
        load_config(broken(tmp_path, "scan_s = 0.1 ", "scan_s = 5 "))


def test_check_config_reads_the_passport_sections_and_refuses_an_unknown_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """[ghg], [origin] and [passport] are read by monitor/config like every section (one reader)."""
    key = tmp_path / "passport.key"
    good = broken(tmp_path, 'operator = "blackmass-monitor demo"', f'operator = "QA"\nkey = "{key}"')
    good = good.rename(tmp_path / "good.toml")
    text = good.read_text().replace(
        "# [ghg.other.loaders]\n# kg_co2e_per_t_feed = 1.5\n# source",
        "[ghg.other.loaders]\nkg_co2e_per_t_feed = 1.5\nsource",
    )
    good.write_text(text)
    assert main(["check-config", str(good)]) == 0
    out = capsys.readouterr().out
    assert "grid 0.35 kg/kWh (2025)" in out and "2 suppliers, 5 feed forms" in out and "passport key set" in out
    cfg = load_config(good)
    assert (cfg.passport.operator, cfg.passport.key) == ("QA", key)
    assert [(o.name, o.kg_co2e_per_t_feed) for o in cfg.ghg.other] == [("loaders", 1.5)]  # type: ignore[union-attr]
    for section, old, new, field in (
        ("passport", 'operator = "blackmass-monitor demo"', 'operater = "QA"', "passport.operater"),
        ("ghg", "grid_year = 2025", "grid_year = 2025\ngrid_yaer = 2024", "ghg.grid_yaer"),
        ("origin", "[origin.feed_forms]", "[origin.feedforms]", "origin.feedforms"),
    ):
        bad = broken(tmp_path, old, new)
        assert main(["check-config", str(bad)]) == 2, section
        err = capsys.readouterr().err
        assert f"'{field}'" in err and f"unknown key in [{section}]" in err, err
    bad = tmp_path / "other.toml"
    bad.write_text(text.replace("kg_co2e_per_t_feed = 1.5\n", "kg_co2e_per_t_feed = 1.5\nunit = 't'\n"))
    assert main(["check-config", str(bad)]) == 2
    assert "'ghg.other.loaders.unit'" in capsys.readouterr().err


def test_pact_is_read_by_the_one_config_reader(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """[pact] is read like every section: its keys reach PactSettings, a typo is refused by check-config
    naming file, key and the key it was probably meant to be."""
    pact = '[pact]\ncompany_name = "Recycler AG"\ndomain = "recycler.example"\ntoken_ttl_s = 600\n\n[passport]'
    good = broken(tmp_path, "[passport]", pact).rename(tmp_path / "pact.toml")
    assert main(["check-config", str(good)]) == 0
    capsys.readouterr()
    cfg = load_config(good)
    assert (cfg.pact.company_name, cfg.pact.domain, cfg.pact.token_ttl_s) == ("Recycler AG", "recycler.example", 600.0)
    bad = broken(tmp_path, "[passport]", pact.replace("company_name", "compnay_name"))
    assert main(["check-config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "'pact.compnay_name'" in err and "unknown key in [pact]" in err and "company_name" in err, err
