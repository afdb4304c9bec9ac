"""`check-config --endpoint` against the repo's simulator server on a free port: which timestamps
the server sends, its clock against ours, its limits."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.runs.demo import SimOptions, plant_server
from monitor.simulator.plc import parse_profile
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def check_config(tmp: Path, profile: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    opts = SimOptions(
        data_dir=tmp,
        sim_config=ROOT / "config/simulator.toml",
        seeds=ROOT / "seeds",
        profile=parse_profile(profile),
    )
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}/blackmass"

    async def run() -> int:
        server = plant_server(opts, endpoint)
        await server.start()
        try:
            args = ["check-config", str(ROOT / "config/plant.toml"), "--endpoint", endpoint]
            return await asyncio.to_thread(main, args)
        finally:
            await server.stop()

    code = asyncio.run(run())
    return code, capsys.readouterr().out


def offset(out: str) -> float:
    found = re.search(r"CurrentTime minus ours ([+-][0-9.]+) s", out)
    assert found, out
    return float(found.group(1))


def test_timestamps_clock_offset_and_limits_are_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, honest = check_config(tmp_path / "a", "", capsys)
    assert code == 0
    assert "timestamps the server sends: both on 24 tags" in honest
    assert "server limits: monitored_items_per_call=10000, nodes_per_read=10000" in honest  # asyncua's defaults
    code, skewed = check_config(tmp_path / "b", "no-source-ts,clock-skew=7200", capsys)
    assert code == 0
    assert "timestamps the server sends: server on 24 tags" in skewed
    # the simulator's plant clock waits for its first client, so its offset is not 0: the skew is the difference
    assert offset(skewed) - offset(honest) == pytest.approx(7200.0, abs=5.0)
