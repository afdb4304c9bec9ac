"""Two real Prometheus servers, as a plant runs them: a line Prometheus scrapes two line monitors, the
plant Prometheus federates it with the shipped config (plant/prometheus.yml) and evaluates the shipped
plant rules. The site yield and recovery are the mass-weighted ones, not the mean of the lines."""

from __future__ import annotations

import re
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from tests.conftest import free_port, require_tool
from tests.integration.test_prometheus import query

ROOT = Path(__file__).resolve().parents[2]
PROM = ROOT / "config/prometheus"
pytestmark = pytest.mark.integration

# grams each line's counters show once its "batches" complete: (feed, black mass, Ni in feed, Ni in black mass)
LINES = {"L1": (1000.0, 600.0, 100.0, 90.0), "L2": (3000.0, 1200.0, 300.0, 240.0)}


class LineMonitor:
    """A line monitor's /metrics: the mass counters at 0 until `complete` is set, then at their totals."""

    def __init__(self, line: str, complete: threading.Event) -> None:
        feed, bm, ni_feed, ni_bm = LINES[line]

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                k = 1.0 if complete.is_set() else 0.0
                body = (
                    "# TYPE blackmass_stream_mass_grams_total counter\n"
                    f'blackmass_stream_mass_grams_total{{line="{line}",stream="feed"}} {feed * k}\n'
                    f'blackmass_stream_mass_grams_total{{line="{line}",stream="black_mass"}} {bm * k}\n'
                    "# TYPE blackmass_metal_mass_grams_total counter\n"
                    f'blackmass_metal_mass_grams_total{{line="{line}",metal="ni",stream="feed"}} {ni_feed * k}\n'
                    f'blackmass_metal_mass_grams_total{{line="{line}",metal="ni",stream="black_mass"}} {ni_bm * k}\n'
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def fast_rules(src: Path, dest: Path) -> Path:
    """The shipped rule file, evaluated every second instead of every minute."""
    rules = yaml.safe_load(src.read_text())
    for g in rules["groups"]:
        g["interval"] = "1s"
    dest.write_text(yaml.safe_dump(rules))
    return dest


def start(binary: str, d: Path, config: dict, port: int) -> subprocess.Popen[bytes]:
    d.mkdir()
    (d / "prometheus.yml").write_text(yaml.safe_dump(config))
    return subprocess.Popen(
        [
            binary,
            f"--config.file={d / 'prometheus.yml'}",
            f"--storage.tsdb.path={d / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(d / "prometheus.log").open("w"),
    )


def wait_for(port: int, expr: str, ok, timeout: float = 60.0) -> list[dict]:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    last: list[dict] = []
    while time.monotonic() < deadline:
        try:
            last = query(port, expr)
            if ok(last):
                return last
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{expr} on :{port}: still {last} after {timeout:.0f} s")


def rule_evaluations(port: int) -> float:
    """The fewest evaluations of any rule group so far, from the Prometheus server's own /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    counts = re.findall(r"^prometheus_rule_group_iterations_total\{[^}]*\} (\S+)$", text, re.MULTILINE)
    assert counts, "no rule group evaluated (is rule_files set?)"
    return min(float(c) for c in counts)


@pytest.fixture(scope="module")
def plant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, threading.Event]]:
    binary = require_tool("prometheus", "prometheus")
    d = tmp_path_factory.mktemp("federation")
    complete = threading.Event()
    monitors = [LineMonitor(line, complete) for line in LINES]
    line_port, plant_port = free_port(), free_port()
    line_cfg = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "external_labels": {"site": "plant-a"}},
        "rule_files": [str(fast_rules(PROM / "rules/blackmass-recording.yml", d / "line-rules.yml"))],
        "scrape_configs": [
            {"job_name": "blackmass", "static_configs": [{"targets": [f"127.0.0.1:{m.port}" for m in monitors]}]}
        ],
    }
    shipped = yaml.safe_load((PROM / "plant/prometheus.yml").read_text())
    plant_cfg = dict(shipped)
    plant_cfg["global"] = {**shipped["global"], "scrape_interval": "1s", "evaluation_interval": "1s"}
    plant_cfg["rule_files"] = [str(fast_rules(PROM / "rules/blackmass-plant.yml", d / "plant-rules.yml"))]
    job = dict(shipped["scrape_configs"][0])
    job["static_configs"] = [{"targets": [f"127.0.0.1:{line_port}"]}]
    plant_cfg["scrape_configs"] = [job]
    procs = [start(binary, d / "line", line_cfg, line_port), start(binary, d / "plant", plant_cfg, plant_port)]
    try:
        # the plant holds both lines' counters at zero before the batches complete (as after a restart)
        # (two zero samples of every series: the increase starts from them)
        wait_for(plant_port, "count_over_time(blackmass_stream_mass_grams_total[10m]) >= 2", lambda r: len(r) == 4)
        complete.set()
        wait_for(plant_port, "blackmass_stream_mass_grams_total > 0", lambda r: len(r) == 4)
        # a few rule evaluations after every line's batches have arrived
        evaluated = rule_evaluations(plant_port)
        wait_for(plant_port, "vector(1)", lambda _: rule_evaluations(plant_port) >= evaluated + 3)
        yield plant_port, complete
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=20)
        for m in monitors:
            m.server.shutdown()


def test_plant_rules_weigh_lines_by_their_grams(plant: tuple[int, threading.Event]) -> None:
    port, _ = plant
    site = wait_for(port, "site:blackmass_black_mass_yield:ratio_increase24h", lambda r: len(r) == 1)
    assert site[0]["metric"]["site"] == "plant-a"
    # (600 + 1200) / (1000 + 3000) = 0.45; the mean of the lines would be 0.5. Lines scraped a moment
    # apart extrapolate their increases a little differently, hence the tolerance.
    assert float(site[0]["value"][1]) == pytest.approx(0.45, abs=0.01)
    week = query(port, "site:blackmass_black_mass_yield:ratio_increase7d")
    assert float(week[0]["value"][1]) == pytest.approx(0.45, abs=0.01)
    ni = wait_for(port, 'site_metal:blackmass_recovery:ratio_increase24h{metal="ni"}', lambda r: len(r) == 1)
    assert float(ni[0]["value"][1]) == pytest.approx(330 / 400, abs=0.01)
    lines = wait_for(port, "site:blackmass_lines_reporting:count", lambda r: len(r) == 1)
    assert lines[0]["value"][1] == "2"


def test_line_rules_arrive_federated_with_their_labels(plant: tuple[int, threading.Event]) -> None:
    port, _ = plant
    got = wait_for(port, "line:blackmass_black_mass_yield:ratio_increase24h", lambda r: len(r) == 2)
    by_line = {r["metric"]["line"]: float(r["value"][1]) for r in got}
    assert by_line == pytest.approx({"L1": 0.6, "L2": 0.4}, abs=1e-9)  # one target each: exact
    assert {r["metric"]["site"] for r in got} == {"plant-a"}


def test_shipped_plant_configs_are_valid() -> None:
    promtool = require_tool("promtool", "prometheus")
    for f in ("plant/prometheus.yml", "plant/remote-write.yml"):
        r = subprocess.run([promtool, "check", "config", str(PROM / f)], capture_output=True, text=True, check=False)
        assert r.returncode == 0, r.stdout + r.stderr
