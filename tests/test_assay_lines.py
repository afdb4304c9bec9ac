"""Assays find their lot on any store: the line comes from the file, --line / ?line=, or the store's only line."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from monitor.accounting.assay_import import Accountant
from monitor.accounting.seeds import load_feed_grades
from monitor.cli import main
from monitor.collectors.lims import parse_assays
from monitor.config import load_config
from monitor.errors import InputError
from monitor.store.batches import BatchStore
from monitor.store.query import BatchQuery
from tests.test_store import result

ROOT = Path(__file__).resolve().parents[1]
HEAD = "batch_id,stream,element,value_pct,status,sample_id,bag_id,lab,method,moisture_pct"


def two_line_store(path: Path) -> BatchStore:
    store = BatchStore(path)
    store.save(result("L1-00001"))
    store.save(replace(result("L2-00001"), line="L2"))
    return store


def accountant(store: BatchStore) -> Accountant:
    spec = load_config(ROOT / "config/plant.toml").line  # line L1: never a default for a two-line store
    return Accountant(store, spec, load_feed_grades(ROOT / "seeds"))


def assay_file(batch_id: str, line: str | None = None) -> bytes:
    head = HEAD + (",line" if line else "")
    row = f"{batch_id},black_mass,ni,30.1,final,S-1,,lab-A,ICP-OES," + (f",{line}" if line else "")
    return f"{head}\n{row}\n".encode()


def test_a_two_line_store_refuses_assays_that_do_not_say_their_line(tmp_path: Path) -> None:
    store = two_line_store(tmp_path / "blackmass.db")
    acc = accountant(store)
    with pytest.raises(InputError) as e:
        acc.import_bytes(assay_file("L2-00001"), "a.csv")
    assert "L1, L2" in str(e.value) and "--line" in str(e.value)
    assert store.assays("L2-00001") == []  # nothing filed

    got = acc.import_bytes(assay_file("L2-00001"), "a.csv", line="L2")
    assert [r.batch_id for r in got.updated] == ["L2-00001"] and got.pending == ()
    assert store.latest(BatchQuery.lot("L2-00001", "L2"))[0].assay_status == "final"
    assert acc.import_bytes(assay_file("L2-00001"), "a.csv", line="L2").duplicate_file
    # the same file told for another line is another import, not "already imported"
    other = acc.import_bytes(assay_file("L2-00001"), "a.csv", line="L1")
    assert not other.duplicate_file and other.pending == ("L2-00001",)
    store.close()


def test_the_file_can_carry_its_line_and_a_contradiction_is_refused(tmp_path: Path) -> None:
    store = two_line_store(tmp_path / "blackmass.db")
    acc = accountant(store)
    got = acc.import_bytes(assay_file("L2-00001", line="L2"), "b.csv")
    assert [(r.line, r.batch_id) for r in got.updated] == [("L2", "L2-00001")]
    with pytest.raises(InputError, match="line column says L2, but --line says L1"):
        acc.import_bytes(assay_file("L2-00001", line="L2"), "c.csv", line="L1")
    store.close()


def test_a_one_line_store_needs_no_line(tmp_path: Path) -> None:
    store = BatchStore(tmp_path / "blackmass.db")
    store.save(replace(result("L7-00001"), line="L7"))
    got = accountant(store).import_bytes(assay_file("L7-00001"), "a.csv")
    assert [r.batch_id for r in got.updated] == ["L7-00001"]
    store.close()


def test_assays_import_takes_several_files_and_folders_with_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    two_line_store(tmp_path / "blackmass.db").close()
    folder = tmp_path / "lims"
    folder.mkdir()
    (folder / "a.csv").write_bytes(assay_file("L2-00001"))
    (folder / "b.csv").write_bytes(assay_file("L2-00002"))
    single = tmp_path / "c.csv"
    single.write_bytes(assay_file("L1-00001").replace(b"30.1", b"29.0"))
    assert main(["assays", "import", str(single), "--data-dir", str(tmp_path)]) == 2  # two lines: refused
    assert "L1, L2" in capsys.readouterr().err
    assert main(["assays", "import", str(folder), "--data-dir", str(tmp_path), "--line", "L2"]) == 0
    out = capsys.readouterr().out
    assert "a.csv: 1 assays imported; 1 batches recomputed" in out
    assert "b.csv: 1 assays imported; 0 batches recomputed; waiting for batches L2-00002" in out


def test_the_simulated_lab_writes_its_line_where_the_monitor_reads(tmp_path: Path) -> None:
    from monitor.runs.demo import SimOptions, plant_server  # noqa: PLC0415
    from monitor.simulator.composition import ELEMENTS  # noqa: PLC0415
    from monitor.simulator.lims import Lab  # noqa: PLC0415
    from monitor.simulator.lots import Lot  # noqa: PLC0415

    o = SimOptions(data_dir=tmp_path / "d", sim_config=ROOT / "config/simulator.toml", seeds=ROOT / "seeds", line="L2")
    server = plant_server(o, "opc.tcp://127.0.0.1:4999/x")
    assert server.lab is not None and server.lab.inbox == tmp_path / "d" / "lims" and server.lab.line == "L2"
    elsewhere = plant_server(replace(o, lims_dir=tmp_path / "shared"), "opc.tcp://127.0.0.1:4999/x")
    assert elsewhere.lab is not None and elsewhere.lab.inbox == tmp_path / "shared"

    lab = Lab(tmp_path / "inbox", np.random.default_rng(1), noise=False, delay_h=0, line="L2")
    grades = dict.fromkeys(ELEMENTS, 0.05)
    lot = Lot("L2-00001", "S", "NMC811", "pouch", "cells", 4000.0, 0.0, {}, {}, {}, {}, {"black_mass": (0.02, grades)})
    lot.bags.append(("BAG-1", 900.0))
    path = lab.write(lot, "final")
    rows = list(csv.DictReader(path.open()))
    assert rows and all(r["line"] == "L2" for r in rows)
    assert {a.line for a in parse_assays(path.read_bytes(), path.name)} == {"L2"}


def test_lines_play_different_histories_without_a_seed() -> None:
    from monitor.cli.sim import line_seed  # noqa: PLC0415

    assert line_seed(None) == line_seed("L1") == 1
    assert line_seed("L2") != 1 and line_seed("L2") != line_seed("L3") and line_seed("L2") == line_seed("L2")
