"""The monitor's own failures reach /metrics (so the alert rules can see them), and /runbooks
serves one anchor per alert."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import tomllib
from pathlib import Path

import pytest
import yaml
from prometheus_client import generate_latest

from monitor.collectors.lims import inbox_once
from monitor.config import load_config, parse_config
from monitor.core.results import BatchResult, BatchState, StreamMass
from monitor.errors import ConfigError
from monitor.runs.app import Monitor, base_url
from monitor.serve.runbooks import find_runbooks, render
from tests.conftest import until

ROOT = Path(__file__).resolve().parents[1]
ALERTS = [
    r["alert"]
    for g in yaml.safe_load((ROOT / "config/prometheus/rules/blackmass-alerts.yml").read_text())["groups"]
    for r in g["rules"]
    if "alert" in r
]


def metric(text: str, name: str) -> float:
    m = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    assert m, f"{name} not on /metrics"
    return float(m.group(1))


NOW = 1.8e9  # the clock lots are stamped on


@pytest.fixture
def monitor(tmp_path: Path) -> Monitor:
    return Monitor(load_config(ROOT / "config/plant.toml"), tmp_path, seeds=ROOT / "seeds", clock=lambda: NOW)


def lot(n: int, assays: str) -> BatchResult:
    return BatchResult(
        line="L1",
        batch_id=f"L1-{n:05d}",
        start=NOW - 60 * 3600.0 + 1000.0 * n,
        end=NOW - 60 * 3600.0 + 1000.0 * n + 600,
        state=BatchState.COMPLETE,
        chemistry="NCMA",
        feed_form="cells",
        streams=(StreamMass("feed", 4000.0, "totalizer", 0, 0),),
        yields={},
        closure=1.0,
        assay_status=assays,
    )


def test_identity_disk_and_counters_start_at_zero(monitor: Monitor) -> None:
    text = generate_latest(monitor.registry).decode()
    assert 'blackmass_monitor_info{external_url="http://127.0.0.1:9464",line="L1",version="0.1.0"} 1.0' in text
    assert metric(text, 'blackmass_lims_files_total{line="L1",outcome="rejected"}') == 0
    assert metric(text, 'blackmass_checkpoint_write_failures_total{line="L1"}') == 0
    free = metric(text, 'blackmass_data_dir_free_bytes{line="L1"}')
    assert 0 < free <= metric(text, 'blackmass_data_dir_size_bytes{line="L1"}')
    assert metric(text, 'blackmass_assays_pending_age_seconds{line="L1"}') == 0


def test_rejected_and_imported_lims_files_are_counted(monitor: Monitor, tmp_path: Path) -> None:
    inbox = tmp_path / "lims"
    inbox.mkdir()
    header = "batch_id,stream,element,value_pct,status\n"
    (inbox / "a.csv").write_text(header + "L1-00001,black_mass,ni,29.7,final\n")
    (inbox / "b.csv").write_text(header + "L1-00001,black_mass,ni,29,7,final\n")  # a decimal comma
    (inbox / "c.csv").write_text("not,an,assay,file\n")
    inbox_once(inbox, monitor.upkeep.import_inbox_file)
    text = generate_latest(monitor.registry).decode()
    assert metric(text, 'blackmass_lims_files_total{line="L1",outcome="imported"}') == 1
    assert metric(text, 'blackmass_lims_files_total{line="L1",outcome="rejected"}') == 2
    assert len(list((inbox / "rejected").glob("*.reason.txt"))) == 2


async def test_a_failing_checkpoint_is_counted_and_accounting_goes_on(tmp_path: Path) -> None:
    # the interval is the monitor's from the start: set on it afterwards, the upkeep kept the 5 s default
    cfg = dataclasses.replace(load_config(ROOT / "config/plant.toml"), checkpoint_every_s=0.01)
    monitor = Monitor(cfg, tmp_path, seeds=ROOT / "seeds", clock=lambda: NOW)
    monitor.checkpoint_path.mkdir()  # a directory where the file should go: every write fails
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(monitor.checkpoint())
        async with asyncio.timeout(60):  # bounds a hang; the wait is on the counter
            await until(lambda: monitor.upkeep.checkpoint_failures >= 3 or task.done(), every_s=0.01)
        assert not task.done()  # the failure did not end the loop (nor, in run(), the TaskGroup)
        task.cancel()
    text = generate_latest(monitor.registry).decode()
    assert metric(text, 'blackmass_checkpoint_write_failures_total{line="L1"}') >= 3


def test_lots_waiting_for_final_assays(monitor: Monitor) -> None:
    for r in (lot(1, "none"), lot(2, "preliminary"), lot(3, "final")):
        monitor._note(r)
    monitor._note(dataclasses.replace(lot(2, "final"), version=2))
    monitor._snapshot = monitor._build_snapshot()
    text = generate_latest(monitor.registry).decode()
    assert metric(text, 'blackmass_assays_pending_batches{line="L1"}') == 1  # only lot 1 waits
    assert metric(text, 'blackmass_assays_pending_age_seconds{line="L1"}') == NOW - lot(1, "none").end
    monitor._note(dataclasses.replace(lot(1, "final"), version=2))
    monitor._snapshot = monitor._build_snapshot()
    text = generate_latest(monitor.registry).decode()
    assert metric(text, 'blackmass_assays_pending_batches{line="L1"}') == 0
    assert metric(text, 'blackmass_assays_pending_age_seconds{line="L1"}') == 0


def test_external_url_from_config_or_bound_address() -> None:
    text = (ROOT / "config/plant.toml").read_text()
    data = tomllib.loads(text)
    data["http"]["external_url"] = "https://l1-monitor.plant.example:9464/"
    assert parse_config(data, "plant.toml").http.external_url == "https://l1-monitor.plant.example:9464"
    data["http"]["external_url"] = "l1-monitor:9464"
    with pytest.raises(ConfigError, match=r"http\.external_url"):
        parse_config(data, "plant.toml")
    assert base_url("127.0.0.1", 9500, tls=False) == "http://127.0.0.1:9500"
    assert base_url("::1", 9500, tls=True) == "https://[::1]:9500"
    assert base_url("0.0.0.0", 9464, tls=False).startswith("http://") and "0.0.0.0" not in base_url(
        "0.0.0.0", 9464, tls=False
    )


def test_runbook_page_has_one_anchor_per_alert() -> None:
    source = find_runbooks()
    assert source is not None
    page = render(source.read_text(encoding="utf-8"))
    ids = re.findall(r'<h2 id="([^"]+)"', page)
    assert len(ALERTS) == 23
    assert sorted(ids) == sorted(a.lower() for a in ALERTS)  # every alert, and nothing else at that level


def test_render_escapes_and_links() -> None:
    page = render("## A <b>\nx `<y>` **z** [alerts](alerts.md)\n1. one\n   two\n2. three\n")
    assert '<h2 id="a-b">A &lt;b&gt;</h2>' in page
    assert '<code>&lt;y&gt;</code> <strong>z</strong> <a href="alerts.md">alerts</a>' in page
    assert "<ol><li>one two</li><li>three</li></ol>" in page
