"""Saving many versions in one call: one read of the latest versions, one insert, the same versions as one by one."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from monitor.config import load_config
from monitor.core.engine import Engine
from monitor.core.results import BatchResult
from monitor.runs.replay import replay_file
from monitor.store.url import open_store

ROOT = Path(__file__).resolve().parents[1]
HISTORY = ROOT / "tests" / "replay_golden" / "history.parquet"


def lots() -> list[BatchResult]:
    out: list[BatchResult] = []
    replay_file(HISTORY, Engine(load_config(ROOT / "config/plant.toml").line), out.append)
    return out


def test_a_lot_twice_in_one_call_is_compared_with_its_first_and_a_stored_one_with_the_store(store_url: str) -> None:
    a, b, c = lots()[:3]
    a2 = replace(a, flags=(*a.flags, "resumed"))
    with open_store(store_url) as store:
        assert [r.version if r else None for r in store.save_many([a, b])] == [1, 1]
        saved = store.save_many([a, a2, a2, a, b, c], now=1.0)
        assert [r.version if r else None for r in saved] == [None, 2, None, 3, None, 1]
        assert [(r.version, r.flags[-1:]) for r, _, _ in store.history(a.line, a.batch_id)] == [
            (1, a.flags[-1:]),
            (2, ("resumed",)),
            (3, a.flags[-1:]),
        ]
        assert store.latest()[0] == replace(a, version=3)


def test_the_assays_of_many_lots_are_each_lots_assays(store_url: str) -> None:
    from monitor.core.assays import Assay  # noqa: PLC0415

    def assay(lot: str, element: str, pct: float) -> Assay:
        return Assay(lot, "black_mass", element, pct, "final", "", "", "", "", None)

    first = [assay("L1-2", "ni", 30.0), assay("L1-1", "co", 5.0), assay("L1-2", "co", 6.0)]
    again = [assay("L1-2", "ni", 31.0), assay("L1-3", "li", 4.0)]  # L1-2's ni replaced, in its place
    with open_store(store_url) as store:
        assert store.import_assays(first, "a.csv", "a" * 64, now=1.0) == 3
        assert store.import_assays(again, "b.csv", "b" * 64, now=2.0) == 2
        ids = ["L1-2", "L1-1", "L1-9", "L1-3"]
        got = store.assays_of(ids)
        assert got == {b: store.assays(b) for b in ids}
        assert [(a.element, a.value_pct) for a in got["L1-2"]] == [("ni", 31.0), ("co", 6.0)]
        assert got["L1-9"] == []
