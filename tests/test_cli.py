"""The CLI surface: knobs the issues name, and what the demo prints per batch."""

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from monitor.cli import build_parser, print_batch
from monitor.core.metals import ElementAccount
from monitor.core.results import BatchResult, BatchState, StreamMass


@pytest.mark.parametrize("cmd", ["demo", "simulate"])
def test_simulator_knobs_on_demo_and_simulate(cmd: str) -> None:
    a = build_parser().parse_args(
        [
            cmd,
            "--data-dir",
            "d",
            "--speed",
            "1200",
            "--duration",
            "45",
            "--no-noise",
            "--seed",
            "7",
            "--assay-delay",
            "0",
            "--fault",
            "yield-drop",
            "--fault",
            "n2-leak",
        ]
    )
    assert (a.speed, a.duration, a.no_noise, a.seed, a.assay_delay) == (1200, 45, True, 7, 0)
    assert a.fault == ["yield-drop", "n2-leak"]
    with pytest.raises(SystemExit):
        build_parser().parse_args([cmd, "--data-dir", "d", "--fault", "meteor-strike"])


def test_completed_batch_prints_a_row_and_assays_a_recovery_line(capsys: pytest.CaptureFixture[str]) -> None:
    r = BatchResult(
        line="L1",
        batch_id="L1-00003",
        start=0,
        end=1,
        state=BatchState.COMPLETE,
        chemistry="NCMA",
        feed_form="cells",
        streams=(StreamMass("feed", 4000.0, "totalizer", 0, 1), StreamMass("black_mass", 2350.0, "weighing", 0, 1)),
        yields={"black_mass": 0.5875},
        closure=0.9824,
    )
    print_batch(r)
    row = capsys.readouterr().out.split()
    assert row == ["L1-00003", "NCMA", "cells", "4.000", "2.350", "58.75", "98.24"]
    ni = ElementAccount(
        element="ni",
        feed_grade=0.22,
        feed_grade_source="declared",
        feed_kg=880.0,
        black_mass_grade=0.33,
        black_mass_kg=774.4,
        recovery=0.88,
        status="final",
    )
    print_batch(replace(r, version=2, metals=(ni,), assay_status="final"))
    assert capsys.readouterr().out.strip() == "L1-00003 v2 assays final: recovery % Ni 88.0"


HEAVY = ("polars", "numpy", "psycopg", "asyncua", "aiohttp", "prometheus_client", "monitor.store.sql")


@pytest.mark.parametrize("argv", [["--help"], ["check-config", "config/plant.toml"]])
def test_help_and_check_config_load_no_heavy_library(argv: list[str]) -> None:
    """Start-up (issue 20): the parser and check-config import no data, database or OPC-UA stack."""
    code = (
        "import sys\nfrom monitor.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code, *argv], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout[-500:]


def test_the_report_formats_the_parser_offers_are_the_formats_there_are() -> None:
    from monitor.cli.data import REPORT_FORMATS  # noqa: PLC0415
    from monitor.reports.exports import FORMATS  # noqa: PLC0415

    assert sorted(REPORT_FORMATS) == sorted(FORMATS)
    assert build_parser().parse_args(["report", "--out", "-", "--format", "pdf"]).format == "pdf"


def test_every_argument_has_help_and_options_say_their_default(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # one line per argument
    with pytest.raises(SystemExit):
        build_parser().parse_args(["replay", "--help"])
    text = capsys.readouterr().out
    assert "  file                 the input file" in text  # no help given: the meaning of its name
    with pytest.raises(SystemExit):
        build_parser().parse_args(["report", "--help"])
    text = capsys.readouterr().out
    assert "output format (default: csv)" in text  # a nested command's parser formats the same way
    assert "only lots of this chemistry (e.g. NMC811)" in text
