"""A real Prometheus (Debian's package) scrapes an accelerated demo with a torn sieve: the yield
alert fires, the recording rules evaluate, and every committed dashboard query returns data.

Prometheus loads test copies of our rules that differ only in their groups' evaluation interval
(1 s instead of 15 s and 1 min: the demo's plant hours pass in wall seconds); expressions, `for`
and labels are the shipped ones, which promtool checks and tests as committed."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from monitor.runs.demo import SimOptions, run_demo
from tests.conftest import free_port, require_tool

ROOT = Path(__file__).resolve().parents[2]
RULES = sorted((ROOT / "config/prometheus/rules").glob("*.yml"))
pytestmark = pytest.mark.integration
HANG_S = 200.0  # the demo ends once the alerts fire and the dashboards have data; this bounds a hang


def query(port: int, expr: str) -> list[dict]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as r:
        body = json.load(r)
    assert body["status"] == "success", body
    return body["data"]["result"]


def dashboard_queries() -> list[tuple[str, str, str]]:
    out = []
    for f in sorted((ROOT / "grafana/dashboards").glob("*.json")):
        board = json.loads(f.read_text())
        for panel in board["panels"]:
            for t in panel.get("targets", []):
                out.append((f.name, panel["title"], t["expr"]))
        for a in board.get("annotations", {}).get("list", []):  # lot starts (linking the web pages)
            out.append((f.name, f"annotation {a['name']}", a["expr"]))
    return out


def rules_every_second(d: Path) -> list[Path]:
    """Copies of the shipped rule files, each group evaluated every second."""
    copies = []
    for f in RULES:
        doc = yaml.safe_load(f.read_text())
        for g in doc["groups"]:
            g["interval"] = "1s"
        copies.append(d / f.name)
        copies[-1].write_text(yaml.safe_dump(doc))
    return copies


def as_grafana_would(expr: str) -> str:
    """What Grafana sends with every template variable on All (=~".*")."""
    expr = expr.replace("$__rate_interval", "1m").replace("$__interval", "15s")
    return re.sub(r"\$\{?\w+\}?", ".*", expr)


@pytest.fixture(scope="module")
def prometheus_on_demo(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    binary = require_tool("prometheus", "prometheus")
    d = tmp_path_factory.mktemp("prom")
    port, prom_port = free_port(), free_port()
    rules = "\n".join(f"  - {r}" for r in rules_every_second(d))
    (d / "prom.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files:\n{rules}\n"
        f"scrape_configs:\n  - job_name: blackmass\n    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
    )
    prom = subprocess.Popen(
        [
            binary,
            f"--config.file={d / 'prom.yml'}",
            f"--storage.tsdb.path={d / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(d / "prom.log").open("w"),
    )
    opts = SimOptions(
        data_dir=d / "demo",
        sim_config=ROOT / "config/simulator.toml",
        seeds=ROOT / "seeds",
        speed=3600,
        seed=21,
        noise=True,
        assay_delay_h=0,
        faults=frozenset({"yield-drop"}),
    )

    async def demo_and_look() -> dict[str, object]:
        stop = asyncio.Event()

        def snapshot() -> dict[str, object]:
            firing = {a["metric"]["alertname"] for a in query(prom_port, 'ALERTS{alertstate="firing"}')}
            empty = [(f, title, e) for f, title, e in dashboard_queries() if not query(prom_port, as_grafana_would(e))]
            return {
                "firing": firing,
                "empty": empty,
                "rolling": query(prom_port, "line:blackmass_black_mass_yield:ratio_increase24h"),
            }

        def complete(seen: dict[str, object]) -> bool:
            firing, empty = seen["firing"], seen["empty"]
            assert isinstance(firing, set) and isinstance(empty, list)
            return {"BlackMassYieldBelowFloor", "MetalRecoveryLow"} <= firing and not empty and bool(seen["rolling"])

        async def watch() -> dict[str, object]:
            """Ask every 2 s until the alerts fire and every dashboard has data, or the demo ends (then
            the tests fail on its last answer); then the demo stops."""
            try:
                while True:
                    await asyncio.sleep(2)
                    try:
                        seen = await asyncio.to_thread(snapshot)
                    except OSError:
                        continue  # Prometheus not serving yet
                    if complete(seen) or demo.done():
                        return seen
            finally:
                stop.set()

        async with asyncio.TaskGroup() as tg:
            demo = tg.create_task(
                run_demo(opts, config=ROOT / "config/plant.toml", port=port, duration=HANG_S, stop=stop)
            )
            looked = tg.create_task(watch())
        return looked.result()

    try:
        yield asyncio.run(demo_and_look())
    finally:
        prom.terminate()
        prom.wait(timeout=20)


def test_yield_alert_fires_on_a_torn_sieve(prometheus_on_demo: dict[str, object]) -> None:
    firing = prometheus_on_demo["firing"]
    assert "BlackMassYieldBelowFloor" in firing, firing  # type: ignore[operator]
    assert "MetalRecoveryLow" in firing, firing  # type: ignore[operator]
    assert not {"ShredderOxygenHigh", "CollectorDisconnected"} & firing  # type: ignore[operator]


def test_every_dashboard_query_returns_data(prometheus_on_demo: dict[str, object]) -> None:
    assert len(dashboard_queries()) >= 12
    assert prometheus_on_demo["empty"] == []


def test_recording_rules_evaluate(prometheus_on_demo: dict[str, object]) -> None:
    rolling = prometheus_on_demo["rolling"]
    assert rolling, "line:blackmass_black_mass_yield:ratio_increase24h has no value"
    value = float(rolling[0]["value"][1])  # type: ignore[index]
    assert 0.15 < value < 0.7


def test_promtool_config_rules_and_rule_tests() -> None:
    promtool = require_tool("promtool", "prometheus")
    cfg = subprocess.run(
        [promtool, "check", "config", str(ROOT / "config/prometheus/prometheus.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert cfg.returncode == 0, cfg.stdout + cfg.stderr
    rules = subprocess.run([promtool, "check", "rules", *map(str, RULES)], capture_output=True, text=True, check=False)
    assert rules.returncode == 0, rules.stdout + rules.stderr
    tests = ROOT / "config/prometheus/tests"
    for t in sorted(tests.glob("*.yml")):
        r = subprocess.run([promtool, "test", "rules", t.name], cwd=tests, capture_output=True, text=True, check=False)
        assert r.returncode == 0 and "SUCCESS" in r.stdout, r.stdout + r.stderr


def test_every_alert_is_annotated_and_tested() -> None:
    alerts = [
        rule for f in RULES for g in yaml.safe_load(f.read_text())["groups"] for rule in g["rules"] if "alert" in rule
    ]
    tested = "\n".join(t.read_text() for t in (ROOT / "config/prometheus/tests").glob("*.yml"))
    runbooks = (ROOT / "docs/runbooks.md").read_text().lower()
    assert len(alerts) == 23
    for a in alerts:
        assert a["labels"]["severity"] in ("warning", "critical")
        assert {"summary", "description", "runbook_url"} <= set(a["annotations"])
        # absolute: the external label runbooks_url, else the monitor's [http] external_url + /runbooks
        link = a["annotations"]["runbook_url"]
        assert link.startswith("{{ with $externalLabels.runbooks_url }}{{ . }}{{ else }}"), link
        assert link.endswith(
            f'{{{{ . | first | label "external_url" }}}}{{{{ end }}}}/runbooks{{{{ end }}}}#{a["alert"].lower()}'
        )
        assert f"## {a['alert'].lower()}\n" in runbooks, f"no runbook section for {a['alert']}"
        assert re.search(rf"alertname:\s*{a['alert']}\b", tested), f"{a['alert']} has no rule test"
        assert re.search(rf"alertname:\s*{a['alert']}\s*\n\s*exp_alerts:\s*\[\]", tested), (
            f"{a['alert']}: no not-firing case"
        )
        assert re.search(rf"alertname:\s*{a['alert']}\s*\n\s*exp_alerts:\s*\n\s*- exp_labels", tested), (
            f"{a['alert']}: no firing case"
        )


def test_committed_dashboards_are_what_the_generator_makes() -> None:
    r = subprocess.run(
        [sys.executable, str(ROOT / "grafana/generate.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    for f in (ROOT / "grafana/import").glob("*.json"):  # for an existing Grafana: a datasource picker on import
        d = json.loads(f.read_text())
        assert [i["name"] for i in d["__inputs"]] == ["DS_PROMETHEUS"] and d["__inputs"][0]["type"] == "datasource"
        assert "blackmass-prometheus" not in f.read_text() and "${DS_PROMETHEUS}" in f.read_text()
    assert len(list((ROOT / "grafana/import").glob("*.json"))) == len(
        list((ROOT / "grafana/dashboards").glob("*.json"))
    )
    ds = (ROOT / "grafana/provisioning/datasources/prometheus.yml").read_text()
    assert "uid: blackmass-prometheus" in ds
    for f in (ROOT / "grafana/dashboards").glob("*.json"):
        d = json.loads(f.read_text())
        for v in d["templating"]["list"]:
            assert v["datasource"]["uid"] == "blackmass-prometheus"
        for p in d["panels"]:
            assert p["datasource"]["uid"] == "blackmass-prometheus"
            for t in p["targets"]:
                for var in re.findall(r'(\w+)=~?"\$(\w+)"', t["expr"]):
                    assert f'{var[0]}=~"${var[1]}"' in t["expr"], t["expr"]  # variables use =~
