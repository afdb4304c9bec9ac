"""Grafana joins the web pages: lot starts drawn as annotations whose tooltips link each lot's page,
and a table of the last lot linking it, both through [http] external_url (blackmass_monitor_info)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_tool

ROOT = Path(__file__).resolve().parents[1]
LINE_DASHBOARDS = ("blackmass-overview", "blackmass-yield", "blackmass-process")


def dashboard(uid: str) -> dict[str, object]:
    return json.loads((ROOT / f"grafana/dashboards/{uid}.json").read_text())


@pytest.mark.parametrize("uid", LINE_DASHBOARDS)
def test_line_dashboards_draw_each_lot_start_linking_its_page(uid: str) -> None:
    (starts,) = dashboard(uid)["annotations"]["list"]  # type: ignore[index]
    assert starts["useValueForTime"] is True and starts["expr"].endswith("* 1000")  # the start, in ms
    assert '<a href="{{external_url}}/lots/{{line}}/{{batch_id}}">' in starts["textFormat"]
    assert "{{batch_id}}" in starts["titleFormat"]
    assert 'line=~"$line"' in starts["expr"]


def test_the_last_lot_table_links_the_lot_page() -> None:
    (lots,) = [p for p in dashboard("blackmass-yield")["panels"] if p["type"] == "table"]  # type: ignore[union-attr]
    (link,) = lots["fieldConfig"]["defaults"]["links"]
    assert link["url"] == "${__data.fields.external_url}/lots/${__data.fields.line}/${__data.fields.batch_id}"
    assert lots["targets"][0]["format"] == "table" and "external_url" in lots["targets"][0]["expr"]


def test_the_lot_queries_are_valid_promql(tmp_path: Path) -> None:
    promtool = require_tool("promtool", "prometheus")
    exprs = [dashboard(u)["annotations"]["list"][0]["expr"] for u in LINE_DASHBOARDS]  # type: ignore[index]
    exprs += [p["targets"][0]["expr"] for p in dashboard("blackmass-yield")["panels"] if p["type"] == "table"]  # type: ignore[union-attr,index]
    rules = "groups:\n  - name: lots\n    rules:\n" + "".join(
        f"      - record: lots:check{i}\n        expr: {json.dumps(e.replace('$line', '.*'))}\n"
        for i, e in enumerate(exprs)
    )
    (tmp_path / "r.yml").write_text(rules)
    cmd = [promtool, "check", "rules", str(tmp_path / "r.yml")]
    out = subprocess.run(cmd, check=False, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
