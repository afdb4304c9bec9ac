"""Issue 11, point 9 and issue 18: the same lots served by asyncua and by node-opcua give the same batches.

Three lots of a compressed plant (tests/second_stack/simulator.toml: 1 plant s per step, lots of
7-15 s) are exported with their ground truth and replayed in real time, report-by-exception, by
independent servers at once: tests/second_stack/replay_server.py (asyncua) and
tests/second_stack/replay-server.js (node-opcua at its newest release, installed by `make test`
through scripts/ensure-tools.sh) three times, each setting values the way an application on
node-opcua does with its defaults (issue 18): setValueFromSource with the PLC's time (node-opcua
copies it into ServerTimestamp), setValueFromSource with no time (node-opcua stamps its own clock,
with picoseconds), and with the PLC's time 2 h behind while the server's clock is honest. After the
last lot the line goes quiet: only the servers' clocks run on, so the last lot must close on
server time.

One monitor (`blackmass run`, a subprocess) per server. Each must store every lot of the truth,
complete, with the same ids, feed and black mass within 0.2 % of truth and starting within
START_TOL_S of truth on our clock; the asyncua and node-opcua stores must agree.
"""

from __future__ import annotations

import asyncio
import csv
import json
import math
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
from asyncua import ua

from monitor.cli import main
from monitor.collectors.wire_fix import client as new_client
from monitor.store.batches import BatchStore
from tests.conftest import free_port, require_tool
from tests.second_stack.history import Script, make_script

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "tests/second_stack"
SIM_CONFIG = HERE / "simulator.toml"
PLANT_CONFIG = HERE / "plant.toml"
pytestmark = pytest.mark.integration

LOTS = 3
SEED = 17  # three lots of different chemistry, feed form and mass, all played within 44 s
STARTUP_S = 30.0  # servers ready and monitors subscribed (node-opcua makes its certificate first)
# After the last change the last lot must close within its longest delay + settle_s + two publishing
# intervals of server time (issue 11, point 1); the quiet tail already covers the delay (the script
# ends when the lot's last product leaves), so this is that bound plus room for a loaded CI machine.
QUIET_BOUND_S = 15.0
FEED_TOL, STACK_TOL = 0.002, 0.001
START_TOL_S = 3.0  # a few plant steps (1 s each) on our clock
SKEW_S = -7200.0  # the node-opcua-skewed PLC clock
# the servers: (command after the interpreter's script, and node-opcua's way of setting values)
NODE_MODES = {
    "node-opcua": [],  # setValueFromSource(v, status, plcTime): ServerTimestamp = that time
    "node-opcua-no-ts": ["--timestamps", "none"],  # setValueFromSource(v, status): node-opcua's clock
    "node-opcua-skewed": ["--source-skew", f"{SKEW_S:g}"],  # the PLC's clock 2 h behind, server honest
}
STACKS = ("asyncua", *NODE_MODES)
MAX_DELAY_S = max(tomllib.loads(SIM_CONFIG.read_text())["simulator"]["delays_s"].values())
COMPARED = ("feed_kg", "black_mass_kg", "black_mass_yield")
STREAMS = ("ferrous_kg", "aluminium_kg", "copper_kg", "light_fraction_kg", "condensate_kg", "fines_kg")


def require_node_opcua() -> str:
    """node, with the locked node-opcua installed; in CI (CI=true) anything missing fails the test."""
    node = require_tool("node", "nodejs")
    installed = HERE / "node_modules/node-opcua-server/package.json"
    wanted = json.loads((HERE / "package.json").read_text())["dependencies"]["node-opcua-server"]
    have = json.loads(installed.read_text())["version"] if installed.exists() else None
    if have != wanted:
        msg = (
            f"node-opcua-server {wanted} is not installed in {HERE / 'node_modules'} (found {have}): run "
            f"scripts/ensure-tools.sh (`make test` does) or `npm ci --prefix {HERE}`"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return node


@dataclass
class Proc:
    """A child process whose stdout lines are collected by a thread (READY/DONE handshakes)."""

    name: str
    popen: subprocess.Popen[str]
    log: Path
    lines: queue.Queue[str] = field(default_factory=queue.Queue)
    seen: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, prefix: str, timeout: float) -> str:
        """The rest of the first stdout line starting with `prefix`; fails with the log on timeout."""
        deadline = time.monotonic() + timeout
        while (found := self.poll(prefix, 0.2)) is None:
            if time.monotonic() > deadline:
                pytest.fail(f"{self.name}: no {prefix!r} line within {timeout:.0f} s:\n{self.tail()}")
        return found

    def poll(self, prefix: str, block_s: float = 0.0) -> str | None:
        """Like wait_for, but None when no such line came within block_s; fails if the process died."""
        try:
            while True:
                line = self.lines.get(timeout=block_s) if block_s else self.lines.get_nowait()
                self.seen.append(line)
                if line.startswith(prefix):
                    return line[len(prefix) :].strip()
        except queue.Empty:
            if self.popen.poll() is not None:
                pytest.fail(f"{self.name} exited ({self.popen.returncode}) before {prefix!r}:\n{self.tail()}")
            return None

    def send(self, line: str) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.write(line + "\n")
        self.popen.stdin.flush()

    def tail(self, n: int = 30) -> str:
        text = "\n".join(self.seen[-n:])
        if self.log.exists():
            text += "\n" + "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        return text

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)


def spawn(name: str, cmd: list[str], log: Path, *, stdin: bool = False) -> Proc:
    popen = subprocess.Popen(
        cmd,
        cwd=ROOT,
        stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
    )
    return Proc(name, popen, log)


@dataclass
class Run:
    """One stack's server and monitor, and what the monitor stored."""

    stack: str
    data: Path
    http_port: int
    server: Proc | None = None
    monitor: Proc | None = None
    done_at: float = 0.0  # wall time of the last change the server wrote
    t0: float = 0.0  # wall time the server played the script's first row
    left_at: dict[str, float] = field(default_factory=dict)  # batch id -> wall time its last product left
    stored_at: dict[str, float] = field(default_factory=dict)  # batch id -> wall time first seen complete
    report: dict[str, dict[str, str]] = field(default_factory=dict)

    def start(self, t0: float) -> None:
        """Tell the server to play the script's first row at wall time t0."""
        assert self.server is not None
        self.server.send(f"START {t0}")
        self.t0 = t0

    def health(self) -> dict[str, object]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/healthz", timeout=2) as r:
                return dict(json.load(r))
        except urllib.error.HTTPError as exc:  # 503 while degraded still says whether it is connected
            return dict(json.load(exc))
        except (OSError, ValueError):
            return {}

    def poll_store(self) -> None:
        db = self.data / "blackmass.db"
        if not db.exists():
            return
        store = BatchStore(db)
        try:
            for r in store.latest():
                if r.state.value in ("complete", "assayed"):
                    self.stored_at.setdefault(r.batch_id, time.time())
        finally:
            store.close()


@pytest.fixture(scope="module")
def script(tmp_path_factory: pytest.TempPathFactory) -> Script:
    d = tmp_path_factory.mktemp("history")
    args = ["simulate", "--export-history", str(d / "history.parquet"), "--days", "0.0012"]
    args += ["--data-dir", str(d), "--sim-config", str(SIM_CONFIG), "--seed", str(SEED), "--no-noise"]
    assert main(args) == 0
    sim = tomllib.loads(SIM_CONFIG.read_text())["simulator"]
    return make_script(
        d / "history.parquet",
        d / "ground_truth.csv",
        d / "script.json",
        lots=LOTS,
        namespace_uri=sim["namespace_uri"],
        line=sim["line"],
    )


def server_commands(node: str, d: Path) -> dict[str, list[str]]:
    """Each stack's replay server, less its port, script and start."""
    commands = {"asyncua": [sys.executable, str(HERE / "replay_server.py")]}
    for name, extra in NODE_MODES.items():
        commands[name] = [node, str(HERE / "replay-server.js"), "--pki", str(d / f"pki-{name}"), *extra]
    return commands


@pytest.fixture(scope="module")
def runs(script: Script, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Run]]:  # noqa: PLR0912 - the stacks, started and torn down in order
    """Every stack side by side, started together, so they replay with identical timestamps."""
    node = require_node_opcua()
    d = tmp_path_factory.mktemp("stacks")
    out = {name: Run(name, d / name, free_port()) for name in STACKS}
    ports = {name: free_port() for name in out}
    commands = server_commands(node, d)
    try:
        for name, r in out.items():
            r.data.mkdir()
            cmd = [*commands[name], "--port", str(ports[name]), "--script", str(script.path), "--start", "stdin"]
            r.server = spawn(f"{name} server", cmd, r.data / "server.log", stdin=True)
        endpoints = {name: r.server.wait_for("READY", STARTUP_S) for name, r in out.items() if r.server}
        for name, r in out.items():
            cmd = [sys.executable, "-m", "monitor", "run", "--config", str(PLANT_CONFIG)]
            cmd += ["--endpoint", endpoints[name], "--data-dir", str(r.data), "--port", str(r.http_port)]
            r.monitor = spawn(f"{name} monitor", cmd, r.data / "monitor.log")
        # every monitor subscribed before the first lot starts, or its first lot is partial
        deadline = time.monotonic() + STARTUP_S
        for r in out.values():
            assert r.monitor is not None
            while r.health().get("connected") is not True:
                if r.monitor.popen.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"{r.stack} monitor never connected to {endpoints[r.stack]}:\n{r.monitor.tail()}")
                time.sleep(0.2)
        t0 = round(time.time() + 1.0, 3)
        for r in out.values():
            r.start(t0)
        # the stores are watched during the replay too: how long after its products left was each lot stored
        wanted = {row["batch_id"] for row in script.truth}
        for r in out.values():
            r.left_at = {
                row["batch_id"]: t0 + float(row["end"]) - script.first_ts + MAX_DELAY_S for row in script.truth
            }
        replay_deadline = time.monotonic() + script.duration_s + 20
        quiet_deadline = float("inf")
        while time.monotonic() < quiet_deadline:
            for r in out.values():
                assert r.server is not None
                r.poll_store()
                if not r.done_at and (done := r.server.poll("DONE")) is not None:
                    r.done_at = float(done)
            if all(r.done_at for r in out.values()):
                if all(wanted <= set(r.stored_at) for r in out.values()):
                    break
                quiet_deadline = min(quiet_deadline, time.monotonic() + QUIET_BOUND_S)
            elif time.monotonic() > replay_deadline:
                pytest.fail(f"the servers did not finish the {script.duration_s:.0f} s replay in time")
            time.sleep(0.25)
        for r in out.values():
            assert r.monitor is not None
            r.monitor.stop()
            report = r.data / "report.csv"
            assert main(["report", "--data-dir", str(r.data), "--format", "csv", "--out", str(report)]) == 0
            with report.open(newline="") as fh:
                r.report = {row["batch_id"]: row for row in csv.DictReader(fh)}
        yield out
    finally:
        for r in out.values():
            for p in (r.monitor, r.server):
                if p is not None:
                    p.stop()


def rel(measured: str, truth: float) -> float:
    return abs(float(measured) - truth) / truth if measured else float("inf")


def table(script: Script, runs: dict[str, Run]) -> str:
    """Per lot: truth against each stack's stored batch (shown on failure, or with -s)."""
    lines = [
        f"{'lot':<10} {'stack':<18} {'state':<9} {'feed kg':>9} {'bm kg':>9} {'yield %':>8} {'stored s':>9} "
        f"{'start s':>8}  flags"
    ]
    for t in script.truth:
        bm, feed = float(t["black_mass_kg"]), float(t["feed_kg"])
        lines.append(f"{t['batch_id']:<10} {'truth':<18} {'':<9} {feed:>9.1f} {bm:>9.1f} {100 * bm / feed:>8.3f}")
        for r in runs.values():
            row = r.report.get(t["batch_id"])
            if row is None:
                lines.append(f"{'':<10} {r.stack:<18} {'missing':<9}")
                continue
            seen = r.stored_at.get(t["batch_id"])
            after = f"{seen - r.left_at[t['batch_id']]:+9.2f}" if seen else f"{'never':>9}"
            off = epoch(row["start"]) - (r.t0 + float(t["start"]) - script.first_ts) if row["start"] else math.nan
            lines.append(
                f"{'':<10} {r.stack:<18} {row['state']:<9} {float(row['feed_kg'] or 'nan'):>9.1f} "
                f"{float(row['black_mass_kg'] or 'nan'):>9.1f} {100 * float(row['black_mass_yield'] or 'nan'):>8.3f} "
                f"{after} {off:+8.1f}  {row['flags']}"
            )
    lines.append(
        "stored s: wall seconds from the lot's last product leaving to the batch in the store "
        "(the last lot's products leave with the servers' last change; the line is quiet after it); "
        "start s: the stored start less the truth's, on our clock"
    )
    for r in runs.values():
        extra = sorted(set(r.report) - {t["batch_id"] for t in script.truth})
        if extra:
            lines.append(f"{r.stack}: batches not in the truth: {', '.join(extra)}")
    return "\n".join(lines)


def epoch(text: str) -> float:
    """Ground truth holds epoch seconds, reports ISO 8601."""
    try:
        return float(text)
    except ValueError:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@pytest.mark.parametrize("stack", STACKS)
def test_every_lot_complete_and_equal_to_truth(stack: str, script: Script, runs: dict[str, Run]) -> None:
    r = runs[stack]
    summary = table(script, runs)
    print(summary)
    assert set(r.report) == {t["batch_id"] for t in script.truth}, f"{stack}: stored batches differ\n{summary}"
    for t in script.truth:
        row = r.report[t["batch_id"]]
        assert row["state"] in ("complete", "assayed"), f"{stack} {t['batch_id']}: {row['state']}\n{summary}"
        # on our clock: the replay played the truth's first row at t0, the server's wall time
        off = epoch(row["start"]) - (r.t0 + float(t["start"]) - script.first_ts)
        assert abs(off) <= START_TOL_S, f"{stack} {t['batch_id']} starts {off:+.1f} s off truth\n{summary}"
        assert (row["chemistry"], row["feed_form"]) == (t["chemistry"], t["feed_form"]), f"{stack}\n{summary}"
        truth = {
            "feed_kg": float(t["feed_kg"]),
            "black_mass_kg": float(t["black_mass_kg"]),
            "black_mass_yield": float(t["black_mass_kg"]) / float(t["feed_kg"]),
        }
        for col in COMPARED:
            err = rel(row[col], truth[col])
            assert err <= FEED_TOL, (
                f"{stack} {t['batch_id']} {col}: {row[col]} vs {truth[col]:.4f} ({err:.3%})\n{summary}"
            )


def test_the_two_stacks_give_the_same_batches(script: Script, runs: dict[str, Run]) -> None:
    a, b = runs["asyncua"].report, runs["node-opcua"].report
    summary = table(script, runs)
    assert set(a) == set(b), f"asyncua stored {sorted(a)}, node-opcua {sorted(b)}\n{summary}"
    for batch_id in sorted(a):
        x, y = a[batch_id], b[batch_id]
        for col in ("state", "chemistry", "feed_form", "supplier"):
            assert x[col] == y[col], f"{batch_id} {col}: asyncua {x[col]!r}, node-opcua {y[col]!r}\n{summary}"
        for col in (*COMPARED, *STREAMS):
            if not x[col] and not y[col]:
                continue
            assert x[col] and y[col], f"{batch_id} {col}: asyncua {x[col]!r}, node-opcua {y[col]!r}\n{summary}"
            err = abs(float(y[col]) - float(x[col])) / max(abs(float(x[col])), 1.0)  # 1 kg floor: a stream of 0 kg
            assert err <= STACK_TOL, f"{batch_id} {col}: asyncua {x[col]}, node-opcua {y[col]}\n{summary}"


def test_node_opcua_is_pinned() -> None:
    """`make test` installs exactly the locked node-opcua, from whichever registry npm is set up with."""
    pkg = json.loads((HERE / "package.json").read_text())
    assert all(v[0].isdigit() for v in pkg["dependencies"].values()), pkg["dependencies"]
    lock = (HERE / "package-lock.json").read_text()
    assert '"resolved"' not in lock  # npm ci resolves against whatever registry npm is configured with


class FirstChange:
    """A subscription handler whose `value` resolves to the first data change's DataValue."""

    def __init__(self) -> None:
        self.value: asyncio.Future[ua.DataValue] = asyncio.get_running_loop().create_future()

    def datachange_notification(self, node: object, val: object, data: object) -> None:
        if not self.value.done():
            self.value.set_result(data.monitored_item.Value)  # type: ignore[attr-defined]


@pytest.mark.parametrize("mode", list(NODE_MODES))
async def test_what_node_opcua_puts_on_the_wire(mode: str, script: Script, tmp_path: Path) -> None:
    """The timestamps each node-opcua mode sends, as an asyncua client reads them (docs/plc-integration.md).

    The server is started but never told to play, so its variables hold their first values, set at
    startup the way the mode sets every value.
    """
    node = require_node_opcua()
    cmd = [node, str(HERE / "replay-server.js"), "--pki", str(tmp_path / "pki"), *NODE_MODES[mode]]
    cmd += ["--port", str(free_port()), "--script", str(script.path), "--start", "stdin"]
    server = spawn(f"{mode} server", cmd, tmp_path / "server.log", stdin=True)
    try:
        endpoint = server.wait_for("READY", STARTUP_S)
        async with new_client(endpoint) as client:  # as the monitor reads: a subscription's data change
            idx = await client.get_namespace_index(json.loads(script.path.read_text())["namespace_uri"])
            first = FirstChange()
            sub = await client.create_subscription(50, first)
            await sub.subscribe_data_change(client.get_node(f"ns={idx};s=Feed.Totalizer"))
            async with asyncio.timeout(STARTUP_S):
                dv = await first.value
            now = time.time()
            current = await client.get_node(ua.ObjectIds.Server_ServerStatus_CurrentTime).read_value()
    finally:
        server.stop()
    assert abs(current.timestamp() - now) < 5.0  # the server's own clock is honest in every mode
    assert dv.SourceTimestamp is not None and dv.ServerTimestamp is not None
    source, stamped = dv.SourceTimestamp.timestamp(), dv.ServerTimestamp.timestamp()
    if mode == "node-opcua-no-ts":
        # node-opcua stamps its clock with picoseconds; asyncua alone decodes the DataValue's fields
        # out of the standard's order (ServerTimestamp 1601 or 9999); monitor.collectors.wire_fix
        # decodes them in the wire's order, so both times are node-opcua's clock
        assert now - STARTUP_S - 5.0 < source <= now
        assert dv.SourcePicoseconds is not None
        assert abs(stamped - source) < 1.0
    else:
        skew = SKEW_S if mode == "node-opcua-skewed" else 0.0
        assert source == stamped  # setValueFromSource copies the source time into ServerTimestamp
        assert now + skew - STARTUP_S - 5.0 < source <= now + skew
        assert dv.SourcePicoseconds is None and dv.ServerPicoseconds is None
