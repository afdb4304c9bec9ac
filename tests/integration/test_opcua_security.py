"""The simulator and the collector with OPC-UA security on: Basic256Sha256 SignAndEncrypt,
certificates both ways, username and password from the environment."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

import pytest
from asyncua import Client

from monitor.collectors.opcua import ConnState, OpcuaCollector
from monitor.collectors.security import CLIENT_URI, PASSWORD_ENV, SecuritySettings, make_certificate
from monitor.config import load_config
from monitor.core.samples import Sample
from monitor.runs.demo import SimOptions, plant_server
from monitor.simulator.server import PlantServer
from monitor.simulator.server_security import ServerSecurity
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("pki")
    make_certificate(d / "client", "blackmass-monitor", CLIENT_URI)
    make_certificate(d / "stranger", "stranger", "urn:stranger", server=True)
    (d / "server" / "trusted").mkdir(parents=True)
    shutil.copy(d / "client" / "blackmass-monitor-cert.der", d / "server" / "trusted")
    return d


@contextlib.asynccontextmanager
async def secured_plant(tmp: Path, pki: Path) -> AsyncIterator[PlantServer]:
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}/blackmass"
    opts = SimOptions(data_dir=tmp, sim_config=ROOT / "config/simulator.toml", seeds=ROOT / "seeds", speed=600)
    server = plant_server(opts, endpoint, start_on_subscribe=False)
    server.security = ServerSecurity.in_folder(pki / "server", {"monitor": PASSWORD})
    await server.start()
    try:
        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(server.run())
            yield server
            task.cancel()
    finally:
        await server.stop()


def security(pki: Path, **kw: object) -> SecuritySettings:
    base: dict[str, object] = {
        "policy": "Basic256Sha256",
        "mode": "SignAndEncrypt",
        "certificate": pki / "client" / "blackmass-monitor-cert.der",
        "private_key": pki / "client" / "blackmass-monitor-key.pem",
        "server_certificate": pki / "server" / "simulator-cert.der",
        "username": "monitor",
    }
    return SecuritySettings(**{**base, **kw})  # type: ignore[arg-type]


async def collect(
    endpoint: str, sec: SecuritySettings, done: Callable[[OpcuaCollector, list[Sample]], bool], limit_s: float = 60.0
) -> tuple[OpcuaCollector, list[Sample]]:
    """Run a collector until done(collector, samples) holds (asked every 0.05 s); the limit only bounds
    a hang, and the tests' assertions then say what was missing."""
    cfg = load_config(ROOT / "config/plant.toml").with_endpoint(endpoint)
    settings = replace(cfg.opcua, security=sec, reconnect_min_s=0.2, reconnect_max_s=0.5, timeout_s=3)
    got: list[Sample] = []
    col = OpcuaCollector(settings, cfg.tag_addresses(), got.extend)

    async def watch(deadline: asyncio.Timeout) -> None:
        while not done(col, got):  # noqa: ASYNC110 - a condition on objects the test does not own
            await asyncio.sleep(0.05)
        deadline.reschedule(asyncio.get_running_loop().time())  # stop the collector as a timeout would

    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(limit_s) as deadline, asyncio.TaskGroup() as tg:
            tg.create_task(col.run())
            tg.create_task(watch(deadline))
    return col, got


def flowing(_: OpcuaCollector, got: list[Sample]) -> bool:
    return len({s.tag for s in got}) >= 20


def refused(col: OpcuaCollector, _: list[Sample]) -> bool:
    return col.last_error is not None


async def test_signandencrypt_with_password_connects(
    tmp_path: Path, pki: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    async with secured_plant(tmp_path, pki) as server:
        col, got = await collect(server.endpoint, security(pki), flowing)
        assert col.last_error is None
        assert col.failed_nodes == 0 and col.subscribed_nodes >= 20 and col.reconnects == 0
        assert len({s.tag for s in got}) >= 20  # values flowed over the encrypted channel
        plain = Client(server.endpoint, timeout=15)  # and nothing flows without security (15 s: a loaded machine)
        endpoints = await plain.connect_and_get_server_endpoints()
        assert {e.SecurityMode.name for e in endpoints} == {"Sign", "SignAndEncrypt"}
        with pytest.raises(Exception):  # noqa: B017 - asyncua raises several kinds here
            await plain.connect()
        with contextlib.suppress(Exception):
            await plain.disconnect()


async def test_wrong_password_fails_with_a_clear_message(
    tmp_path: Path, pki: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "wrong")
    caplog.set_level(logging.ERROR, logger="monitor.collectors.opcua")
    async with secured_plant(tmp_path, pki) as server:
        col, got = await collect(server.endpoint, security(pki), refused)
    assert col.state is not ConnState.CONNECTED and not got
    assert col.last_error is not None
    assert "refused user 'monitor'" in col.last_error and "BadUserAccessDenied" in col.last_error
    assert PASSWORD_ENV in col.last_error  # the hint names where the password comes from
    assert "wrong" not in caplog.text  # and the password is never logged
    assert any("refused user 'monitor'" in r.getMessage() for r in caplog.records)


async def test_an_untrusted_server_is_refused(tmp_path: Path, pki: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    async with secured_plant(tmp_path, pki) as server:
        sec = security(pki, server_certificate=pki / "stranger" / "stranger-cert.der")
        col, got = await collect(server.endpoint, sec, refused)
    assert not got and col.last_error is not None
    assert "is not the trusted one" in col.last_error and "refusing to connect" in col.last_error


async def test_an_untrusted_client_is_refused(tmp_path: Path, pki: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    make_certificate(tmp_path / "other", "intruder", CLIENT_URI)
    sec = security(
        pki,
        certificate=tmp_path / "other" / "intruder-cert.der",
        private_key=tmp_path / "other" / "intruder-key.pem",
    )
    async with secured_plant(tmp_path, pki) as server:
        col, got = await collect(server.endpoint, sec, refused)
    assert not got and col.state is not ConnState.CONNECTED
    assert col.last_error is not None and "refused our certificate" in col.last_error
    assert "BadCertificateUntrusted" in col.last_error and "intruder-cert.der" in col.last_error
