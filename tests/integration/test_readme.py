"""The README's first hour, run as written: every ```sh example block, in a checkout with a fresh demo store.

The blocks run in a scratch folder that links the project's config/, seeds/ and .venv/ (so paths
read as in a checkout), after a short `blackmass demo` filled data/demo as `make run` does. The
PostgreSQL block gets a throw-away database through the STORE variable it documents.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import free_port, require_tool

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration
BLOCK = re.compile(r"^```sh example\n(.*?)^```", re.MULTILINE | re.DOTALL)


def examples() -> list[str]:
    return BLOCK.findall((ROOT / "README.md").read_text(encoding="utf-8"))


def test_the_readme_marks_its_first_hour_examples() -> None:
    blocks = examples()
    assert len(blocks) == 4
    assert "serve --data-dir data/demo" in blocks[1] and "check-config" in blocks[2] and "STORE" in blocks[3]


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("checkout")
    for name in ("config", "seeds"):
        (d / name).symlink_to(ROOT / name)
    (d / ".venv").symlink_to(Path(sys.executable).parent.parent)
    demo = [".venv/bin/blackmass", "demo", "--data-dir", "data/demo", "--port", str(free_port())]
    demo += ["--duration", "10", "--speed", "4800", "--assay-delay", "0", "--seed", "11"]
    out = subprocess.run(demo, cwd=d, capture_output=True, text=True, timeout=180, check=True)
    assert "data: data/demo/" in out.stdout and "next:" in out.stdout  # the demo says where and what next
    return d


def run(block: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    out = subprocess.run(
        ["bash", "-eu", "-c", block],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
        check=False,
    )
    assert out.returncode == 0, f"{block}\n--- stdout\n{out.stdout}\n--- stderr\n{out.stderr}"
    return out.stdout


def test_a_report(checkout: Path) -> None:
    require_tool("pdftotext", "poppler-utils")
    out = run(examples()[0], checkout)
    assert out.splitlines()[0].startswith("batch_id,line,")
    pdf = subprocess.run(["pdftotext", str(checkout / "report.pdf"), "-"], capture_output=True, text=True, check=True)
    text = pdf.stdout
    assert "Demo black-mass preprocessing plant" in text and "No lots match" not in text


def test_the_api_over_the_demo_store(checkout: Path) -> None:
    require_tool("curl", "curl")
    out = run(examples()[1], checkout)
    assert '"batches"' in out and '"elements"' in out and (checkout / "demo.xlsx").stat().st_size > 1000


def test_a_config_checked_against_a_live_server(checkout: Path) -> None:
    out = run(examples()[2], checkout)
    assert "browse path" in out and "all 24 tags resolve" in out


def test_two_lines_on_one_postgresql_with_assays(checkout: Path, pg_cluster) -> None:  # type: ignore[no-untyped-def]
    store = pg_cluster.new_database()
    out = run(examples()[3], checkout, {"STORE": store})
    assert out.count("batches completed") == 2
    assert "already imported, nothing changed" in out  # the L2 monitor took its lab's files itself
    assert (checkout / "plant.pdf").stat().st_size > 10_000
    for line in ("L1", "L2"):  # each line's lab files found their lots: assays on every line
        csv = run(f".venv/bin/blackmass report --store {store} --line {line} --format csv --out -", checkout)
        rows = [r.split(",") for r in csv.splitlines()]
        status = rows[0].index("assay_status")
        final = {r[0] for r in rows[1:] if r[status] == "final"}
        # the lab's files the monitor took before its demo ended (a busy machine leaves the last lots'
        # files in the inbox, in either order with the stop): exactly their lots are final
        done = checkout / "data" / line / "lims" / "done"
        taken = {f.name.removesuffix("-final.csv") for f in done.glob("*-final.csv")}
        assert len(final) >= 2 and final == taken & {r[0] for r in rows[1:]}, (line, sorted(taken), csv[:500])
