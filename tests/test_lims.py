"""Assay files: strict validation naming file, line and field; all-or-nothing; the inbox."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from monitor.accounting.assay_import import Accountant
from monitor.accounting.seeds import load_feed_grades
from monitor.cli import main
from monitor.collectors.lims import inbox_once, parse_assays
from monitor.config import load_config
from monitor.core.results import BatchResult, BatchState, StreamMass
from monitor.errors import InputError
from monitor.store.batches import BatchStore

ROOT = Path(__file__).resolve().parents[1]
HEAD = "batch_id,stream,element,value_pct,status,bag_id,moisture_pct\n"
GOOD = HEAD + "L1-00001,black_mass,ni,30.0,final,BB-1,0.5\nL1-00001,black_mass,ni,32.0,final,BB-2,0.5\n"


@pytest.mark.parametrize(
    ("body", "where", "says"),
    [
        (HEAD + "L1-1,black_mass,ni,abc,final,,\n", ":2", "field 'value_pct'"),
        (HEAD + "L1-1,black_mass,ni,30,final,,\nL1-1,black_mass,co,130,final,,\n", ":3", "field 'value_pct'"),
        (HEAD + "L1-1,blackmass,ni,30,final,,\n", ":2", "field 'stream'"),
        (HEAD + "L1-1,black_mass,Zn,30,final,,\n", ":2", "field 'element'"),
        (HEAD + "L1-1,black_mass,ni,30,draft,,\n", ":2", "field 'status'"),
        (HEAD + ",black_mass,ni,30,final,,\n", ":2", "field 'batch_id'"),
        (HEAD + "L1-1,black_mass,ni,30,final,,100\n", ":2", "field 'moisture_pct'"),
        (HEAD + "L1-1,black_mass,ni,30,final\n", ":2", "expected 7 fields"),
        (HEAD + "L1-1,black_mass,ni,30,final,,\nL1-1,black_mass,ni,31,final,,\n", ":3", "another value"),
        ("batch,stream,element,value_pct,status\n", ":1", "header lacks batch_id"),
        (HEAD.replace("moisture_pct", "moist"), ":1", "unknown column"),
        (HEAD, "", "no assay rows"),
    ],
)
def test_bad_files_name_line_and_field(body: str, where: str, says: str) -> None:
    with pytest.raises(InputError) as err:
        parse_assays(body.encode(), "lab.csv")
    assert f"lab.csv{where}" in str(err.value) and says in str(err.value)


def test_good_file_and_bom() -> None:
    rows = parse_assays(("\ufeff" + GOOD).encode(), "lab.csv")
    assert [(a.bag_id, a.value_pct, a.moisture_pct) for a in rows] == [("BB-1", 30.0, 0.5), ("BB-2", 32.0, 0.5)]


def test_lead_and_carbon_are_assay_elements() -> None:
    body = HEAD + "L1-00001,black_mass,Pb,0.012,final,BB-1,\nL1-00001,black_mass,C,38.5,final,BB-1,\n"
    rows = parse_assays(body.encode(), "lab.csv")
    assert [(a.element, a.value_pct) for a in rows] == [("pb", 0.012), ("c", 38.5)]


def completed_batch() -> BatchResult:
    """L1-00001: 4 t of NCMA cells, 2 t of black mass in two bags, no assays yet."""
    return BatchResult(
        line="L1",
        batch_id="L1-00001",
        start=0.0,
        end=3600.0,
        state=BatchState.COMPLETE,
        chemistry="NCMA",
        feed_form="cells",
        streams=(
            StreamMass("feed", 4000.0, "totalizer", 0, 3600),
            StreamMass("black_mass", 2000.0, "weighing", 2100, 5700, items=(("BB-1", 1000.0), ("BB-2", 1000.0))),
        ),
        yields={"black_mass": 0.5},
        closure=0.5,
    )


def stored_batch(store: BatchStore) -> None:
    store.save(completed_batch())


def db_bytes(d: Path) -> bytes:
    return b"".join((d / n).read_bytes() for n in ("blackmass.db",) if (d / n).exists())


def test_rejected_file_changes_nothing_and_good_one_recomputes(tmp_path: Path) -> None:
    store = BatchStore(tmp_path / "blackmass.db")
    stored_batch(store)
    store.close()
    before = hashlib.sha256(db_bytes(tmp_path)).hexdigest()
    bad = tmp_path / "bad.csv"
    bad.write_text(GOOD + "L1-00001,black_mass,co,x,final,BB-1,0.5\n")
    assert main(["assays", "import", str(bad), "--data-dir", str(tmp_path)]) == 2
    assert hashlib.sha256(db_bytes(tmp_path)).hexdigest() == before
    good = tmp_path / "good.csv"
    good.write_text(GOOD)
    assert main(["assays", "import", str(good), "--data-dir", str(tmp_path)]) == 0
    store = BatchStore(tmp_path / "blackmass.db")
    r = store.latest()[0]
    assert r.version == 2 and r.assay_status == "final" and r.state is BatchState.ASSAYED
    ni = r.metal("ni")
    assert ni is not None and ni.black_mass_grade == pytest.approx(0.31)
    grades = load_feed_grades(ROOT / "seeds").declared("NCMA", "cells")
    assert grades is not None
    assert ni.recovery == pytest.approx(0.31 * 2000 * 0.995 / (4000 * grades["ni"]))
    # the same file again: nothing new
    assert main(["assays", "import", str(good), "--data-dir", str(tmp_path)]) == 0
    assert [v for v in (h[0].version for h in store.history("L1", "L1-00001"))] == [1, 2]
    store.close()


def test_cli_error_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = BatchStore(tmp_path / "blackmass.db")
    store.close()
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "batch_id,stream,element,value_pct,status\nL1-1,black_mass,ni,29.1,final\nX,black_mass,ni,not-a-number,final\n"
    )
    assert main(["assays", "import", str(bad), "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:3" in err and "value_pct" in err and "not-a-number" in err


def test_inbox_moves_files_and_explains_rejections(tmp_path: Path) -> None:
    store = BatchStore(tmp_path / "blackmass.db")
    stored_batch(store)
    acc = Accountant(store, load_config(ROOT / "config/plant.toml").line, load_feed_grades(ROOT / "seeds"))
    inbox = tmp_path / "lims"
    inbox.mkdir()
    (inbox / "a-good.csv").write_text(GOOD)
    (inbox / "b-bad.csv").write_text(HEAD + "L1-00001,black_mass,ni,-3,final,BB-1,0.5\n")
    (inbox / ".c-partial.csv.tmp").write_text("batch_id")  # a writer's temporary file: left alone
    summaries = inbox_once(inbox, acc.import_file)
    assert [s.rows for s in summaries] == [2]
    assert (inbox / "done" / "a-good.csv").exists()
    assert (inbox / "rejected" / "b-bad.csv").exists()
    reason = (inbox / "rejected" / "b-bad.csv.reason.txt").read_text()
    assert "b-bad.csv:2" in reason and "value_pct" in reason
    assert (inbox / ".c-partial.csv.tmp").exists()
    assert store.latest()[0].assay_status == "final"
    store.close()


def test_assays_before_their_batch_wait_for_it(tmp_path: Path) -> None:
    store = BatchStore(tmp_path / "blackmass.db")
    acc = Accountant(store, load_config(ROOT / "config/plant.toml").line, load_feed_grades(ROOT / "seeds"))
    f = tmp_path / "early.csv"
    f.write_text(GOOD)
    s = acc.import_file(f)
    assert s.pending == ("L1-00001",) and s.updated == ()
    stored = store.latest()
    assert stored == []
    result = completed_batch()
    saved = acc.finalise(result)
    assert saved is not None and saved.version == 1 and saved.assay_status == "final"
    store.close()
