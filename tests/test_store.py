import itertools
import re
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from monitor.core.assays import Assay
from monitor.core.results import BatchResult, BatchState, StreamMass
from monitor.errors import StoreError
from monitor.store.batches import BatchStore
from monitor.store.codec import result_to_json
from monitor.store.migrate import migrate
from monitor.store.query import BatchQuery
from monitor.store.rows import decode, decode_assays
from monitor.store.url import open_store
from tests.conftest import free_port


def result(batch_id: str = "L1-00001", feed: float = 4000.0, bm: float = 2000.0, start: float = 1000.0) -> BatchResult:
    return BatchResult(
        line="L1",
        batch_id=batch_id,
        start=start,
        end=start + 3600,
        state=BatchState.COMPLETE,
        chemistry="NCMA",
        feed_form="cells",
        streams=(
            StreamMass("feed", feed, "totalizer", start, start + 3600, 60),
            StreamMass("black_mass", bm, "weighing", start + 2100, start + 5700, 4),
        ),
        yields={"black_mass": bm / feed},
        closure=bm / feed,
    )


def test_save_then_reopen_finds_the_batch(store_url: str) -> None:
    s = open_store(store_url)
    saved = s.save(result())
    assert saved is not None and saved.version == 1
    s.close()
    again = open_store(store_url).latest()
    assert len(again) == 1
    assert again[0].feed_kg == pytest.approx(4000.0)
    assert again[0].mass("black_mass") == pytest.approx(2000.0)
    assert again[0].streams[1].source == "weighing"


def test_identical_result_is_not_doubled(store_url: str) -> None:
    s = open_store(store_url)
    assert s.save(result()) is not None
    assert s.save(result()) is None
    assert len(s.history("L1", "L1-00001")) == 1


def test_changed_result_is_a_new_version_and_history_is_kept(store_url: str) -> None:
    s = open_store(store_url)
    s.save(result(bm=2000.0))
    v2 = s.save(result(bm=2050.0), reason="recomputed")
    assert v2 is not None and v2.version == 2
    assert [r.version for r in s.latest()] == [2]
    hist = s.history("L1", "L1-00001")
    assert [(h[0].mass("black_mass"), h[1]) for h in hist] == [(2000.0, "completed"), (2050.0, "recomputed")]


def test_filters(store_url: str) -> None:
    s = open_store(store_url)
    s.save(result("A", start=1000))
    s.save(replace(result("B", start=9000), chemistry="LFP"))
    s.save(replace(result("C", start=20000), state=BatchState.PARTIAL))
    assert [r.batch_id for r in s.latest()] == ["A", "B", "C"]
    assert [r.batch_id for r in s.latest(BatchQuery())] == ["A", "B"]
    assert [r.batch_id for r in s.latest(BatchQuery(chemistry="LFP", include_partial=True))] == ["B"]
    assert [r.batch_id for r in s.latest(BatchQuery(start_from=5000, start_to=15000, include_partial=True))] == ["B"]
    assert [r.batch_id for r in s.latest(BatchQuery.lot("C"))] == ["C"]


def test_a_version_1_store_gains_its_report_projection_on_open(tmp_path: Path) -> None:
    db = tmp_path / "blackmass.db"
    s = BatchStore(db)
    s.save(result("A", bm=2000.0), now=1.0)
    s.save(result("A", bm=2100.0), now=2.0)
    s.import_assays(
        [
            Assay("A", "black_mass", "ni", 30.0, "final", sample_id="S1", moisture_pct=1.0),
            Assay("A", "black_mass", "co", 6.0, "final", sample_id="S1"),
        ],
        "lab.csv",
        "sha-1",
        now=3.0,
    )
    texts, sheets = s.report_texts(), s.assay_sheets(["A"])
    s.close()
    raw = sqlite3.connect(db)  # what a store written before the projection existed looks like
    for col in ("report_batch", "report_streams", "report_recoveries"):
        raw.execute(f"ALTER TABLE batch_versions DROP COLUMN {col}")
    raw.execute("DROP TABLE assay_sheets")
    raw.execute("UPDATE meta SET value='1' WHERE key='schema_version'")
    raw.execute("DELETE FROM meta WHERE key='projection_version'")
    raw.commit()
    raw.close()
    again = BatchStore(db)
    assert again.report_texts() == texts
    assert again.assay_sheets(["A"]) == sheets
    batches, _, _ = decode(texts)
    assert batches["black_mass_kg"].to_list() == [2100.0] and batches["version"].to_list() == [2]
    rows = decode_assays(sheets)
    assert rows.select("sample_id", "moisture_pct", "ni_pct", "co_pct", "li_pct").rows() == [
        ("S1", 1.0, 30.0, 6.0, None)
    ]


def test_a_reimported_assay_replaces_the_earlier_one_in_the_sheet(store_url: str) -> None:
    s = open_store(store_url)
    first = Assay("A", "black_mass", "ni", 30.0, "final", sample_id="S1")
    s.import_assays([first], "lab-1.csv", "sha-1", now=1.0)
    s.import_assays([replace(first, value_pct=31.5)], "lab-2.csv", "sha-2", now=2.0)
    rows = decode_assays(s.assay_sheets(["A", "unknown"]))
    assert rows.select("sample_id", "ni_pct").rows() == [("S1", 31.5)]
    assert s.import_assays([first], "lab-1.csv", "sha-1", now=3.0) is None  # the same file again: nothing
    assert [a.value_pct for a in s.assays("A")] == [31.5]


def test_lines_share_a_store_and_reports_take_several(store_url: str) -> None:
    s = open_store(store_url)
    s.save(result("L1-00001", start=1000))
    s.save(replace(result("L2-00001", start=1000), line="L2"))
    s.save(replace(result("L3-00001", start=500), line="L3"))
    assert s.lines() == ["L1", "L2", "L3"]
    assert [r.batch_id for r in s.latest(BatchQuery.line("L2"))] == ["L2-00001"]
    both = BatchQuery(lines=("L1", "L2"), include_partial=True)
    assert [r.batch_id for r in s.latest(both)] == ["L1-00001", "L2-00001"]
    assert decode(s.report_texts(BatchQuery.line("L3")))[0]["batch_id"].to_list() == ["L3-00001"]
    assert s.latest(BatchQuery(lines=())) == []


def test_concurrent_writers_never_lose_or_double_a_version(store_url: str) -> None:
    """Three writers (own connections), two on one line and batch: versions 1..n, each exactly once."""
    writers, rounds = 3, 8

    def work(w: int) -> None:
        s = open_store(store_url)
        try:
            for k in range(rounds):
                s.save(result("L1-00001", bm=2000.0 + w * 100 + k))  # always a change: a new version
                s.save(replace(result(f"L{w + 2}-00001", bm=1000.0 + k), line=f"L{w + 2}"))
        finally:
            s.close()

    open_store(store_url).close()  # the schema exists before the writers race
    with ThreadPoolExecutor(writers) as pool:
        list(pool.map(work, range(writers)))
    s = open_store(store_url)
    assert [h[0].version for h in s.history("L1", "L1-00001")] == list(range(1, writers * rounds + 1))
    masses = sorted(h[0].mass("black_mass") for h in s.history("L1", "L1-00001"))
    assert masses == sorted(2000.0 + w * 100 + k for w in range(writers) for k in range(rounds))
    for w in range(writers):
        assert len(s.history(f"L{w + 2}", f"L{w + 2}-00001")) == rounds


def _texts(history: list[tuple[BatchResult, str, float]]) -> list[tuple[str, str, float]]:
    """A history as canonical JSON texts: a result with NaN (closure unknown) is never == itself."""
    return [(result_to_json(r), reason, when) for r, reason, when in history]


def _filled(url: str) -> None:
    s = open_store(url)
    s.save(result("A", bm=2000.0), now=1.0)
    s.save(result("A", bm=2100.0), now=2.0)
    s.save(replace(result("B", start=5000), line="L2"), now=3.0)
    s.import_assays([Assay("A", "black_mass", "ni", 30.0, "final", sample_id="S1")], "lab.csv", "sha-1", now=4.0)
    s.close()


def test_migrate_copies_everything_and_checks_it(store_url: str, tmp_path: Path) -> None:
    other = f"sqlite:///{tmp_path / 'other.db'}" if store_url.startswith("postgresql") else store_url
    source = f"sqlite:///{tmp_path / 'source.db'}"
    if other == store_url:  # SQLite run: SQLite into SQLite
        other = f"sqlite:///{tmp_path / 'dest.db'}"
    else:  # PostgreSQL run: PostgreSQL is the source, SQLite the destination
        source = store_url
    _filled(source)
    src, dest = open_store(source), open_store(other)
    checks = migrate(src, dest)
    want = {"batch_versions": 3, "assays": 1, "assay_files": 1, "assay_sheets": 1, "lot_bags": 0}
    want |= {"shipments": 0, "shipment_bags": 0, "pact_footprints": 0, "pact_clients": 0}
    assert {c.table: c.rows for c in checks} == want
    assert dest.report_texts() == src.report_texts()
    assert _texts(dest.history("L1", "A")) == _texts(src.history("L1", "A"))
    assert dest.assays("A") == src.assays("A")
    # a later import numbers on after the copied assays
    dest.import_assays([Assay("A", "black_mass", "co", 6.0, "final", sample_id="S1")], "lab2.csv", "sha-2")
    assert len(dest.assays("A")) == 2


def test_migrate_into_a_store_with_data_changes_nothing(store_url: str, tmp_path: Path) -> None:
    _filled(store_url)
    source = f"sqlite:///{tmp_path / 'source.db'}"
    _filled(source)
    open_store(source).save(result("C", start=9000))
    dest = open_store(store_url)
    before = dest.report_texts()
    with pytest.raises(StoreError, match=r"already holds 3 row\(s\) in batch_versions; nothing was copied"):
        migrate(open_store(source), dest)
    assert dest.report_texts() == before


def test_a_store_from_a_newer_program_is_refused(store_url: str) -> None:
    s = open_store(store_url)
    s.close()
    if store_url.startswith("sqlite"):
        raw = sqlite3.connect(store_url[len("sqlite:///") :])
        raw.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
        raw.commit()
        raw.close()
    else:
        with psycopg.connect(store_url, autocommit=True) as conn:
            conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    with pytest.raises(StoreError, match="schema version 99 is newer than this program's 4"):
        open_store(store_url)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://x@h/db", "expected sqlite:///path or postgresql://user@host:port/db, got 'mysql://x@h/db'"),
        ("postgresql://u:secret@h:5432/db", "the URL carries a password; refused"),
        ("postgresql://u@h/db?password=secret", "the URL carries a password; refused"),
        ("postgresql://u@h:5432", "expected a database name"),
        ("sqlite://relative.db", "expected sqlite:///path/to/file.db"),
    ],
)
def test_bad_store_urls_say_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=re.escape(message)):
        open_store(url)


def test_an_unreachable_postgresql_names_the_url_and_the_hint() -> None:
    url = f"postgresql://nobody@127.0.0.1:{free_port()}/blackmass"
    with pytest.raises(StoreError, match=re.escape(f"{url}: cannot open the batch store")) as err:
        open_store(url, connect_timeout_s=2)
    assert "BLACKMASS_STORE_PASSWORD" in str(err.value)


def test_a_copy_that_does_not_check_out_is_rolled_back(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import monitor.store.batches  # noqa: PLC0415
    import monitor.store.pg  # noqa: PLC0415

    source = f"sqlite:///{tmp_path / 'source.db'}"
    _filled(source)
    for tx in (monitor.store.batches._Tx, monitor.store.pg._Tx):
        real = tx.stream
        monkeypatch.setattr(tx, "stream", lambda self, sql, real=real: itertools.islice(real(self, sql), 1, None))
    dest = open_store(store_url)
    with pytest.raises(StoreError, match=r"table batch_versions: expected 3 rows .* got 2 rows .* nothing changed"):
        migrate(open_store(source), dest)
    monkeypatch.undo()
    assert dest.report_texts() == [] and dest.assays("A") == []


def test_a_stale_projection_is_rebuilt_on_open(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A release that changes a report column bumps PROJECTION_VERSION: both engines rebuild, chunk by
    chunk (chunks of 2 here: the 3 versions take two)."""
    for engine in ("batches", "pg"):
        monkeypatch.setattr(f"monitor.store.{engine}._CHUNK", 2)
    _filled(store_url)
    s = open_store(store_url)
    texts, sheets = s.report_texts(), s.assay_sheets(["A"])
    s.close()
    stale = [
        "UPDATE batch_versions SET report_batch='x', report_streams='', report_recoveries=''",
        "UPDATE assay_sheets SET rows_json=''",
        "UPDATE meta SET value='0' WHERE key='projection_version'",
    ]
    if store_url.startswith("sqlite"):
        raw = sqlite3.connect(store_url[len("sqlite:///") :])
        for sql in stale:
            raw.execute(sql)
        raw.commit()
        raw.close()
    else:
        with psycopg.connect(store_url, autocommit=True) as conn:
            for sql in stale:
                conn.execute(sql)
    again = open_store(store_url)
    assert again.report_texts() == texts and again.assay_sheets(["A"]) == sheets
