"""Replay stores exactly what it stored before it was made fast: every row, every field, bit for bit.

tests/replay_golden/ holds 2.5 noisy plant-days with faults (a totalizer reset, bad quality, a
torn sieve; 28 lots) and assays for three of them. The expected rows (expected.json) were written by
the per-lot replay before session 6 made it faster (commit "Golden rows of a replay"); a float
is compared by its repr, i.e. exactly. Three stores are compared: a replay into an empty store, the
assay import on top of it (versions 2), and a replay into a store that already holds the assays.

The numbers depend on numpy's LAPACK (the reconciliation's pseudo-inverse): after a numpy upgrade
that moves a last digit, inspect the diff this test prints, then rewrite the file with
BLACKMASS_REGEN_GOLDEN=1 .venv/bin/pytest tests/test_replay_golden.py
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.store.codec import result_from_msgpack, result_to_json

DATA = Path(__file__).resolve().parent / "replay_golden"
EXPECTED = DATA / "expected.json"
TABLES = {  # table: (its key columns, the columns not compared: when it was recorded)
    "batch_versions": (("line", "batch_id", "version"), ("recorded_at",)),
    "lot_bags": (("line", "batch_id", "bag_id"), ()),
    "assay_sheets": (("batch_id",), ()),
}


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _field(name: str, value: object) -> object:
    """A field as compared: numbers and short text as they are, a JSON result by its top-level keys."""
    if name == "result_json" and isinstance(value, str):
        return {k: _digest(json.dumps(v, sort_keys=True)) for k, v in json.loads(value).items()}
    if isinstance(value, str) and len(value) > 80:  # the report projections: long text by its digest
        return _digest(value)
    return repr(value) if isinstance(value, float) else value


def stored_rows(db: Path) -> dict[str, dict[str, dict[str, object]]]:
    """Every row of the batch tables, keyed by its primary key, every compared field."""
    out: dict[str, dict[str, dict[str, object]]] = {}
    with sqlite3.connect(db) as con:
        for table, (key, skip) in TABLES.items():
            cur = con.execute(f"SELECT * FROM {table}")  # table names from TABLES
            names = [c[0] for c in cur.description]
            rows = {}
            for row in cur.fetchall():
                d = dict(zip(names, row, strict=True))
                if "result_msgpack" in d:  # schema 4 stores bytes: compared as the JSON text schema 3 stored
                    blob = d.pop("result_msgpack")
                    d["result_json"] = result_to_json(result_from_msgpack(blob, d["line"], d["batch_id"], d["version"]))
                rows["|".join(str(d[k]) for k in key)] = {n: _field(n, v) for n, v in d.items() if n not in skip}
            out[table] = dict(sorted(rows.items()))
    return out


def three_stores(tmp: Path) -> dict[str, object]:
    history, assays = DATA / "history.parquet", DATA / "assays.csv"
    plain, with_assays = tmp / "plain", tmp / "with_assays"
    assert main(["replay", str(history), "--data-dir", str(plain)]) == 0
    first = stored_rows(plain / "blackmass.db")
    assert main(["assays", "import", str(assays), "--data-dir", str(plain)]) == 0
    imported = stored_rows(plain / "blackmass.db")
    assert main(["replay", str(history), "--data-dir", str(with_assays)]) == 0  # creates the store
    with sqlite3.connect(with_assays / "blackmass.db") as con:  # the store as if the assays came first
        con.execute("DELETE FROM batch_versions")
        con.execute("DELETE FROM lot_bags")
    assert main(["assays", "import", str(assays), "--data-dir", str(with_assays)]) == 0
    assert main(["replay", str(history), "--data-dir", str(with_assays)]) == 0
    return {"replay": first, "assays_import": imported, "replay_with_assays": stored_rows(with_assays / "blackmass.db")}


def _differences(want: object, got: object, where: str = "") -> list[str]:
    if isinstance(want, dict) and isinstance(got, dict):
        out = [f"{where}/{k}: expected {want.get(k)!r}, stored {got.get(k)!r}" for k in want.keys() ^ got.keys()]
        for k in want.keys() & got.keys():
            out += _differences(want[k], got[k], f"{where}/{k}")
        return out
    return [] if want == got else [f"{where}: expected {want!r}, stored {got!r}"]


def test_replay_stores_every_field_as_the_per_lot_replay_did(tmp_path: Path) -> None:
    got = json.loads(json.dumps(three_stores(tmp_path)))  # tuples as lists, as the file has them
    if os.environ.get("BLACKMASS_REGEN_GOLDEN") == "1":
        EXPECTED.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
        pytest.fail(f"rewrote {EXPECTED}: inspect its diff and commit it")
    want = json.loads(EXPECTED.read_text())
    rows = {k: len(v["batch_versions"]) for k, v in want.items()}
    assert rows == {"replay": 28, "assays_import": 31, "replay_with_assays": 28}, rows
    diff = sorted(_differences(want, got))
    assert not diff, f"{len(diff)} stored fields differ, e.g.:\n" + "\n".join(diff[:20])
