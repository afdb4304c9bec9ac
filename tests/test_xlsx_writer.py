"""The bulk XLSX writer, read back with openpyxl (an independent reader) and checked as a ZIP."""

import io
import math
import zipfile
from xml.etree import ElementTree

import openpyxl
import polars as pl
import pytest

from monitor.cli.data import Progress
from monitor.reports.xlsx import write_xlsx
from monitor.reports.xlsx_writer import Sheet, column_letter, write_workbook
from monitor.store.rows import decode, decode_assays


def workbook(*sheets: Sheet) -> tuple[bytes, openpyxl.Workbook]:
    buf = io.BytesIO()
    write_workbook(list(sheets), buf, now=1_800_000_000.0)
    data = buf.getvalue()
    return data, openpyxl.load_workbook(io.BytesIO(data))


def test_values_survive_the_round_trip() -> None:
    frame = pl.DataFrame(
        {
            "id": ["A&B", "<tag>", "  padded ", None, "", "ctl\x01char", "naïve – ü"],
            "kg": [1.5, math.nan, math.inf, None, -0.0, 1e-12, 123456789.123],
            "n": [1, 2, None, 4, 5, 6, 7],
            "ok": [True, False, None, True, True, False, True],
        },
        schema={"id": pl.String, "kg": pl.Float64, "n": pl.Int64, "ok": pl.Boolean},
    )
    data, wb = workbook(Sheet("s1", frame, {"kg": "#,##0.0"}))
    ws = wb["s1"]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == ("id", "kg", "n", "ok")
    assert [r[0] for r in rows[1:]] == ["A&B", "<tag>", "  padded ", None, None, "ctlchar", "naïve – ü"]
    assert [r[1] for r in rows[1:]] == [1.5, None, None, None, 0.0, 1e-12, 123456789.123]  # unknown -> empty
    assert [r[2] for r in rows[1:]] == [1, 2, None, 4, 5, 6, 7]
    assert [r[3] for r in rows[1:]] == ["true", "false", None, "true", "true", "false", "true"]
    assert ws["B2"].number_format == "#,##0.0" and ws["C2"].number_format == "General"
    assert ws["A1"].font.b and not ws["A2"].font.b
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == "A1:D8"
    z = zipfile.ZipFile(io.BytesIO(data))
    assert z.testzip() is None  # every part's CRC matches
    for name in z.namelist():
        ElementTree.fromstring(z.read(name))  # every part is well-formed XML


def test_big_parts_are_deflated_in_chunks_that_concatenate() -> None:
    n = 400_000  # ~20 MB of sheet XML: three deflate chunks
    frame = pl.DataFrame({"i": range(n), "x": [k * 0.25 for k in range(n)]})
    data, _ = workbook(Sheet("big", frame, {}))
    z = zipfile.ZipFile(io.BytesIO(data))
    assert z.testzip() is None
    xml = z.read("xl/worksheets/sheet1.xml")
    assert len(xml) > 16 << 20
    root = ElementTree.fromstring(xml)  # the whole inflated stream parses: the chunk seams are clean
    rows = root.findall("{*}sheetData/{*}row")
    assert len(rows) == n + 1
    assert [v.text for v in rows[-1].findall(".//{*}v")] == [str(n - 1), str((n - 1) * 0.25)]


def test_empty_frames_and_bad_names() -> None:
    _, wb = workbook(Sheet("empty", pl.DataFrame(schema={"a": pl.String}), {}), Sheet("none", pl.DataFrame(), {}))
    assert list(wb["empty"].iter_rows(values_only=True)) == [("a",)]
    for bad in ("a/b", "x" * 32, ""):
        with pytest.raises(ValueError, match="sheet names"):
            workbook(Sheet(bad, pl.DataFrame({"a": [1]}), {}))
    with pytest.raises(ValueError, match="sheet names"):
        workbook(Sheet("same", pl.DataFrame({"a": [1]}), {}), Sheet("same", pl.DataFrame({"a": [1]}), {}))


def test_column_letters() -> None:
    assert [column_letter(i) for i in (0, 25, 26, 51, 52, 701, 702, 16383)] == [
        "A",
        "Z",
        "AA",
        "AZ",
        "BA",
        "ZZ",
        "AAA",
        "XFD",
    ]


def test_long_sections_continue_on_numbered_sheets() -> None:
    batches, streams, recoveries = decode([])
    assays = decode_assays([])
    assays = pl.concat([assays, pl.DataFrame({"batch_id": [f"B{k}" for k in range(25)]})], how="diagonal")
    buf = io.BytesIO()
    write_xlsx(batches, streams, recoveries, assays, buf, sheet_rows=10)
    wb = openpyxl.load_workbook(io.BytesIO(buf.getvalue()))
    assert wb.sheetnames == [
        "summary",
        "element_recovery",
        "batches",
        "stream_masses",
        "assays",
        "assays_2",
        "assays_3",
        "recoveries",
        "balance",
    ]
    got = [r[0] for name in ("assays", "assays_2", "assays_3") for r in wb[name].iter_rows(min_row=2, values_only=True)]
    assert got == [f"B{k}" for k in range(25)]  # nothing lost or doubled at the seams


def test_progress_is_reported_per_part_and_ends_at_one() -> None:
    seen: list[tuple[float, str]] = []
    frames = [pl.DataFrame({"a": range(n)}) for n in (10, 1000, 100)]
    write_workbook(
        [Sheet(f"s{i}", f, {}) for i, f in enumerate(frames)], io.BytesIO(), progress=lambda x, w: seen.append((x, w))
    )
    fractions = [x for x, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert len(seen) == 5 + 3  # package parts, styles, one per sheet
    step = {w: x - prev for (x, w), (prev, _) in zip(seen, [(0.0, ""), *seen], strict=False)}
    assert step["xl/worksheets/sheet2.xml"] > 0.8  # fractions follow cells: the 1,000-row sheet is most of it


def test_cli_progress_bar_draws_on_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    p = Progress(enabled=True)
    p.update(0.5, "rendering")
    p.done()
    err = capsys.readouterr().err
    assert "[" + "#" * 15 + "." * 15 + "]  50% rendering" in err
    assert "[" + "#" * 30 + "] 100% done" in err
    Progress(enabled=False).update(0.5, "silent")
    assert capsys.readouterr().err == ""
