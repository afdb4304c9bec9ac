"""The whole path, in-process on free ports: simulator → OPC-UA → core → store → /metrics → CSV.

Runs the demo as `blackmass demo --speed 3000 --no-noise --assay-delay 0` does, until three lots are
stored with their final assays, and compares with the simulator's ground truth.
"""

from __future__ import annotations

import asyncio
import csv
import subprocess
from pathlib import Path

import aiohttp
import pytest

from monitor.cli import main
from monitor.core.results import BatchResult
from monitor.runs.demo import SimOptions, run_demo
from tests.conftest import free_port, truth_lots, until

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


HANG_S = 150.0  # the demo ends when what the tests look at has happened; this only bounds a hang
WANTED = (  # in one scrape: a batch done, the next one in progress, the collector connected
    'blackmass_batch_yield_ratio{line="L1",stream="black_mass"}',
    "blackmass_batch_in_progress_mass_grams{",
    'blackmass_collector_connected{line="L1",source="opcua"} 1.0',
)


async def scrape(port: int) -> str:
    """/metrics as soon as it shows WANTED (asked every 0.5 s)."""
    async with asyncio.timeout(HANG_S), aiohttp.ClientSession() as http:
        while True:
            await asyncio.sleep(0.5)
            try:
                async with http.get(f"http://127.0.0.1:{port}/metrics") as r:
                    assert r.status == 200
                    text = await r.text()
            except aiohttp.ClientError:
                continue  # not serving yet
            if all(w in text for w in WANTED):
                return text


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, int]:
    """The demo until three lots are stored with their final assays and /metrics was read mid-run."""
    data = tmp_path_factory.mktemp("demo")
    port = free_port()
    opts = SimOptions(
        data_dir=data,
        sim_config=ROOT / "config/simulator.toml",
        seeds=ROOT / "seeds",
        speed=3000,
        seed=7,
        noise=False,
        assay_delay_h=0,
    )
    stop = asyncio.Event()
    states: dict[str, str] = {}  # batch id -> its latest stored state
    scraped: list[str] = []

    def ready() -> bool:
        """Metrics read; three lots or more stored, every one assayed and in the ground truth."""
        lots = len(states)
        return bool(scraped) and lots >= 3 and all(s == "assayed" for s in states.values()) and truth_lots(data) >= lots

    def on_batch(r: BatchResult) -> None:
        states[r.batch_id] = r.state.value

    async def metrics() -> None:
        scraped.append(await scrape(port))

    async def both() -> int:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(metrics())
            mon = tg.create_task(
                run_demo(
                    opts, config=ROOT / "config/plant.toml", port=port, duration=HANG_S, on_batch=on_batch, stop=stop
                )
            )
            await until(lambda: ready() or mon.done())
            stop.set()
        return mon.result().completed

    completed = asyncio.run(both())
    return data, scraped[0], completed


def test_demo_batches_equal_ground_truth(demo_run: tuple[Path, str, int], capsys: pytest.CaptureFixture[str]) -> None:
    data, _, completed = demo_run
    assert main(["report", "--data-dir", str(data), "--format", "csv", "--out", str(data / "report.csv")]) == 0
    truth = {r["batch_id"]: r for r in csv.DictReader((data / "ground_truth.csv").open())}
    report = {r["batch_id"]: r for r in csv.DictReader((data / "report.csv").open())}
    both = sorted(set(truth) & set(report))
    assert completed >= 3 and len(both) >= 3, (completed, both)
    worst = 0.0
    for b in both:
        t, r = truth[b], report[b]
        for col in (
            "feed_kg",
            "black_mass_kg",
            "ferrous_kg",
            "aluminium_kg",
            "copper_kg",
            "light_fraction_kg",
            "condensate_kg",
            "fines_kg",
            "loss_kg",
        ):
            worst = max(worst, max(0.0, abs(float(r[col]) - float(t[col])) - 0.05) / max(float(t[col]), 1.0))
        true_yield = float(t["black_mass_kg"]) / float(t["feed_kg"])
        worst = max(worst, abs(float(r["black_mass_yield"]) - true_yield) / true_yield)
        assert r["chemistry"] == t["chemistry"] and r["feed_form"] == t["feed_form"]
        assert r["state"] == "assayed" and r["assay_status"] == "final" and r["flags"] == ""
    assert worst <= 0.002, worst


def test_noise_free_recoveries_equal_ground_truth(demo_run: tuple[Path, str, int]) -> None:
    """Assays at batch end (--assay-delay 0): every recovery into black mass within 0.2 % of truth."""
    data, _, _ = demo_run
    assert main(["report", "--data-dir", str(data), "--format", "csv", "--out", str(data / "report2.csv")]) == 0
    truth = {r["batch_id"]: r for r in csv.DictReader((data / "ground_truth.csv").open())}
    compared, worst = 0, 0.0
    for r in csv.DictReader((data / "report2.csv").open()):
        t = truth.get(r["batch_id"])
        if t is None:
            continue
        for el in ("ni", "co", "mn", "li", "cu", "al", "fe"):
            fed = float(t[f"feed_{el}_kg"])
            if fed <= 0:
                assert r[f"recovery_{el}"] == ""  # nothing fed: unknown, not 0
                continue
            true_r = float(t[f"black_mass_{el}_kg"]) / fed
            # the CSV states ratios to 4 decimals: half a unit of the last digit is not an error
            err = max(0.0, abs(float(r[f"recovery_{el}"]) - true_r) - 0.5e-4)
            worst = max(worst, err / max(true_r, 1e-3))
            compared += 1
        assert float(r["balance_p_value"]) > 0.01 and r["suspect"] == ""
    assert compared >= 15 and worst <= 0.002, (compared, worst)


def test_metrics_during_the_demo(demo_run: tuple[Path, str, int], promtool: str) -> None:
    _, text, _ = demo_run
    series = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
    for name in (
        "blackmass_batch_yield_ratio",
        "blackmass_stream_mass_grams_total",
        "blackmass_batches_completed_total",
        "blackmass_batch_in_progress_mass_grams",
        "blackmass_batch_info",
        "blackmass_shredder_oxygen_ratio",
        "blackmass_collector_connected",
        "blackmass_collector_samples_total",
        "blackmass_collector_last_sample_age_seconds",
    ):
        assert name in series, name
    bm_yield = next(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith('blackmass_batch_yield_ratio{line="L1",stream="black_mass"}')
    )
    assert 0.2 < bm_yield < 0.9
    assert 'blackmass_collector_connected{line="L1",source="opcua"} 1.0' in text
    check = subprocess.run([promtool, "check", "metrics"], check=False, input=text, capture_output=True, text=True)
    assert check.returncode == 0 and check.stdout.strip() == "" and check.stderr.strip() == "", check
