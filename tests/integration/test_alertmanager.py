"""Pages reach people: our Alertmanager config checked and its routes tested with amtool, its
inhibition rules on a real Alertmanager, and the whole path on the accelerated demo — torn
sieve -> a real Prometheus (our rules) -> a real Alertmanager (our config, webhook pointed here)
-> one notification per group with an absolute runbook link that opens, resolved after the
sieve is repaired; then a collector outage pages and silences the line's yield alert.

Timings are shortened in test copies of the configs (scrape and rule evaluation every second,
`for` 2 s, group_wait 1 s); the routes, matchers, inhibition and annotations are the shipped ones.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.config import load_config
from monitor.runs.app import Monitor
from monitor.runs.demo import SimOptions, free_port, monitor_config, plant_server
from monitor.store.query import BatchQuery
from tests.conftest import require_tool

ROOT = Path(__file__).resolve().parents[2]
AM_CONFIG = ROOT / "config/prometheus/alertmanager.yml"
RULES = sorted((ROOT / "config/prometheus/rules").glob("*.yml"))
ALERTS = {
    r["alert"]: r["labels"]["severity"]
    for f in RULES
    for g in yaml.safe_load(f.read_text())["groups"]
    for r in g["rules"]
    if "alert" in r
}
RECEIVER = {"critical": "on-call", "warning": "shift-channel"}
pytestmark = pytest.mark.integration


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_tool("amtool", "prometheus-alertmanager"), *args], capture_output=True, text=True, check=False
    )


def test_shipped_config_passes_amtool_check_config() -> None:
    r = amtool("check-config", str(AM_CONFIG))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout and "2 inhibit rules" in r.stdout and "2 receivers" in r.stdout


def test_every_alert_routes_by_its_severity() -> None:
    assert len(ALERTS) == 23
    routed: dict[str, str] = {}
    for alert, severity in sorted(ALERTS.items()):
        want = RECEIVER[severity]
        r = amtool(
            "config",
            "routes",
            "test",
            f"--config.file={AM_CONFIG}",
            f"--verify.receivers={want}",
            f"alertname={alert}",
            f"severity={severity}",
            "line=L1",
        )
        assert r.returncode == 0, f"{alert} ({severity}) does not reach {want}: {r.stdout}{r.stderr}"
        routed[alert] = r.stdout.strip()
    assert sum(v == "on-call" for v in routed.values()) == 5  # monitor or collector down, O2 trip, dryer, bag
    assert sum(v == "shift-channel" for v in routed.values()) == 18
    # an alert without a known severity still reaches someone: the shift channel
    r = amtool("config", "routes", "test", f"--config.file={AM_CONFIG}", "alertname=Unknown", "line=L1")
    assert r.stdout.strip() == "shift-channel"


# --- real Alertmanager, real Prometheus ------------------------------------------------------


class Webhook:
    """Records every notification Alertmanager posts, with the path (= receiver) and arrival order."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hook.received.append((self.path.strip("/"), json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def group(self, alertname: str) -> list[dict[str, Any]]:
        return [n for _, n in list(self.received) if n["groupLabels"].get("alertname") == alertname]


def test_copy_of_am_config(d: Path, hook: Webhook) -> Path:
    """Our routes and inhibition, each receiver posting to the test's webhook, short timers."""
    am = yaml.safe_load(AM_CONFIG.read_text())
    for rec in am["receivers"]:
        for key in [k for k in rec if k.endswith("_configs")]:
            del rec[key]
        rec["webhook_configs"] = [{"url": f"http://127.0.0.1:{hook.port}/{rec['name']}", "send_resolved": True}]

    def shorten(route: dict[str, Any]) -> None:
        route.update({k: v for k, v in (("group_wait", "1s"), ("group_interval", "10s")) if k in route})
        if "repeat_interval" in route:
            route["repeat_interval"] = "1h"  # no repeats inside the test
        for sub in route.get("routes", []):
            shorten(sub)

    shorten(am["route"])
    path = d / "am.yml"
    path.write_text(yaml.safe_dump(am))
    return path


test_copy_of_am_config.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


def api(url: str, body: object | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        raw = r.read()
    return json.loads(raw) if raw else None


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.status == 200, url
        return str(r.read().decode("utf-8"))


def start(cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log.open("w"))


def alertmanager(d: Path, config: Path) -> tuple[subprocess.Popen[bytes], int]:
    binary = require_tool("prometheus-alertmanager", "prometheus-alertmanager")
    port = free_port()
    proc = start(
        [
            binary,
            f"--config.file={config}",
            f"--storage.path={d / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--cluster.listen-address=127.0.0.1:{free_port()}",
        ],
        d / "am.log",
    )
    wait_for(lambda: ready(f"http://127.0.0.1:{port}/-/ready"), 30, "Alertmanager ready")
    return proc, port


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def wait_for(cond: Callable[[], object], limit_s: float, what: str) -> None:
    """Poll until cond() holds; the limit only bounds a hang, it is not what the test measures."""
    deadline = time.monotonic() + limit_s
    while not cond():
        assert time.monotonic() < deadline, f"gave up waiting for: {what}"
        time.sleep(0.2)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_inhibition_rules_on_a_real_alertmanager(tmp_path: Path) -> None:
    hook = Webhook()
    proc, port = alertmanager(tmp_path, test_copy_of_am_config(tmp_path, hook))
    base = f"http://127.0.0.1:{port}/api/v2"
    try:

        def alert(name: str, **labels: str) -> dict[str, Any]:
            return {"labels": {"alertname": name, "severity": ALERTS[name], **labels}, "annotations": {}}

        api(
            f"{base}/alerts",
            [
                alert("CollectorDisconnected", line="L1", source="opcua"),
                alert("BlackMassYieldBelowFloor", line="L1", feed_form="packs"),
                alert("CollectorDataStale", line="L1", source="opcua"),
                alert("MetalRecoveryLow", line="L1", metal="ni"),
                alert("BlackmassMonitorDown", line="L2", instance="m2:9464", job="blackmass"),
                alert("BlackMassYieldBelowFloor", line="L2", feed_form="cells"),
                alert("BlackMassYieldBelowFloor", line="L3", feed_form="cells"),
                alert("ShredderOxygenCritical", line="L3"),
                alert("ShredderOxygenHigh", line="L3"),
                alert("ShredderOxygenHigh", line="L4"),
                alert("LimsFileRejected", line="L1", outcome="rejected"),
            ],
        )

        def states() -> dict[tuple[str, str], str]:
            return {
                (a["labels"]["alertname"], a["labels"]["line"]): a["status"]["state"] for a in api(f"{base}/alerts")
            }

        expected = [
            ("BlackMassYieldBelowFloor", "L1"),  # collector down on L1
            ("BlackMassYieldBelowFloor", "L2"),  # monitor down on L2
            ("CollectorDataStale", "L1"),
            ("MetalRecoveryLow", "L1"),
            ("ShredderOxygenHigh", "L3"),  # O2 critical on L3
        ]
        s: dict[tuple[str, str], str] = {}

        def settled() -> bool:
            """Alertmanager applies inhibitions after it takes the alerts in: wait for it, not for luck."""
            s.clear()
            s.update(states())
            return len(s) == 11 and sorted(k for k, v in s.items() if v == "suppressed") == expected

        try:
            wait_for(settled, 30, "11 alerts in Alertmanager, the inhibited ones suppressed")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last states: {s}") from None
        # another line's alerts, and failures that are not consequences of the outage, stay active
        assert s[("BlackMassYieldBelowFloor", "L3")] == "active"
        assert s[("ShredderOxygenHigh", "L4")] == "active"
        assert s[("LimsFileRejected", "L1")] == "active"
        assert s[("CollectorDisconnected", "L1")] == "active"
    finally:
        stop(proc)
        hook.server.shutdown()


def prometheus(d: Path, monitor_port: int, am_port: int) -> tuple[subprocess.Popen[bytes], int]:
    """Our rules with 1 s evaluation and `for` 2 s; everything else in them as shipped."""
    rules = []
    for f in RULES:
        doc = yaml.safe_load(f.read_text())
        for g in doc["groups"]:
            g["interval"] = "1s"
            for r in g["rules"]:
                if "for" in r:
                    r["for"] = "2s"
        copy = d / f.name
        copy.write_text(yaml.safe_dump(doc))
        rules.append(str(copy))
    cfg = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": rules,
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
        "scrape_configs": [{"job_name": "blackmass", "static_configs": [{"targets": [f"127.0.0.1:{monitor_port}"]}]}],
    }
    (d / "prom.yml").write_text(yaml.safe_dump(cfg))
    port = free_port()
    proc = start(
        [
            require_tool("prometheus", "prometheus"),
            f"--config.file={d / 'prom.yml'}",
            f"--storage.tsdb.path={d / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        d / "prom.log",
    )
    return proc, port


async def until(cond: Callable[[], object], limit_s: float, what: str) -> None:
    deadline = time.monotonic() + limit_s
    while not await asyncio.to_thread(cond):
        assert time.monotonic() < deadline, f"gave up waiting for: {what}"
        await asyncio.sleep(0.3)


@pytest.fixture(scope="module")
def delivery(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:  # noqa: PLR0915 - one end-to-end stack, started and torn down in order
    d = tmp_path_factory.mktemp("delivery")
    hook = Webhook()
    am, am_port = alertmanager(d, test_copy_of_am_config(d, hook))
    monitor_port = free_port()
    prom, prom_port = prometheus(d, monitor_port, am_port)
    am_api = f"http://127.0.0.1:{am_port}/api/v2"
    opts = SimOptions(
        data_dir=d / "demo",
        sim_config=ROOT / "config/simulator.toml",
        seeds=ROOT / "seeds",
        speed=1800,
        seed=21,
        noise=True,
        assay_delay_h=0,
        faults=frozenset({"yield-drop"}),
    )
    out: dict[str, Any] = {"hook": hook, "dir": d}

    def am_alerts(name: str) -> list[dict[str, Any]]:
        q = urllib.parse.urlencode({"filter": f'alertname="{name}"'})
        return list(api(f"{am_api}/alerts?{q}"))

    def yield_firing_in_prometheus() -> bool:
        q = urllib.parse.urlencode({"query": 'ALERTS{alertname="BlackMassYieldBelowFloor",alertstate="firing"}'})
        return bool(api(f"http://127.0.0.1:{prom_port}/api/v1/query?{q}")["data"]["result"])

    async def scenario() -> None:
        endpoint = f"opc.tcp://127.0.0.1:{free_port()}/blackmass"
        server = plant_server(opts, endpoint)
        # as run_demo does: the monitor's clock is the plant's, so ages and clock offsets are plant seconds
        cfg = monitor_config(load_config(ROOT / "config/plant.toml").with_endpoint(endpoint), opts.profile)
        monitor = Monitor(cfg, opts.data_dir, seeds=opts.seeds, clock=server.clock.now)
        await server.start()
        async with asyncio.TaskGroup() as tg:
            sim = tg.create_task(server.run(), name="simulator")
            mon = tg.create_task(monitor.run(port=monitor_port), name="monitor")
            try:
                # 1. the torn sieve (from the third lot on) pages the shift channel
                await until(lambda: hook.group("BlackMassYieldBelowFloor"), 100, "the yield notification")
                out["first"] = hook.group("BlackMassYieldBelowFloor")[0]
                out["store_yields"] = {
                    r.batch_id: (r.black_mass_yield, r.feed_form) for r in monitor.store.latest(BatchQuery.line("L1"))
                }
                out["external_url"] = monitor.external_url
                # 2. the sieve is replaced: the lots fed from now on yield normally, the alert resolves
                server.plant.faults = frozenset()
                await until(
                    lambda: any(n["status"] == "resolved" for n in hook.group("BlackMassYieldBelowFloor")),
                    100,
                    "the resolved notification",
                )
                out["after_repair"] = hook.group("BlackMassYieldBelowFloor")
                # 3. it tears again, and then the line's collector loses its server
                server.plant.faults = frozenset({"yield-drop"})
                await until(yield_firing_in_prometheus, 100, "the yield alert firing again")
                notified = len(out["after_repair"])
                await until(
                    lambda: len(hook.group("BlackMassYieldBelowFloor")) > notified, 30, "the yield notified again"
                )
                out["before_outage"] = len(hook.group("BlackMassYieldBelowFloor"))
                sim.cancel()
                await server.stop()
                await until(lambda: hook.group("CollectorDisconnected"), 60, "the collector page")
                out["page"] = [
                    p for p, n in hook.received if n["groupLabels"].get("alertname") == "CollectorDisconnected"
                ]
                out["yield_in_am"] = am_alerts("BlackMassYieldBelowFloor")
                out["after_outage"] = len(hook.group("BlackMassYieldBelowFloor"))
                names = api(f"http://127.0.0.1:{prom_port}/api/v1/label/__name__/values")["data"]
                out["exposed"] = set(names)
                # 4. every link a person got opens, on the monitor that is still serving
                links = {a["annotations"]["runbook_url"] for _, n in hook.received for a in n["alerts"]}
                out["pages"] = {u: await asyncio.to_thread(fetch, u.split("#")[0]) for u in sorted(links)}
                out["monitor_page"] = await asyncio.to_thread(fetch, monitor.external_url + "/runbooks")
            finally:
                mon.cancel()
                sim.cancel()

    try:
        out["t0"] = time.monotonic()
        asyncio.run(scenario())
        out["wall_s"] = time.monotonic() - out["t0"]
        print(
            f"delivery scenario: {out['wall_s']:.0f} s wall,",
            [(p, n["status"], n["groupLabels"].get("alertname"), len(n["alerts"])) for p, n in hook.received],
        )
        yield out
    finally:
        stop(prom)
        stop(am)
        hook.server.shutdown()


def test_torn_sieve_reaches_the_shift_channel_once_with_lot_and_link(delivery: dict[str, Any]) -> None:
    first = delivery["first"]
    path = next(p for p, n in delivery["hook"].received if n is first)
    assert path == "shift-channel" and first["status"] == "firing"
    assert first["groupLabels"] == {"alertname": "BlackMassYieldBelowFloor", "line": "L1"}
    [alert] = first["alerts"]
    lab, ann = alert["labels"], alert["annotations"]
    assert lab["line"] == "L1" and lab["severity"] == "warning" and lab["feed_form"]
    assert ann["description"]
    m = re.fullmatch(
        r"L1 lot (L1-\d{5}): black-mass yield ([\d.]+)% below the ([\d.]+)% floor for (\w+)", ann["summary"]
    )
    assert m, ann["summary"]
    lot, pct, floor, form = m.group(1), float(m.group(2)), float(m.group(3)), m.group(4)
    stored_yield, stored_form = delivery["store_yields"][lot]  # the lot named is a real one, below its floor
    assert form == stored_form == lab["feed_form"]
    assert pct == pytest.approx(100 * stored_yield, abs=0.01) and pct < floor
    assert ann["runbook_url"] == f"{delivery['external_url']}/runbooks#blackmassyieldbelowfloor"
    assert delivery["external_url"].startswith("http://127.0.0.1:")


def test_resolved_after_repair_and_no_duplicate_notification(delivery: dict[str, Any]) -> None:
    group = delivery["after_repair"]
    assert group[0]["status"] == "firing" and group[-1]["status"] == "resolved"
    assert [n["status"] for n in group].count("resolved") == 1
    # each notification says something new: never the same alerts in the same state twice
    states = [frozenset((a["fingerprint"], a["status"]) for a in n["alerts"]) for n in group]
    assert len(states) == len(set(states))
    assert all(a["status"] == "resolved" for a in group[-1]["alerts"])


def test_collector_outage_pages_and_silences_the_lines_yield_alert(delivery: dict[str, Any]) -> None:
    assert delivery["page"] and set(delivery["page"]) == {"on-call"}
    [inhibited] = [a for a in delivery["yield_in_am"] if a["labels"]["line"] == "L1"]
    assert inhibited["status"]["state"] == "suppressed" and len(inhibited["status"]["inhibitedBy"]) == 1
    assert delivery["after_outage"] == delivery["before_outage"]


def test_every_alerts_runbook_link_opens_at_its_anchor(delivery: dict[str, Any]) -> None:
    """Each notification's link, followed while the monitor ran, and each alert's anchor on its page."""
    pages: dict[str, str] = delivery["pages"]
    notified = {a["labels"]["alertname"] for _, n in delivery["hook"].received for a in n["alerts"]}
    assert {"BlackMassYieldBelowFloor", "CollectorDisconnected"} <= notified
    for link, page in pages.items():
        assert link.startswith(delivery["external_url"] + "/runbooks#"), link
        assert f'id="{link.split("#")[1]}"' in page, f"{link}: no such anchor on the page"
    page = delivery["monitor_page"]
    missing = [a for a in ALERTS if f'id="{a.lower()}"' not in page]
    assert missing == [] and len(ALERTS) == 23


def test_every_metric_the_alerts_read_is_scraped(delivery: dict[str, Any]) -> None:
    """A renamed metric would leave its alert silent for ever: every name in the rules' expressions
    and summaries exists in Prometheus after the demo ran."""
    used = set()
    for f in RULES:
        for g in yaml.safe_load(f.read_text())["groups"]:
            for r in g["rules"]:
                if "alert" in r:
                    text = r["expr"] + " ".join(r["annotations"].values())
                    used |= set(re.findall(r"\b(blackmass_[a-z0-9_]+|up)\b", text))
    assert len(used) == 31
    # the baseline exists once 3 earlier lots of a chemistry and form are in, more than this short
    # run completes; tests/test_exposition.py checks its name
    later = {"blackmass_yield_baseline_ratio"}
    assert sorted(used - delivery["exposed"] - later) == []
