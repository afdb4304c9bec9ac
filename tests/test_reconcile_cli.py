import json
from pathlib import Path

import pytest

from monitor.cli import main

WORKED = """stream,direction,measured_kg,rel_sigma
feed,in,10000,0.002
black_mass,out,4930,0.005
cu_al,out,1480,0.01
ferrous,out,1690,0.01
light_fraction,out,420,0.02
condensate,out,1120,0.02
loss,out,150,1.0
"""


def test_worked_example_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "b.csv"
    f.write_text(WORKED)
    assert main(["reconcile", str(f), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    s = {x["stream"]: x for x in out["streams"]}
    assert s["black_mass"]["reconciled_kg"] == pytest.approx(4935.2, abs=0.05)
    assert s["loss"]["reconciled_kg"] == pytest.approx(342.2, abs=0.05)
    assert out["gamma"] == pytest.approx(1.794, abs=0.001) and out["dof"] == 1
    assert out["p_value"] == pytest.approx(0.1804, abs=0.001)
    assert set(s["feed"]) >= {"stream", "measured_kg", "reconciled_kg", "sd_kg", "z"}


def test_table_output_and_unmeasured(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "b.csv"
    f.write_text(WORKED.replace("loss,out,150,1.0", "loss,out,,"))
    assert main(["reconcile", str(f)]) == 0
    text = capsys.readouterr().out
    assert "loss" in text and "360.0" in text and "no redundancy" in text


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("stream,dir,measured_kg,rel_sigma\n", ":1"),
        (WORKED.replace("feed,in,10000", "feed,sideways,10000"), ":2: field 'direction'"),
        (WORKED.replace("4930,0.005", "4930,0"), ":3: field 'rel_sigma'"),
        (WORKED.replace("1480,", "-1480,"), ":4: field 'measured_kg'"),
    ],
)
def test_bad_balance_files(tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, says: str) -> None:
    f = tmp_path / "b.csv"
    f.write_text(body)
    assert main(["reconcile", str(f)]) == 2
    assert f"{f}{says}" in capsys.readouterr().err
