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
