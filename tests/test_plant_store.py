"""A plant's lines in one store through the CLI: --line, --store, several lines per report, serve, migrate."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import subprocess
import urllib.request
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest

from monitor.cli import build_parser, main
from monitor.cli.store import serve_store
from monitor.errors import StoreError
from monitor.reports.frames import human_row
from monitor.store.query import BatchQuery
from monitor.store.rows import batch_row
from monitor.store.url import open_store
from tests.conftest import free_port, require_tool

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def histories(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two plant-days of lines L1 and L2 (exports carry their line)."""
    d = tmp_path_factory.mktemp("lines")
    for n in (1, 2):
        args = ["simulate", "--export-history", str(d / f"h{n}.parquet"), "--days", "2", "--no-noise"]
        assert main([*args, "--seed", str(n), "--line", f"L{n}", "--data-dir", str(d / f"g{n}")]) == 0
    return d


def _report(capsysbinary: pytest.CaptureFixture[bytes], *args: str) -> list[dict[str, str]]:
    assert main(["report", *args, "--format", "csv", "--out", "-"]) == 0
    return list(csv.DictReader(io.StringIO(capsysbinary.readouterr().out.decode())))


def test_two_lines_replayed_into_one_store(
    store_url: str, histories: Path, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    for n in (1, 2):
        assert main(["replay", str(histories / f"h{n}.parquet"), "--store", store_url]) == 0
    capsysbinary.readouterr()
    truth = {n: {r["batch_id"] for r in csv.DictReader((histories / f"g{n}/ground_truth.csv").open())} for n in (1, 2)}
    l1, l2 = (
        _report(capsysbinary, "--store", store_url, "--line", "L1"),
        _report(capsysbinary, "--store", store_url, "--line", "L2"),
    )
    assert {r["line"] for r in l1} == {"L1"} and {r["line"] for r in l2} == {"L2"}
    assert {r["batch_id"] for r in l1} <= truth[1] and len(l1) >= len(truth[1]) - 1
    both = _report(capsysbinary, "--store", store_url, "--line", "L1,L2")
    assert (
        len(both)
        == len(l1) + len(l2)
        == len(_report(capsysbinary, "--store", store_url, "--line", "L1", "--line", "L2"))
    )
    # a second replay of the same history stores nothing new (idempotent saves)
    assert main(["replay", str(histories / "h1.parquet"), "--store", store_url]) == 0
    assert "0 new or changed versions stored" in capsysbinary.readouterr().out.decode()
    # migrate to SQLite: the same report
    dest = f"sqlite:///{tmp_path / 'copy.db'}"
    assert main(["store", "migrate", "--from", store_url, "--to", dest]) == 0
    capsysbinary.readouterr()
    assert _report(capsysbinary, "--store", dest, "--line", "L1,L2") == both


async def test_serve_answers_for_every_line_in_the_store(store_url: str, histories: Path) -> None:
    for n in (1, 2):
        assert await asyncio.to_thread(main, ["replay", str(histories / f"h{n}.parquet"), "--store", store_url]) == 0
    port = free_port()
    task = asyncio.create_task(
        serve_store(build_parser().parse_args(["serve", "--store", store_url, "--port", str(port)]))
    )

    def get(path: str) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return json.load(r)

    try:
        for _ in range(100):
            try:
                health = await asyncio.to_thread(get, "/healthz")
                break
            except OSError:
                await asyncio.sleep(0.05)
        assert health["lines"] == ["L1", "L2"]
        store = open_store(store_url)
        for line in ("L1", "L2"):
            got = await asyncio.to_thread(get, f"/api/batches?line={line}")
            assert got["count"] > 0 and {b["line"] for b in got["batches"]} == {line}
            # the rows come from the report projection; they are the full results' rows at human precision
            want = [human_row(batch_row(r)) for r in store.latest(BatchQuery.line(line, include_partial=False))]
            assert got["batches"] == want
        both = await asyncio.to_thread(get, "/api/batches?line=L1,L2")
        assert both["count"] == len(store.latest(BatchQuery(lines=("L1", "L2"))))
        store.close()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def test_bad_store_options_fail_clearly(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["report", "--store", "postgresql://u:pw@h/db", "--out", "-"]) == 2
    assert "carries a password" in capsys.readouterr().err
    assert main(["report", "--out", "-"]) == 2
    assert "expected a store URL or --data-dir" in capsys.readouterr().err
    assert main(["report", "--data-dir", str(tmp_path), "--out", "-"]) == 2
    assert "no batch store here" in capsys.readouterr().err
    assert (
        main(
            ["simulate", "--export-history", str(tmp_path / "h.parquet"), "--line", "L 1", "--data-dir", str(tmp_path)]
        )
        == 2
    )
    assert "--line" in capsys.readouterr().err


def test_a_report_over_several_lines_has_per_line_subtotals(tmp_path: Path) -> None:
    from openpyxl import load_workbook  # noqa: PLC0415

    from monitor.reports.exports import Report, render  # noqa: PLC0415
    from monitor.reports.frames import lines_frame  # noqa: PLC0415
    from monitor.store.rows import frames  # noqa: PLC0415
    from tests.test_store import result  # noqa: PLC0415

    results = [
        result("L1-1", feed=4000, bm=2000),
        result("L1-2", feed=6000, bm=3300, start=9000),
        replace(result("L2-1", feed=5000, bm=2500), line="L2"),
    ]
    batches, streams, recoveries = frames(results)
    sub = lines_frame(batches)
    assert sub["line"].to_list() == ["L1", "L2", "all lines"]
    assert sub["batches"].to_list() == [2, 1, 3]
    assert sub["black_mass_yield"].to_list() == pytest.approx([5300 / 10000, 0.5, 7800 / 15000])
    report = Report(batches, streams, recoveries)

    class NoAssays:
        def assay_sheets(self, ids: list[str]) -> list[str]:
            return []

    book = load_workbook(io.BytesIO(render(NoAssays(), report, "xlsx")))  # type: ignore[arg-type]
    assert "lines" in book.sheetnames
    one_line = Report(batches.filter(pl.col("line") == "L1"), streams, recoveries)
    assert "lines" not in load_workbook(io.BytesIO(render(NoAssays(), one_line, "xlsx"))).sheetnames  # type: ignore[arg-type]
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(render(NoAssays(), report, "pdf"))  # type: ignore[arg-type]
    pdftotext = require_tool("pdftotext", "poppler-utils")
    text = subprocess.run([pdftotext, str(pdf), "-"], capture_output=True, text=True, check=True)
    assert "Per line" in text.stdout and "all lines" in text.stdout


def test_the_store_password_comes_from_the_environment_or_a_secrets_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from psycopg.conninfo import conninfo_to_dict  # noqa: PLC0415

    from monitor.store.url import pg_conninfo  # noqa: PLC0415

    url = "postgresql://blackmass@db:5432/plant"
    monkeypatch.delenv("BLACKMASS_STORE_PASSWORD", raising=False)
    monkeypatch.delenv("BLACKMASS_STORE_PASSWORD_FILE", raising=False)
    assert "password" not in conninfo_to_dict(pg_conninfo(url))
    secret = tmp_path / "pw"
    secret.write_text("from-file\n")
    secret.chmod(0o600)
    assert conninfo_to_dict(pg_conninfo(url, password_file=secret))["password"] == "from-file"
    monkeypatch.setenv("BLACKMASS_STORE_PASSWORD_FILE", str(secret))
    assert conninfo_to_dict(pg_conninfo(url))["password"] == "from-file"
    monkeypatch.setenv("BLACKMASS_STORE_PASSWORD", "from-env")
    assert conninfo_to_dict(pg_conninfo(url, password_file=secret))["password"] == "from-env"
    monkeypatch.delenv("BLACKMASS_STORE_PASSWORD")
    with pytest.raises(StoreError, match="cannot read the store password file"):
        pg_conninfo(url, password_file=tmp_path / "missing")


def test_plant_config_store_section(tmp_path: Path) -> None:
    from monitor.config import load_config  # noqa: PLC0415
    from monitor.errors import ConfigError  # noqa: PLC0415

    text = (ROOT / "config/plant.toml").read_text()
    good = tmp_path / "good.toml"
    good.write_text(text + '\n[store]\nurl = "postgresql://blackmass@db:5432/plant"\npassword_file = "pw"\n')
    cfg = load_config(good)
    assert cfg.store_url == "postgresql://blackmass@db:5432/plant" and cfg.store_password_file == tmp_path / "pw"
    bad = tmp_path / "bad.toml"
    bad.write_text(text + '\n[store]\nurl = "postgresql://blackmass:hunter2@db:5432/plant"\n')
    with pytest.raises(StoreError, match=r"bad.toml: \[store\] url: the URL carries a password"):
        load_config(bad)
    bad.write_text(text + '\n[store]\npassword = "hunter2"\n')
    with pytest.raises(ConfigError, match=r"store\.password"):
        load_config(bad)


def test_store_upgrade_reports_the_schema(store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    open_store(store_url).close()
    assert main(["store", "upgrade", "--store", store_url]) == 0
    assert capsys.readouterr().out.strip() == f"{store_url}: up to date"


async def test_a_monitor_retries_a_save_while_the_store_is_down(store_url: str, tmp_path: Path) -> None:
    """The engine hands a finished batch over once: a failed save is retried, never dropped."""
    from monitor.config import load_config  # noqa: PLC0415
    from monitor.runs.app import Monitor  # noqa: PLC0415
    from tests.test_store import result  # noqa: PLC0415

    monitor = Monitor(load_config(ROOT / "config/plant.toml"), tmp_path, seeds=ROOT / "seeds", store_url=store_url)
    monitor.store_retry_s = 0.01
    real, calls = monitor.accountant.finalise, []

    def flaky(r):  # type: ignore[no-untyped-def]
        calls.append(r.batch_id)
        if len(calls) < 3:
            raise StoreError(f"{store_url}: cannot save batch(es) {r.batch_id}: connection refused")
        return real(r)

    monitor.accountant.finalise = flaky  # type: ignore[method-assign]
    saved = await monitor._save(result("L1-00009"))
    assert saved is not None and saved.version == 1 and calls == ["L1-00009"] * 3
    assert [r.batch_id for r in monitor.store.latest(BatchQuery.line("L1"))] == ["L1-00009"]
    monitor.store.close()


def test_a_restarted_line_finds_its_own_batches_only(store_url: str, tmp_path: Path) -> None:
    from monitor.config import load_config  # noqa: PLC0415
    from monitor.runs.app import Monitor  # noqa: PLC0415
    from monitor.runs.demo import for_line  # noqa: PLC0415
    from tests.test_store import result  # noqa: PLC0415

    s = open_store(store_url)
    s.save(result("L1-00001"))
    s.save(replace(result("L2-00001", feed=5000.0), line="L2"))
    s.close()
    cfg = for_line(load_config(ROOT / "config/plant.toml"), "L2")
    monitor = Monitor(cfg, tmp_path, seeds=ROOT / "seeds", store_url=store_url)
    assert monitor.completed == 1  # L2's batch only: its counters continue from its own batches
    monitor.store.close()


def test_a_failed_migrate_leaves_no_new_sqlite_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import monitor.store.migrate  # noqa: PLC0415
    from tests.test_store import result  # noqa: PLC0415

    source = f"sqlite:///{tmp_path / 'a.db'}"
    s = open_store(source)
    s.save(result())
    s.close()
    assert main(["store", "migrate", "--from", source, "--to", source]) == 2
    assert "the same store as --from" in capsys.readouterr().err
    dest = tmp_path / "new.db"
    assert main(["store", "migrate", "--from", f"sqlite:///{tmp_path / 'none.db'}", "--to", f"sqlite:///{dest}"]) == 2
    assert "no batch store here" in capsys.readouterr().err and not dest.exists()

    def broken(*_: object) -> None:
        raise StoreError("--to: table assays: expected 1 rows, got 0; rolled back, nothing changed")

    monkeypatch.setattr(monitor.store.migrate, "migrate", broken)
    assert main(["store", "migrate", "--from", source, "--to", f"sqlite:///{dest}"]) == 2
    assert "rolled back" in capsys.readouterr().err and not dest.exists()


def test_line_option_names_the_simulated_line_and_the_monitor_follows() -> None:
    from monitor.config import load_config  # noqa: PLC0415
    from monitor.runs.demo import for_line  # noqa: PLC0415
    from monitor.simulator.settings import load_sim_config  # noqa: PLC0415

    sim = load_sim_config(ROOT / "config/simulator.toml", line="L2")
    assert (sim.line, sim.namespace_uri) == ("L2", "urn:blackmass:simulator:L2")
    cfg = for_line(load_config(ROOT / "config/plant.toml"), "L2")
    assert cfg.line.line == "L2"
    assert cfg.tag_addresses()["Feed.Totalizer"] == "nsu=urn:blackmass:simulator:L2;s=Feed.Totalizer"
    for cmd in ("demo", "simulate"):
        assert build_parser().parse_args([cmd, "--data-dir", "d", "--line", "L3"]).line == "L3"
