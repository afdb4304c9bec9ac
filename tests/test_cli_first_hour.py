"""The CLI as a first-timer meets it: --version, help everywhere, quiet pipes, serve --data-dir, clear refusals."""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

import aiohttp.web
import pytest
from prometheus_client import CollectorRegistry

from monitor.accounting.assay_import import Accountant
from monitor.accounting.seeds import load_feed_grades
from monitor.cli import build_parser
from monitor.config import load_config
from monitor.serve.api import add_api
from monitor.serve.http import make_app
from monitor.store.batches import BatchStore
from tests.conftest import free_port
from tests.test_store import result

ROOT = Path(__file__).resolve().parents[1]
BLACKMASS = [str(Path(sys.executable).parent / "blackmass")]


def test_version_prints_the_package_version() -> None:
    out = subprocess.run([*BLACKMASS, "--version"], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.startswith("blackmass ") and out.stdout.split()[1][0].isdigit()


def test_every_option_has_a_help_line_with_its_default() -> None:
    missing, helps = [], []

    def walk(p: argparse.ArgumentParser, name: str) -> None:
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                for n, sub in a.choices.items():
                    walk(sub, f"{name} {n}")
            elif not a.help:
                missing.append(f"{name} {a.dest}")
        helps.append(p.format_help())

    walk(build_parser(), "blackmass")
    assert missing == []
    report = next(h for h in helps if "--include-partial" in h)
    assert "(default: csv)" in report  # --format's default is said


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    store = BatchStore(tmp_path / "blackmass.db")
    store.save_many([result(f"L1-{k:05d}", start=1000.0 + 4000 * k) for k in range(3000)])
    store.close()
    cmd = [*BLACKMASS, "report", "--data-dir", str(tmp_path), "--format", "csv", "--out", "-"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdout is not None and p.stdout.readline().startswith(b"batch_id,")
    p.stdout.close()  # as `| head -1` does
    _, err = p.communicate(timeout=120)
    assert b"Traceback" not in err and b"BrokenPipe" not in err, err.decode()


async def _post(store: BatchStore, accountant: Accountant | None, token: str | None, header: str) -> tuple[int, str]:
    app = make_app(CollectorRegistry(auto_describe=False), lambda: {"status": "ok"})
    add_api(app, store, accountant, token=token)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await aiohttp.web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/assays?line=L1", data=b"x", headers={"Authorization": header}, method="POST"
        )

        def send() -> tuple[int, str]:
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    return r.status, r.read().decode()
            except urllib.error.HTTPError as e:
                return e.code, e.read().decode()

        return await asyncio.to_thread(send)
    finally:
        await runner.cleanup()


def test_writes_that_cannot_land_say_where_they_go_and_a_wrong_token_is_not_accepted(tmp_path: Path) -> None:
    store = BatchStore(tmp_path / "blackmass.db")
    store.save(replace(result(), line="L1"))
    code, body = asyncio.run(_post(store, None, None, ""))
    assert code == 403 and "assays import FILE --store URL --line" in body and "/api/assays?line=" in body
    acc = Accountant(store, load_config(ROOT / "config/plant.toml").line, load_feed_grades(ROOT / "seeds"))
    code, body = asyncio.run(_post(store, acc, "right", "Bearer wrong"))
    assert code == 401 and "token not accepted" in body
    store.close()


def test_serve_takes_a_data_dir(tmp_path: Path) -> None:
    store = BatchStore(tmp_path / "blackmass.db")
    store.save(result())
    store.close()
    port = free_port()
    p = subprocess.Popen(
        [*BLACKMASS, "serve", "--data-dir", str(tmp_path), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert p.stdout is not None
        first = p.stdout.readline()  # printed once the store is open, before the port is bound
        assert "serving sqlite:///" in first and "L1" in first
        deadline = time.monotonic() + 60  # bounds a hang; the wait is on the port
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/batches", timeout=5) as r:
                    body = r.read().decode()
                    break
            except OSError:
                if p.poll() is not None:
                    pytest.fail(f"serve ended: {p.stdout.read()}")
                assert time.monotonic() < deadline, "serve did not answer on its port within 60 s"
                time.sleep(0.05)  # nothing to wait on but the port
        assert '"count": 1' in body and '"start":"1970-01-01T00:16:40Z"' in body.replace(" ", "")
    finally:
        p.terminate()
        p.wait(timeout=30)
