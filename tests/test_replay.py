"""Replay of historian exports: the same batches as live, bad files refused before anything changes."""

from __future__ import annotations

import csv
import hashlib
import sqlite3
from pathlib import Path

import polars as pl
import pytest

from monitor.cli import main
from monitor.config import load_config
from monitor.core.engine import Engine
from monitor.core.results import BatchResult
from monitor.core.samples import Quality, Sample
from monitor.errors import InputError
from monitor.runs.demo import SimOptions, make_plant
from monitor.runs.history_file import check_history, read_history, survey_history
from monitor.runs.replay import replay, replay_file
from monitor.simulator.export import export_history

ROOT = Path(__file__).resolve().parents[1]
SPEC = load_config(ROOT / "config/plant.toml").line


def export(
    d: Path, days: float, *, noise: bool = False, faults: frozenset[str] = frozenset(), name: str = "h.parquet"
) -> Path:
    opts = SimOptions(
        data_dir=d,
        sim_config=ROOT / "config/simulator.toml",
        seeds=ROOT / "seeds",
        seed=3,
        noise=noise,
        t0=1.8e9,
        faults=faults,
    )
    export_history(make_plant(opts), d / name, days, d / "ground_truth.csv")
    return d / name


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export(tmp_path_factory.mktemp("month"), 30)


def test_thirty_noise_free_days_reproduce_the_ground_truth(month: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = month.parent
    assert main(["replay", str(month), "--data-dir", str(d)]) == 0
    assert main(["report", "--data-dir", str(d), "--format", "csv", "--out", str(d / "report.csv")]) == 0
    truth = {r["batch_id"]: r for r in csv.DictReader((d / "ground_truth.csv").open())}
    rows = list(csv.DictReader((d / "report.csv").open()))
    report = {r["batch_id"]: r for r in rows}
    assert len(truth) >= 300 and len(rows) == len(report) == len(truth)
    worst = max(
        abs(float(report[b][c]) - float(t[c])) / float(t[c])
        for b, t in truth.items()
        for c in ("feed_kg", "black_mass_kg")
    )
    assert worst <= 0.002, worst
    out = capsys.readouterr().out
    assert f"{len(truth)} batches, {len(truth)} new or changed versions stored" in out
    # a second replay of the same file stores nothing new: never doubled
    assert main(["replay", str(month), "--data-dir", str(d)]) == 0
    assert f"{len(truth)} batches, 0 new or changed versions stored" in capsys.readouterr().out


def results(frame: pl.DataFrame, rows: int) -> list[BatchResult]:
    out: list[BatchResult] = []
    replay(frame, Engine(SPEC), out.append, rows=rows)
    return out


def test_chunk_size_does_not_change_a_batch(tmp_path: Path) -> None:
    frame = read_history(export(tmp_path, 3, noise=True, faults=frozenset({"bad-quality", "totalizer-reset"})))
    whole, small = results(frame, 10_000_000), results(frame, 2_000)
    assert len(whole) >= 25
    assert whole == small


def test_replay_equals_the_live_path(tmp_path: Path) -> None:
    """Block ingest (replay) and per-sample ingest (live) give identical batches."""
    frame = read_history(export(tmp_path, 2, noise=True, faults=frozenset({"bad-quality"})))
    live = Engine(SPEC)
    live_out: list[BatchResult] = []
    for ts, tag, value, text, q in frame.iter_rows():
        live.ingest([Sample(tag, ts, text if text is not None else value, Quality(q))])
        live_out += live.poll()
    assert results(frame, 50_000) == live_out and len(live_out) >= 15


def test_csv_and_parquet_exports_replay_alike(tmp_path: Path) -> None:
    p = export(tmp_path, 1, noise=True)
    c = export(tmp_path, 1, noise=True, name="h.csv")
    assert results(read_history(p), 10**6) == results(read_history(c), 10**6)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("ts,tag,value,quality\n2026-01-01T00:00:00Z,a,1.0,0\n", "missing column(s) text"),
        ("ts,tag,value,text,quality\n2026-01-01T00:00:00Z,a,1.0,,0\n2026-01-01T00:01:00Z,a,2.0,,7\n", "h.csv:3"),
        ("ts,tag,value,text,quality\nyesterday,a,1.0,,0\n", "h.csv:2: column 'ts'"),
        ("ts,tag,value,text,quality\n2026-01-01T00:00:00Z,,1.0,,0\n", "h.csv:2: column 'tag'"),
        ("ts,tag,value,text,quality\n2026-01-01T00:00:00Z,a,heavy,,0\n", "h.csv"),
    ],
)
def test_a_bad_export_is_refused_naming_where_and_changes_nothing(
    tmp_path: Path, content: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    d = tmp_path / "data"
    good = export(d, 0.5)
    assert main(["replay", str(good), "--data-dir", str(d)]) == 0
    before = hashlib.sha256((d / "blackmass.db").read_bytes()).hexdigest()
    bad = tmp_path / "h.csv"
    bad.write_text(content)
    assert main(["replay", str(bad), "--data-dir", str(d)]) == 2
    assert message in capsys.readouterr().err
    assert hashlib.sha256((d / "blackmass.db").read_bytes()).hexdigest() == before
    with pytest.raises(InputError, match=r"expected a \.parquet or \.csv"):
        read_history(tmp_path / "h.xlsx")


def test_streamed_slices_give_the_same_batches_and_refuse_an_unsorted_file(tmp_path: Path) -> None:
    path = export(tmp_path, 2, noise=True)
    whole = results(read_history(path), 10**7)
    streamed: list[BatchResult] = []
    stats = replay_file(path, Engine(SPEC), streamed.append, rows=5_000)
    assert streamed == whole and stats.batches == len(whole) and stats.chunks >= 10
    by_tag = tmp_path / "by_tag.parquet"
    pl.read_parquet(path).sort("tag", "ts").write_parquet(by_tag)
    with pytest.raises(InputError, match="not in time order") as err:
        check_history(by_tag, rows=5_000)
    assert "sort the export by ts" in str(err.value)
    assert results(read_history(by_tag), 10**7) == whole  # read whole (small files), it is sorted in memory


def test_the_simulators_history_format_constants_match_replays() -> None:
    """The simulator writes history files with its own copies (it shares no code with the monitor)."""
    from monitor.runs import history_file as rp  # noqa: PLC0415
    from monitor.simulator import export as ex  # noqa: PLC0415

    assert (ex.ROW_GROUP_ROWS, ex.LINE_METADATA) == (rp.CHUNK_ROWS, rp.LINE_METADATA)


def test_the_simulators_quality_mapping_agrees_with_the_cores() -> None:
    from monitor.core.samples import quality_from_status  # noqa: PLC0415
    from monitor.simulator.history import quality_of  # noqa: PLC0415

    for status in (0, 0x00A80000, 0x40000000, 0x408F0000, 0x80000000, 0x80350000, 0xC0000000):
        assert quality_of(status) == int(quality_from_status(status))


def _table_rows(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as con:
        names = [n for (n,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {n: con.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}


@pytest.mark.parametrize(("column", "bad"), [("quality", 7), ("tag", ""), ("ts", None)])
def test_a_file_refused_at_its_last_row_delivers_no_lot_and_leaves_the_store_as_it_was(
    tmp_path: Path, column: str, bad: object, capsys: pytest.CaptureFixture[str]
) -> None:
    """The check pass reads every slice before a lot is cut: a bad last row of the last slice refuses
    the whole file; no lot reaches the caller, the store keeps every byte and row."""
    d = tmp_path / "data"
    good = export(d, 1.0)
    assert main(["replay", str(good), "--data-dir", str(d)]) == 0
    db = d / "blackmass.db"
    before, rows_before = hashlib.sha256(db.read_bytes()).hexdigest(), _table_rows(db)
    assert rows_before["batch_versions"] >= 5
    frame = pl.read_parquet(good).with_columns(pl.col("ts") + pl.duration(days=1))  # the next day: new lots
    frame.write_parquet(tmp_path / "next-whole.parquet", row_group_size=5_000)
    whole: list[BatchResult] = []  # the file unbroken gives lots from its first slices on
    replay_file(tmp_path / "next-whole.parquet", Engine(SPEC), whole.append, rows=4_000)
    assert len(whole) >= 5 and whole[0].end is not None and whole[0].end < frame["ts"][20_000].timestamp()
    last = frame.height - 1
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == last).then(pl.lit(bad)).otherwise(pl.col(column)).alias(column)
    )
    refused = tmp_path / "next.parquet"
    frame.write_parquet(refused, row_group_size=5_000)
    where = f"{refused}:{last + 2}"  # header line, 1-based: as a CSV of the same rows would number it
    out: list[BatchResult] = []
    with pytest.raises(InputError, match=f"{where}: column '{column}"):
        replay_file(refused, Engine(SPEC), out.append, rows=4_000)  # the refusal comes from the 8th slice
    assert out == [] and frame.height > 7 * 4_000
    assert main(["replay", str(refused), "--data-dir", str(d)]) == 2
    assert where in capsys.readouterr().err
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before and _table_rows(db) == rows_before


def test_a_csv_whose_last_value_is_no_number_is_refused_before_a_lot_is_cut(tmp_path: Path) -> None:
    """A CSV's values are parsed by the check pass too (a Parquet file's are typed by its schema)."""
    good = export(tmp_path, 1.0, name="h.csv")
    lines = good.read_text().splitlines()
    ts, tag, _, text, quality = lines[-1].split(",")
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([*lines[:-1], f"{ts},{tag},heavy,{text},{quality}"]) + "\n")
    whole: list[BatchResult] = []
    replay_file(good, Engine(SPEC), whole.append, rows=4_000)
    out: list[BatchResult] = []
    with pytest.raises(InputError, match=r"bad\.csv:\d+: cannot read the historian export"):
        replay_file(bad, Engine(SPEC), out.append, rows=4_000)
    assert len(whole) >= 3 and out == []


@pytest.mark.parametrize("statistics", [True, False])
def test_the_check_pass_refuses_a_bad_row_with_or_without_the_files_statistics(
    tmp_path: Path, statistics: bool
) -> None:
    """A Parquet file's refused rows are counted once for the whole file (from its row groups' statistics
    where it has them); without statistics the count reads the columns: the same slices, the same refusals."""
    frame = pl.read_parquet(export(tmp_path, 0.5))
    plain = tmp_path / "plain.parquet"
    frame.write_parquet(plain, row_group_size=2_500, statistics=statistics)
    assert survey_history(plain, rows=2_000) == survey_history(tmp_path / "h.parquet", rows=2_000)
    assert len(survey_history(plain, rows=2_000).newest) == -(-frame.height // 2_000) >= 5
    row = frame.height // 2 + 17
    for column, bad in (("quality", 7), ("tag", ""), ("ts", None), ("tag", None), ("quality", None)):
        broken = tmp_path / f"broken-{column}.parquet"
        frame.with_columns(
            pl.when(pl.int_range(pl.len()) == row).then(pl.lit(bad)).otherwise(pl.col(column)).alias(column)
        ).write_parquet(broken, row_group_size=2_500, statistics=statistics)
        with pytest.raises(InputError, match=f"{broken}:{row + 2}: column '{column}"):
            survey_history(broken, rows=2_000)


def test_the_set_up_says_a_bad_config_first_and_opens_no_store_before_the_file_and_seeds_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The check pass runs beside the imports, the config and the seeds: a bad config is still the error
    said (not the bad file's), and no store file is created for a bad file or missing seeds."""
    bad = tmp_path / "h.csv"
    bad.write_text("ts,tag,value,text,quality\n2026-01-01T00:00:00Z,,1.0,,0\n")
    config = tmp_path / "plant.toml"
    config.write_text("[plant\n")
    d = tmp_path / "data"
    assert main(["replay", str(bad), "--data-dir", str(d), "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert str(config) in err and "h.csv" not in err and not (d / "blackmass.db").exists()
    assert main(["replay", str(bad), "--data-dir", str(d)]) == 2
    assert "h.csv:2: column 'tag'" in capsys.readouterr().err and not (d / "blackmass.db").exists()
    good = export(tmp_path / "good", 0.2)
    assert main(["replay", str(good), "--data-dir", str(d), "--seeds", str(tmp_path / "no-seeds")]) == 2
    assert "feed_compositions.csv" in capsys.readouterr().err and not (d / "blackmass.db").exists()


def test_a_text_column_of_bytes_is_refused_before_a_lot_is_cut(tmp_path: Path) -> None:
    """Bytes in `text` would be decoded as UTF-8 mid-replay, after lots were stored: the check refuses them."""
    good = export(tmp_path, 1.0)
    frame = pl.read_parquet(good)
    bad = tmp_path / "bytes.parquet"
    frame.with_columns(pl.col("text").cast(pl.Binary)).write_parquet(bad)
    out: list[BatchResult] = []
    with pytest.raises(InputError, match=r"bytes\.parquet: column 'text': expected text \(UTF-8\), got Binary"):
        replay_file(bad, Engine(SPEC), out.append)
    assert out == [] and frame.height > 1000
