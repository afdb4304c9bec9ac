"""[sources.NAME] and [points."TAG"]: several sources per line; [opcua] stays the source "opcua"; a tag
whose source is unknown is refused, naming the tag and the known sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.cli import main
from monitor.collectors.settings import OpcuaSettings
from monitor.collectors.source_settings import ModbusSettings, MqttSettings
from monitor.config import load_config
from monitor.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
PLANT = ROOT / "config/plant.toml"
SOURCES = """
[sources.bagging]
kind = "modbus"
host = "10.0.1.30"
port = 502
unit = 1
poll_interval_ms = 500
max_registers = 60

[sources.uns]
kind = "sparkplug"
broker = "mqtts://broker:8883"
group = "GMBI"
edge_node = "Line1"

[sources.dryer_plc]
kind = "opcua"
endpoint = "opc.tcp://10.0.1.12:4840"
namespace_uri = "urn:plc:dryer"

[points."BlackMass.BagNetWeight"]
source = "bagging"
address = 2
type = "float32"
order = "CDAB"
time_address = 4

[points."BlackMass.BagId"]
source = "bagging"
address = 10
type = "string"
length = 10

[points."BlackMass.BagTemp"]
source = "bagging"
table = "input"
address = 0
type = "int16"
scale = 0.1

[points."Dryer.CondensateTotalizer"]
source = "uns"
device = "Dryer"
metric = "Dryer/CondensateTotal"

[points."Dryer.ProductTemp"]
source = "dryer_plc"
node = "ns=3;s=DB10.ProductTemp"
"""


def with_sources(tmp_path: Path, extra: str = SOURCES) -> Path:
    p = tmp_path / "plant.toml"
    p.write_text(PLANT.read_text() + extra)
    return p


def test_todays_single_opcua_section_is_the_source_opcua() -> None:
    cfg = load_config(PLANT)
    assert cfg.opcua_name == "opcua" and cfg.other_sources() == {}
    assert len(cfg.tag_addresses()) == 24  # every tag, as before


def test_several_sources_each_tag_from_its_own(tmp_path: Path) -> None:
    cfg = load_config(with_sources(tmp_path))
    others = cfg.other_sources()
    assert sorted(others) == ["bagging", "dryer_plc", "uns"]
    bag = others["bagging"]
    assert isinstance(bag, ModbusSettings) and bag.max_registers == 60 and bag.poll_interval_ms == 500
    assert [(p.tag, p.address, p.dtype, p.order) for p in bag.points] == [
        ("BlackMass.BagNetWeight", 2, "float32", "CDAB"),
        ("BlackMass.BagId", 10, "string", "ABCD"),
        ("BlackMass.BagTemp", 0, "int16", "ABCD"),
    ]
    uns = others["uns"]
    assert isinstance(uns, MqttSettings) and (uns.group, uns.edge_node, uns.qos) == ("GMBI", "Line1", 1)
    assert uns.points[0].metric == "Dryer/CondensateTotal"
    assert isinstance(others["dryer_plc"], OpcuaSettings)
    assert cfg.tag_addresses("dryer_plc") == {"Dryer.ProductTemp": "ns=3;s=DB10.ProductTemp"}
    primary = cfg.tag_addresses()
    assert "BlackMass.BagId" not in primary and "Dryer.CondensateTotalizer" not in primary
    assert len(primary) == 24 - 5


def test_a_tag_of_an_unknown_source_is_refused_naming_it_and_the_known(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    bad = with_sources(tmp_path, SOURCES.replace('source = "uns"', 'source = "scada"'))
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    text = str(err.value)
    assert "points.Dryer.CondensateTotalizer.source" in text and "'scada'" in text
    assert "bagging, dryer_plc, opcua, uns" in text
    assert main(["check-config", str(bad)]) == 2
    assert "Dryer.CondensateTotalizer" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ('kind = "modbus"', 'kind = "profibus"', "sources.bagging.kind"),
        ('order = "CDAB"', 'order = "ACBD"', "points.BlackMass.BagNetWeight.order"),
        ('type = "float32"', 'type = "real"', "points.BlackMass.BagNetWeight.type"),
        ('broker = "mqtts://broker:8883"', 'broker = "http://broker"', "sources.uns.broker"),
        ("max_registers = 60", "max_registers = 200", "sources.bagging.max_registers"),
        ("poll_interval_ms = 500", "poll_intervall_ms = 500", "sources.bagging.poll_intervall_ms"),
    ],
)
def test_bad_source_settings_name_the_field(tmp_path: Path, old: str, new: str, field: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(with_sources(tmp_path, SOURCES.replace(old, new)))
    assert err.value.field == field
