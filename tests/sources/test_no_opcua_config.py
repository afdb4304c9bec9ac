"""A line with no OPC-UA source (docs/sources.md): check-config accepts it when every tag names its
source; the lot id may come from any kind; a tag without a source or a lot-id tag on an unknown source
is refused naming it. The line's clock is its sources' watermarks (SourceGate.vouch)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.collectors.health import ConnState
from monitor.config import load_config
from monitor.core.samples import SOURCE_CLOCK, Sample
from monitor.errors import ConfigError
from monitor.runs.sources import SourceGate, line_turn
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
PLANT = ROOT / "config/plant.toml"
UNS = """
[sources.uns]
kind = "sparkplug"
broker = "mqtt://127.0.0.1:1883"
group = "GMBI"
edge_node = "Line1"
"""
MODBUS = """
[sources.scale]
kind = "modbus"
host = "127.0.0.1"

[points."Feed.LotId"]   # a register pair holding a numeric lot id
source = "scale"
address = 0
type = "uint32"

[points."BlackMass.BagNetWeight"]   # and the bags' weights: it feeds a stream, so it holds lots
source = "scale"
address = 2
type = "float32"
"""


def no_opcua(tmp_path: Path, extra: str, *, skip: tuple[str, ...] = ()) -> Path:
    """config/plant.toml without its [opcua] section, every tag (but `skip`) a metric of source uns."""
    text = re.sub(r"\n\[opcua\]\n.*?\n\n", "\n", PLANT.read_text(), flags=re.S)
    assert "\nendpoint" not in text
    tags = load_config(PLANT).all_tags()
    named = set(re.findall(r'\[points\."([^"]+)"\]', extra)) | set(skip)
    points = "".join(f'\n[points."{t}"]\nsource = "uns"\ndevice = "Line"\n' for t in tags if t not in named)
    p = tmp_path / "plant.toml"
    p.write_text(text + UNS + extra + points)
    return p


def test_a_line_all_sparkplug_is_accepted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = no_opcua(tmp_path, "")
    cfg = load_config(path)
    assert cfg.opcua is None and cfg.opcua_name == "uns" and list(cfg.other_sources()) == ["uns"]
    assert cfg.source_names() == ["uns"]
    assert main(["check-config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "no OPC-UA source" in out and "uns (sparkplug, 24 tags)" in out


def test_the_lot_id_from_a_modbus_register_pair(tmp_path: Path) -> None:
    cfg = load_config(no_opcua(tmp_path, MODBUS))
    assert cfg.opcua is None and cfg.opcua_name == "scale"  # the lot id's source leads /healthz
    assert cfg.source_names() == ["scale", "uns"]


def test_a_tag_without_a_source_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(no_opcua(tmp_path, "", skip=("Feed.Supplier",)))
    assert err.value.field == "points.Feed.Supplier.source"
    assert "with no OPC-UA source" in str(err.value) and "uns" in str(err.value)


def test_a_lot_id_tag_on_an_unknown_source_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = no_opcua(tmp_path, '\n[points."Feed.LotId"]\nsource = "mes"\n')
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    assert err.value.field == "points.Feed.LotId.source"
    assert "'mes'" in str(err.value) and "a known source (uns)" in str(err.value)
    assert main(["check-config", str(bad)]) == 2
    assert "Feed.LotId" in capsys.readouterr().err


def test_no_sources_at_all_is_refused(tmp_path: Path) -> None:
    p = no_opcua(tmp_path, "")
    p.write_text(re.sub(r"\n\[sources\.uns\]\n.*?\n\n", "\n", p.read_text().replace("[points", "#"), flags=re.S))
    with pytest.raises(ConfigError):
        load_config(p)


def test_the_line_clock_is_the_watermarks_then_ours_after_the_bound(tmp_path: Path) -> None:
    cfg = load_config(no_opcua(tmp_path, MODBUS))
    gaps: list[tuple[float, float]] = []
    gate = SourceGate(cfg, 0.0, lambda a, b: gaps.append((a, b)))
    bound = gate.marks.bound_s
    assert bound == 900.0 and gate.active and gate.clockless  # stale_after_s; gated with one source too
    assert gate.vouch(1.0) is None  # nothing delivered yet: no time to vouch for
    gate.states({"uns": ConnState.CONNECTED, "scale": ConnState.CONNECTED}, 1.0)
    gate.delivered("scale", [Sample(SOURCE_CLOCK, 500.0, None)], 2.0)  # a poll ticks
    gate.delivered("uns", [Sample("Feed.Totalizer", 400.0, 12.5)], 2.0)
    assert gate.vouch(3.0) == 400.0 and gate.line_clock() == "sources"  # the slowest holding source
    gate.delivered("scale", [Sample(SOURCE_CLOCK, 600.0, None)], 800.0)  # the scale ticks on; uns is quiet
    assert gate.vouch(800.0) == 400.0
    assert gate.vouch(902.0) == 600.0  # uns had no news for the bound: it no longer holds
    assert gate.vouch(1800.0) == 1800.0 - bound and gate.line_clock() == "ours"  # nor the scale: our clock
    gate.delivered("uns", [Sample("Feed.Totalizer", 2000.0, 13.0)], 1801.0)  # news: it holds again
    assert gate.vouch(1802.0) == 2000.0 and gate.line_clock() == "sources"


def test_an_opcua_line_keeps_its_server_clock() -> None:
    gate = SourceGate(load_config(PLANT), 0.0, lambda a, b: None)
    assert gate.vouch(math.inf) is None and gate.line_clock() == "server" and not gate.active


def test_the_simulator_alone_plays_a_line_with_no_opcua_source(tmp_path: Path) -> None:
    """`blackmass simulate --sources modbus,sparkplug`: the edge node carries every tag of the plant
    but the scale terminal's, the texts (lot id …) as Strings, and the plant runs without an OPC-UA client."""
    from monitor.runs.demo import SimOptions, plant_server  # noqa: PLC0415
    from monitor.runs.demo_sources import attach_faces, scale_points  # noqa: PLC0415
    from monitor.simulator.sparkplug_edge import STRING  # noqa: PLC0415

    o = SimOptions(data_dir=tmp_path, sim_config=ROOT / "config/simulator.toml", seeds=ROOT / "seeds")
    server = plant_server(o, "opc.tcp://127.0.0.1:4840/blackmass")
    attach_faces(server, ("modbus", "sparkplug"), "mqtt://127.0.0.1:1883", free_port())
    assert server.edge is not None and server.scale is not None and not server.start_on_subscribe
    scale = {p.tag for p in scale_points()}
    tags = set(load_config(PLANT).all_tags())
    assert set(server.edge.metrics) >= tags - scale and not scale & set(server.edge.metrics)
    assert server.edge.device == "Line" and server.edge.dtype("Feed.LotId") == STRING
    assert server.edge.values["Feed.LotId"][1] == ""  # its birth says: no lot yet


def test_the_last_lot_before_a_quiet_stop_closes_one_bound_after_on_our_clock(tmp_path: Path) -> None:
    """No source ticks and the edge node falls quiet after lot A: nothing past the products' windows
    (end + 1,800 s) ever comes, yet the lot closes once our clock minus the bound passes them."""
    from monitor.core.engine import Engine  # noqa: PLC0415

    cfg = load_config(no_opcua(tmp_path, ""))
    engine = Engine(cfg.line, settle_s=cfg.settle_s)
    gate = SourceGate(cfg, 0.0, lambda a, b: None)
    counters = [s.tag for s in cfg.line.streams if s.tag and s.source.value == "totalizer"]

    def turn(samples: list[Sample], now: float) -> list[str]:
        gate.delivered("uns", samples, now)
        engine.ingest(samples)
        gate.states({"uns": ConnState.CONNECTED}, now)
        closed = line_turn(gate, engine, now)
        assert all("closed_on_our_clock" in r.flags for r in closed)  # our clock closed it: it says so
        return [r.batch_id for r in closed]

    history = [Sample("Feed.LotId", 1000.0, "A")]
    for t in range(1000, 6001, 50):  # the feed runs to 5,000; the products' counters until 6,000
        history += [
            Sample(tag, float(t), float(min(t, 5000) - 1000 if tag == "Feed.Totalizer" else t)) for tag in counters
        ]
        if t == 5000:
            history.append(Sample("Feed.LotId", 5000.0, "B"))  # the next lot's id: A is done feeding
    assert turn(history, 6000.0) == []  # the products' windows end at 6,800: nothing says they are in
    assert turn([], 6500.0) == [] and gate.line_clock() == "sources"
    assert turn([], 7700.0) == [] and gate.line_clock() == "ours"  # quiet for the bound: our clock stands in
    assert engine.vouched == 7700.0 - 900.0 and engine.server_vouched == 6000.0  # ours stood in: not counted
    assert turn([], 8600.0) == ["A"]  # our clock minus the bound past the windows (6,800 + a cycle)


def test_lots_closed_on_the_sources_watermarks_carry_no_clock_flag(tmp_path: Path) -> None:
    """Lots keep coming: each closes on the sources' watermarks within the bound (settle_s and
    stale_after_s at their defaults), so none says `closed_on_our_clock` — there is no server to fix."""
    from monitor.core.engine import Engine  # noqa: PLC0415

    cfg = load_config(no_opcua(tmp_path, ""))
    engine = Engine(cfg.line, settle_s=cfg.settle_s)
    gate = SourceGate(cfg, 0.0, lambda a, b: None)
    counters = [s.tag for s in cfg.line.streams if s.tag and s.source.value == "totalizer"]
    closed = []
    for k, t in enumerate(range(1000, 20001, 50)):
        samples = [Sample(tag, float(t), float(t)) for tag in counters]
        if t % 4000 == 1000:  # a new lot every 4,000 s
            samples.append(Sample("Feed.LotId", float(t), f"L{k}"))
        gate.delivered("uns", samples, t + 1.0)
        engine.ingest(samples)
        gate.states({"uns": ConnState.CONNECTED}, t + 1.0)
        closed += line_turn(gate, engine, t + 1.0)
        assert gate.line_clock() == "sources"
    assert len(closed) >= 3
    assert not [r.batch_id for r in closed if "closed_on_our_clock" in r.flags], [r.flags for r in closed]
    assert engine.server_vouched > 15_000.0  # the watermarks vouched as a server's clock would
