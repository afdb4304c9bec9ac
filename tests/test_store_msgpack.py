"""Schema 4: each version's result is stored as MessagePack bytes. A store written by schema 3 (JSON
text in result_json) opens, is converted once, and reads the very same results; saving compares bytes
but still calls a result with other NaN bits the same; a blob that does not decode names its row."""

from __future__ import annotations

import hashlib
import sqlite3
import struct
from dataclasses import replace
from typing import Any

import numpy as np
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.core.assays import Assay
from monitor.core.carbon import CarbonAccount, OtherInput
from monitor.core.metals import Balance, ElementAccount, StreamBalance
from monitor.core.results import BatchResult, StreamMass
from monitor.errors import StoreError
from monitor.passport.lot import result_digest
from monitor.store.codec import result_from_msgpack, result_to_json, result_to_msgpack, same_but_version
from monitor.store.migrate import migrate
from monitor.store.sql import VERSION_COLUMNS
from monitor.store.url import open_store
from tests.test_codec import rich

# batch_versions as schema 3 (and 2) created it: the result as JSON text
OLD_DDL = """CREATE TABLE batch_versions (
    line {key} NOT NULL, batch_id {key} NOT NULL, version INTEGER NOT NULL, state TEXT NOT NULL,
    start_ts {real} NOT NULL, end_ts {real} NOT NULL, chemistry TEXT NOT NULL, feed_form TEXT NOT NULL,
    feed_kg {real}, black_mass_kg {real}, black_mass_yield {real}, closure {real}, reason TEXT NOT NULL,
    recorded_at {real} NOT NULL, result_json TEXT NOT NULL, report_batch TEXT, report_streams TEXT,
    report_recoveries TEXT, PRIMARY KEY (line, batch_id, version)
)"""
OLD_COLUMNS = VERSION_COLUMNS.replace("result_msgpack", "result_json")
RESULT = VERSION_COLUMNS.split(", ").index("result_msgpack")


def _results() -> list[BatchResult]:
    """Three lots, one of them twice (versions 1 and 2), every nested type and NaNs among them."""
    a = replace(rich(), line="L1", batch_id="L1-00001", version=1)
    return [
        a,
        replace(a, closure=0.99, yields={"loss": 0.01, "black_mass": 0.6}),
        replace(rich(), line="L1", batch_id="L1-00002", start=1_700_020_000.0, carbon=None),
        replace(rich(), line="L2", batch_id="L2-00001", balance=None, metals=()),
    ]


def _seen(url: str) -> dict[str, Any]:
    """Everything a reader gets from the store: results as their canonical text, reports, bags."""
    with open_store(url) as s:
        return {
            "latest": [result_to_json(r) for r in s.latest()],
            "history": [(result_to_json(r), why, t) for r, why, t in s.history("L1", "L1-00001")],
            "digests": [result_digest(r)["sha256"] for r in s.latest()],  # as a lot passport states it
            "reports": s.report_texts(),
            "sheets": s.assay_sheets(["L1-00001"]),
            "bags": s.unshipped([("L1", "L1-00001"), ("L2", "L2-00001")]),
        }


def _as_schema_3(url: str, texts: dict[tuple[str, str, int], str]) -> None:
    """Rewrite the store as schema 3 wrote it: the old table, each result as the JSON text it stored."""
    key, real, marks = (
        ("TEXT", "REAL", "?") if url.startswith("sqlite") else ('TEXT COLLATE "C"', "DOUBLE PRECISION", "%s")
    )
    steps = [
        "DROP TABLE batch_versions",
        OLD_DDL.format(key=key, real=real),
        "CREATE INDEX batch_versions_start ON batch_versions (start_ts)",
        "UPDATE meta SET value='3' WHERE key='schema_version'",
    ]
    insert = f"INSERT INTO batch_versions ({OLD_COLUMNS}) VALUES ({','.join([marks] * 18)})"
    if url.startswith("sqlite"):
        with sqlite3.connect(url[len("sqlite:///") :]) as raw:
            rows = raw.execute(f"SELECT {VERSION_COLUMNS} FROM batch_versions").fetchall()
            for sql in steps:
                raw.execute(sql)
            raw.executemany(insert, [(*r[:RESULT], texts[r[:3]], *r[RESULT + 1 :]) for r in rows])
        raw.close()
        return
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(f"SELECT {VERSION_COLUMNS} FROM batch_versions").fetchall()
        for sql in steps:
            conn.execute(sql)
        conn.cursor().executemany(insert, [(*r[:RESULT], texts[r[:3]], *r[RESULT + 1 :]) for r in rows])


def _column_types(url: str) -> dict[str, str]:
    if url.startswith("sqlite"):
        with sqlite3.connect(url[len("sqlite:///") :]) as raw:
            return {r[1]: r[2] for r in raw.execute("PRAGMA table_info(batch_versions)")}
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'batch_versions'"
        ).fetchall()
        return dict(rows)


def test_a_schema_3_store_opens_and_reads_the_same_results(store_url: str) -> None:
    texts = {}
    with open_store(store_url) as s:
        for r in _results():
            saved = s.save(r, now=float(r.version))
            assert saved is not None
            texts[(saved.line, saved.batch_id, saved.version)] = result_to_json(saved)  # as schema 3 stored it
        assert s.import_assays([Assay("L1-00001", "black_mass", "ni", 30.0, "final", sample_id="S1")], "a.csv", "h")
    before = _seen(store_url)
    assert len(before["latest"]) == 3 and len(before["history"]) == 2 and len(before["bags"]) == 80
    assert "NaN" in before["latest"][0] and "BAG-0039" in before["latest"][0] and before["sheets"]
    _as_schema_3(store_url, texts)
    assert "result_json" in _column_types(store_url)
    with open_store(store_url) as s:  # opening converts
        assert s.schema_version() == 4
    types = _column_types(store_url)
    assert "result_json" not in types and types["result_msgpack"] in {"BLOB", "bytea"}
    after = _seen(store_url)
    assert after == before
    latest = [("L1", "L1-00001", 2), ("L1", "L1-00002", 1), ("L2", "L2-00001", 1)]
    issued = sorted(hashlib.sha256(texts[k].encode()).hexdigest() for k in latest)  # from the JSON store
    assert sorted(after["digests"]) == issued
    with open_store(store_url) as s:  # converted once: an unchanged result is still no new version
        assert s.upgrade() == (4, 4)
        assert s.save(replace(_results()[2], version=1)) is None


def test_a_nan_with_other_bits_is_no_new_version(store_url: str) -> None:
    with np.errstate(invalid="ignore"):
        negative_nan = float(np.divide(np.zeros(1), np.zeros(1))[0])  # numpy's 0/0: the sign bit set on x86
    assert struct.pack(">d", negative_nan) != struct.pack(">d", float("nan"))  # other bytes, the same "NaN"
    r = replace(rich(), closure=float("nan"), yields={"loss": 0.1, "black_mass": 0.5})
    with open_store(store_url) as s:
        assert s.save(r) is not None
        again = replace(r, closure=negative_nan, yields={"black_mass": 0.5, "loss": 0.1})  # dict in other order
        assert s.save(again) is None
        assert s.save(replace(r, closure=0.5)) is not None  # a real change still is one
        assert [h[0].version for h in s.history(r.line, r.batch_id)] == [1, 2]


def test_a_result_that_does_not_decode_names_its_row(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'blackmass.db'}"
    with open_store(url) as s:
        s.save(rich())
    with sqlite3.connect(tmp_path / "blackmass.db") as raw:
        raw.execute("UPDATE batch_versions SET result_msgpack = x'81a16101'")  # {"a": 1}: MessagePack, no result
    raw.close()
    with (
        open_store(url) as s,
        pytest.raises(
            StoreError, match=r"line 'L2' lot 'L2-00042' version 1: the stored result \(4 bytes\) does not decode"
        ),
    ):
        s.latest()


def test_a_result_cell_holding_text_names_its_row(tmp_path: Any) -> None:
    """A row written by hand (or restored from a JSON-era dump) holds TEXT where the bytes belong."""
    url = f"sqlite:///{tmp_path / 'blackmass.db'}"
    with open_store(url) as s:
        s.save(rich())
    with sqlite3.connect(tmp_path / "blackmass.db") as raw:
        raw.execute("""UPDATE batch_versions SET result_msgpack = '{"line": "L2"}'""")
    raw.close()
    with (
        open_store(url) as s,
        pytest.raises(StoreError, match=r"lot 'L2-00042' version 1: the stored result \(14 str\) does not decode"),
    ):
        s.latest()


def test_an_old_row_that_does_not_read_leaves_the_store_as_it_was(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'blackmass.db'}"
    with open_store(url) as s:
        s.save(rich())
    _as_schema_3(url, {("L2", "L2-00042", 1): '{"line": "L2"}'})
    with pytest.raises(StoreError, match=r"line 'L2' lot 'L2-00042' version 1: the stored result_json does not"):
        open_store(url)
    assert "result_json" in _column_types(url)  # rolled back: still schema 3


def test_an_upgraded_sqlite_store_migrates_to_postgresql_whole(tmp_path: Any, pg_cluster: Any) -> None:
    url = f"sqlite:///{tmp_path / 'blackmass.db'}"
    with open_store(url) as s:
        saved = [s.save(r, now=float(r.version)) for r in _results()]
    before = _seen(url)
    _as_schema_3(url, {(r.line, r.batch_id, r.version): result_to_json(r) for r in saved if r is not None})
    dest = pg_cluster.new_database()
    with open_store(url) as source, open_store(dest) as target:  # the source converts as it opens
        checks = {c.table: c.rows for c in migrate(source, target)}
    assert checks["batch_versions"] == 4 and checks["lot_bags"] == 120
    assert _seen(dest) == before and _column_types(dest)["result_msgpack"] == "bytea"


F = st.floats()  # NaN, the infinities and -0.0 among them
T = st.text(max_size=8)
FLOATS = st.dictionaries(T, F, max_size=3)
INT = st.integers(-(2**63), 2**63 - 1)  # what MessagePack stores (an int beyond is refused)


def _tuple(part: st.SearchStrategy[Any], n: int = 3) -> st.SearchStrategy[tuple[Any, ...]]:
    return st.lists(part, max_size=n).map(tuple)


RESULTS = st.builds(
    BatchResult,
    streams=_tuple(st.builds(StreamMass, samples=INT, flags=_tuple(T), items=_tuple(st.tuples(T, F)), boundary_kg=F)),
    yields=FLOATS,
    version=INT,
    rejected_samples=INT,
    closure=F,
    flags=_tuple(T),
    metals=_tuple(st.builds(ElementAccount, stream_kg=FLOATS, distribution=FLOATS, recovery_sd=F)),
    balance=st.none() | st.builds(Balance, dof=INT, streams=_tuple(st.builds(StreamBalance)), elements_used=_tuple(T)),
    energy_kwh=F,
    carbon=st.none() | st.builds(CarbonAccount, grid_year=INT, other=_tuple(st.builds(OtherInput))),
    origin=_tuple(st.tuples(T, F)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(RESULTS)
def test_the_stored_bytes_read_back_as_the_same_canonical_text(r: BatchResult) -> None:
    """Any result (NaN, infinities, -0.0, every nested part drawn from the types): bytes and back give the
    JSON text the passport hashes, and the result is the same as its stored form but for the version."""
    blob = result_to_msgpack(r)
    back = result_from_msgpack(blob, r.line, r.batch_id, r.version)
    assert result_to_json(back) == result_to_json(r)
    assert result_to_msgpack(back) == blob
    assert same_but_version((r.version, blob), (r.line, r.batch_id), replace(r, version=r.version ^ 1))
