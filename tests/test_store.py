import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from monitor.core.assays import Assay
from monitor.core.results import BatchResult, BatchState, StreamMass
from monitor.report_rows import decode, decode_assays
from monitor.store import BatchStore


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


def test_save_then_reopen_finds_the_batch(tmp_path: Path) -> None:
    db = tmp_path / "blackmass.db"
    s = BatchStore(db)
    saved = s.save(result())
    assert saved is not None and saved.version == 1
    s.close()
    again = BatchStore(db).latest()
    assert len(again) == 1
    assert again[0].feed_kg == pytest.approx(4000.0)
    assert again[0].mass("black_mass") == pytest.approx(2000.0)
    assert again[0].streams[1].source == "weighing"


def test_identical_result_is_not_doubled(tmp_path: Path) -> None:
    s = BatchStore(tmp_path / "b.db")
    assert s.save(result()) is not None
    assert s.save(result()) is None
    assert len(s.history("L1", "L1-00001")) == 1


def test_changed_result_is_a_new_version_and_history_is_kept(tmp_path: Path) -> None:
    s = BatchStore(tmp_path / "b.db")
    s.save(result(bm=2000.0))
    v2 = s.save(result(bm=2050.0), reason="recomputed")
    assert v2 is not None and v2.version == 2
    assert [r.version for r in s.latest()] == [2]
    hist = s.history("L1", "L1-00001")
    assert [(h[0].mass("black_mass"), h[1]) for h in hist] == [(2000.0, "completed"), (2050.0, "recomputed")]


def test_filters(tmp_path: Path) -> None:
    s = BatchStore(tmp_path / "b.db")
    s.save(result("A", start=1000))
    s.save(replace(result("B", start=9000), chemistry="LFP"))
    s.save(replace(result("C", start=20000), state=BatchState.PARTIAL))
    assert [r.batch_id for r in s.latest()] == ["A", "B", "C"]
    assert [r.batch_id for r in s.latest(include_partial=False)] == ["A", "B"]
    assert [r.batch_id for r in s.latest(chemistry="LFP")] == ["B"]
    assert [r.batch_id for r in s.latest(start_from=5000, start_to=15000)] == ["B"]
    assert [r.batch_id for r in s.latest(batch_id="C")] == ["C"]


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


def test_a_reimported_assay_replaces_the_earlier_one_in_the_sheet(tmp_path: Path) -> None:
    s = BatchStore(tmp_path / "blackmass.db")
    first = Assay("A", "black_mass", "ni", 30.0, "final", sample_id="S1")
    s.import_assays([first], "lab-1.csv", "sha-1", now=1.0)
    s.import_assays([replace(first, value_pct=31.5)], "lab-2.csv", "sha-2", now=2.0)
    rows = decode_assays(s.assay_sheets(["A", "unknown"]))
    assert rows.select("sample_id", "ni_pct").rows() == [("S1", 31.5)]
