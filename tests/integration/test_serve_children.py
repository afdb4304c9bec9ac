"""Issue 19: a stopped `blackmass serve` leaves no process behind. A real serve on a free port renders
a PDF (so its PDF worker, the multiprocessing forkserver and the resource tracker exist), is sent
SIGTERM or SIGINT, and every process it started, children and grandchildren, must end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.plant_harness import ROOT, run_plant

pytestmark = pytest.mark.integration
DEADLINE_S = 60.0  # a busy machine's worst; the loops below end as soon as the condition holds


@pytest.fixture(scope="module")
def plant_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("children")
    store, truth = run_plant(d, seed=33, steps=600, noise=False, delay_h=1000)
    store.close()
    assert len(truth) >= 2
    return d


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process now (from /proc)."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # ended while we looked
            continue
        out[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])  # after "(comm)": state, ppid
    return out


def _descendants(pid: int) -> set[int]:
    parents, found, todo = _parents(), set(), [pid]
    while todo:
        p = todo.pop()
        kids = {c for c, pp in parents.items() if pp == p} - found
        found |= kids
        todo.extend(kids)
    return found


def _alive(pid: int) -> bool:
    """Running (a zombie has ended: only its parent has not collected it yet)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=120) as r:
        assert r.status == 200
        return bytes(r.read())


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stopped_serve_leaves_no_process_behind(plant_dir: Path, sig: signal.Signals) -> None:
    port = free_port()
    cmd = [sys.executable, "-m", "monitor", "serve", "--data-dir", str(plant_dir), "--port", str(port)]
    cmd += ["--config", str(ROOT / "config/plant.toml"), "--seeds", str(ROOT / "seeds")]
    env = {k: v for k, v in os.environ.items() if k != "BLACKMASS_API_TOKEN"}
    with (plant_dir / f"serve-{sig.name}.log").open("wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
    base, started = f"http://127.0.0.1:{port}", set[int]()
    try:
        end = time.monotonic() + DEADLINE_S
        while proc.poll() is None and time.monotonic() < end:
            try:
                _get(f"{base}/healthz")
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)  # nothing to wait on but the port
        assert proc.poll() is None, f"serve exited with {proc.returncode}"
        assert _get(f"{base}/api/reports/batches.pdf").startswith(b"%PDF")
        started = _descendants(proc.pid)
        assert len(started) >= 3, f"expected the PDF worker, forkserver and resource tracker, found {started}"
        proc.send_signal(sig)  # to serve alone, as systemd's or a shell's kill does
        assert proc.wait(timeout=DEADLINE_S) in (0, -sig, 128 + sig)
        end = time.monotonic() + DEADLINE_S
        while (left := {p for p in started if _alive(p)}) and time.monotonic() < end:
            time.sleep(0.1)  # orphans end on their own or never: there is no event to wait on
        assert not left, f"{len(left)} of serve's {len(started)} processes still run after {sig.name}: {sorted(left)}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for p in started:  # what a failed run left is not left to the next test
            if _alive(p):
                os.kill(p, signal.SIGKILL)
