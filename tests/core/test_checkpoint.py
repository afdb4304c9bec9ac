"""The engine's checkpoint: a resumed engine gives the batches an uninterrupted one gives."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.core.engine import Engine
from monitor.core.results import BatchResult
from monitor.core.samples import Sample
from monitor.runs.demo import SimOptions, make_plant
from monitor.store.checkpoint import read_checkpoint, write_checkpoint
from tests.plant_harness import engine_samples

ROOT = Path(__file__).resolve().parents[2]
SPEC = load_config(ROOT / "config/plant.toml").line


def plant_steps(steps: int = 1000, seed: int = 3) -> list[list[Sample]]:
    opts = SimOptions(
        data_dir=ROOT, sim_config=ROOT / "config/simulator.toml", seeds=ROOT / "seeds", seed=seed, t0=1.8e9
    )
    return [samples for _, samples, _ in engine_samples(make_plant(opts), steps)]


def run(engine: Engine, steps: list[list[Sample]]) -> list[BatchResult]:
    out = []
    for samples in steps:
        engine.ingest(samples)
        out += engine.poll()
    return out


@pytest.mark.parametrize("cut", [130, 377, 611])  # mid-lot, mid-flush, between lots: wherever the kill lands
def test_a_resumed_engine_gives_the_same_batches(cut: int) -> None:
    steps = plant_steps()
    whole = run(Engine(SPEC), steps)
    first = Engine(SPEC)
    before = run(first, steps[:cut])
    state = json.loads(json.dumps(first.dump()))  # what the file holds
    resumed = Engine.load(SPEC, state)
    after = run(resumed, steps[cut:])
    assert len(whole) >= 5
    assert [r.batch_id for r in before + after] == [r.batch_id for r in whole]
    for got, want in zip(before + after, whole, strict=True):
        assert got.state == want.state
        assert [(s.stream, s.mass_kg, s.items) for s in got.streams] == [
            (s.stream, s.mass_kg, s.items) for s in want.streams
        ]
        assert got.energy_kwh == want.energy_kwh
        flags = tuple(f for f in got.flags if f != "resumed_from_checkpoint")
        assert replace(got, flags=flags) == want
    spanning = [r for r in after if r.start < resumed.resumed_at < r.end + 2100]  # type: ignore[operator]
    assert all("resumed_from_checkpoint" in r.flags for r in spanning)


def test_samples_after_a_kill_are_taken_once_even_when_delivered_twice() -> None:
    steps = plant_steps(700)
    whole = run(Engine(SPEC), steps)
    first = Engine(SPEC)
    run(first, steps[:300])
    state = first.dump()
    run(first, steps[300:320])  # delivered, then the process died before the next checkpoint
    resumed = Engine.load(SPEC, json.loads(json.dumps(state)))
    after = run(resumed, steps[300:])  # history gives 300..320 again, then live data
    want = {r.batch_id: r for r in whole}
    for r in after:
        assert r.mass("feed") == want[r.batch_id].mass("feed")
        assert r.mass("black_mass") == want[r.batch_id].mass("black_mass")


def test_collector_gaps_flag_the_batches_they_touch() -> None:
    steps = plant_steps(700)
    engine = Engine(SPEC)
    results = run(engine, steps[:200])
    lot = engine.live()
    assert lot is not None
    engine.note_gap(lot.start + 600, lot.start + 1800, recovered=True)
    engine.note_gap(lot.start + 2400, lot.start + 2500, recovered=False)
    results += run(engine, steps[200:])
    touched = next(r for r in results if r.batch_id == lot.batch_id)
    assert {"collector_gap_backfilled", "collector_gap"} <= set(touched.flags)
    assert all("collector_gap" not in ";".join(r.flags) for r in results if r.end + 2100 < lot.start)


def test_a_checkpoint_of_another_line_is_refused() -> None:
    state = Engine(SPEC).dump()
    with pytest.raises(ValueError, match="line 'L9'"):
        Engine.load(SPEC, {**state, "line": "L9"})
    with pytest.raises(ValueError, match="format"):
        Engine.load(SPEC, {**state, "format": 99})


def test_checkpoint_file_round_trip_and_a_corrupt_one_is_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.json"
    assert read_checkpoint(path) is None
    write_checkpoint(path, {"a": [1.5, float("-inf")]})
    assert read_checkpoint(path) == {"a": [1.5, float("-inf")]}
    path.write_text('{"a": [1.5, ')  # a torn write cannot happen (rename), a damaged disk can
    assert read_checkpoint(path) is None
    assert not path.exists() and (tmp_path / "checkpoint.bad").read_text() == '{"a": [1.5, '
