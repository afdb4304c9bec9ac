"""Secrets never leave: a monitor holding an API token, an OPC-UA password and a passport key (as
PEM text in its variable, the usual container mistake) is probed on every route, good and bad,
and its inbox is fed links to the secrets; no answer and no log line carries any of them."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest

from monitor.collectors.credentials import PASSWORD_ENV, SecuritySettings
from monitor.config import load_config
from monitor.passport.settings import KEY_ENV
from monitor.passport.signing import keygen
from monitor.runs.app import Monitor
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration
TOKEN = "tok-6c1f0e2d9b"
OPCUA_PASSWORD = "opcua-pw-5a8e77"


async def test_no_response_or_log_carries_a_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    key, _, _ = keygen(tmp_path / "keys")
    pem = key.read_text()
    secrets = [TOKEN, OPCUA_PASSWORD, pem.splitlines()[1], "PRIVATE KEY"]
    monkeypatch.setenv("BLACKMASS_API_TOKEN", TOKEN)
    monkeypatch.setenv(PASSWORD_ENV, OPCUA_PASSWORD)
    monkeypatch.setenv(KEY_ENV, pem)
    (tmp_path / "env.txt").write_text(f"BLACKMASS_API_TOKEN={TOKEN}\nPASSWORD={OPCUA_PASSWORD}\n")
    cfg = load_config(ROOT / "config/plant.toml").with_endpoint(f"opc.tcp://127.0.0.1:{free_port()}/none")
    cfg = replace(cfg, opcua=replace(cfg.opcua, security=SecuritySettings(username="monitor")))
    data = tmp_path / "data"
    monitor = Monitor(cfg, data, seeds=ROOT / "seeds")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    answers: list[str] = []
    caplog.set_level(logging.DEBUG)
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(monitor.run(host="127.0.0.1", port=port))
        await monitor.http_started.wait()
        inbox = data / "lims"
        inbox.mkdir(exist_ok=True)
        (inbox / "a-link.csv").symlink_to(tmp_path / "env.txt")
        (inbox / "b-copy.csv").write_text((tmp_path / "env.txt").read_text())
        (inbox / "c-key.csv").write_text(pem)
        requests = [
            ("GET", "/healthz", {}, b""),
            ("GET", "/metrics", {}, b""),
            ("GET", "/runbooks", {}, b""),
            ("GET", "/api/batches", {}, b""),
            ("GET", "/api/batches?from=nonsense", {}, b""),
            ("GET", "/api/batches/L1-00001", {}, b""),
            ("GET", "/api/batches/L1-00001/passport", {}, b""),
            ("GET", "/api/shipments/S-1/passport", {}, b""),
            ("GET", "/api/reports/batches.csv", {}, b""),
            ("GET", "/api/reports/batches.exe", {}, b""),
            ("POST", "/api/assays", {"Authorization": f"Bearer {TOKEN}x"}, b"x"),
            ("POST", "/api/assays", {"Authorization": f"Bearer {TOKEN}"}, f"{TOKEN},{OPCUA_PASSWORD}\n".encode()),
            ("POST", "/api/shipments", {"Authorization": f"Bearer {TOKEN}"}, b'{"shipment_id": "S-1", "bags": ["B"]}'),
            ("POST", "/api/shipments", {"Authorization": f"Bearer {TOKEN}"}, b"[" * 50),
        ]
        async with aiohttp.ClientSession() as http:
            for method, path, headers, body in requests:
                async with http.request(method, base + path, headers=headers, data=body) as r:
                    answers.append(f"{method} {path} {r.status} {dict(r.headers)} {await r.text(errors='replace')}")
            while not (inbox / "rejected" / "c-key.csv.reason.txt").exists():  # the inbox has had its pass
                async with http.get(base + "/healthz") as r:
                    answers.append(await r.text())
                await asyncio.sleep(0.05)
            async with http.get(base + "/healthz") as r:
                health = await r.json()
        task.cancel()
    assert len(answers) >= len(requests)
    assert health["collector"] != "connected"  # no PLC here: the collector's errors are in the log too
    reasons = [p.read_text() for p in (inbox / "rejected").glob("*.reason.txt")]
    assert len(reasons) == 3
    everything = "\n".join(answers + reasons) + caplog.text
    for secret in secrets:
        assert secret not in everything, f"{secret[:12]}… leaked"
