"""Secrets never leave: key material only as a path, secrets files only their owner reads, URL
passwords found after libpq's decoding, no paths on /healthz, a PEM never in an HTTP answer."""

from __future__ import annotations

import logging
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from monitor.collectors.credentials import SecuritySettings, check_endpoint, credentials
from monitor.config import load_config
from monitor.errors import CollectorError, ConfigError, InputError, StoreError
from monitor.passport.settings import KEY_ENV, PassportSettings
from monitor.passport.signing import keygen, load_private_key
from monitor.serve.http import make_app
from monitor.serve.passport_api import add_passport_routes
from monitor.store.batches import BatchStore
from monitor.store.url import check_url, pg_conninfo
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]


def test_a_pem_in_the_key_variable_is_refused_with_a_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key, _, _ = keygen(tmp_path / "keys")
    pem = key.read_text()
    monkeypatch.setenv(KEY_ENV, pem)
    with pytest.raises(InputError) as err:
        PassportSettings().key_path()
    assert "PRIVATE KEY" not in str(err.value) and "set BLACKMASS_PASSPORT_KEY to its path" in str(err.value)


async def test_the_passport_route_never_answers_with_key_material(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    key, _, _ = keygen(tmp_path / "keys")
    monkeypatch.setenv(KEY_ENV, key.read_text())
    store = BatchStore(tmp_path / "blackmass.db")
    app = make_app(CollectorRegistry(auto_describe=False), lambda: {"status": "ok"})
    add_passport_routes(app, store, PassportSettings(), token=None)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await aiohttp.web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/api/batches/X/passport") as r:
            text = await r.text()
            assert r.status == 503
    finally:
        await runner.cleanup()
        store.close()
    assert "PRIVATE KEY" not in text and str(tmp_path) not in text
    assert "PRIVATE KEY" not in caplog.text


def test_keys_are_0600_and_never_overwritten(tmp_path: Path) -> None:
    key, pub, _ = keygen(tmp_path)
    assert key.stat().st_mode & 0o777 == 0o600 and pub.stat().st_mode & 0o033 == 0  # the public key: read-only
    before = key.read_bytes()
    with pytest.raises(InputError, match="not overwritten"):
        keygen(tmp_path)
    assert key.read_bytes() == before


def test_secrets_files_readable_by_others_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key, _, _ = keygen(tmp_path / "keys")
    key.chmod(0o644)
    with pytest.raises(InputError, match="mode 0644: readable or writable by others; refused") as err:
        load_private_key(key, "test")
    assert "PRIVATE" not in str(err.value)
    pw = tmp_path / "pw"
    pw.write_text("hunter2\n")
    pw.chmod(0o644)
    monkeypatch.delenv("BLACKMASS_STORE_PASSWORD", raising=False)
    with pytest.raises(StoreError, match="mode 0644") as serr:
        pg_conninfo("postgresql://u@db/x", password_file=pw)
    with pytest.raises(CollectorError, match="mode 0644") as cerr:
        credentials(SecuritySettings(username="op", password_file=pw), {})
    assert "hunter2" not in str(serr.value) + str(cerr.value)
    pw.chmod(0o600)
    creds = credentials(SecuritySettings(username="op", password_file=pw), {})
    assert creds is not None and creds.password == "hunter2"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u@127.0.0.1:1/x?pass%77ord=hunter2",
        "postgresql://u@127.0.0.1:1/x?password=hunter2",
        "postgresql://u:hunter2@127.0.0.1:1/x",
        "postgresql://u@127.0.0.1:1/x?sslmode=prefer&%70assword=hunter2",
    ],
)
def test_url_passwords_are_found_after_decoding_and_never_echoed(url: str) -> None:
    with pytest.raises(StoreError, match="carries a password") as err:
        check_url(url)
    assert "hunter2" not in str(err.value)


def test_postgres_verifies_the_server_off_host(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from psycopg.conninfo import conninfo_to_dict  # noqa: PLC0415

    monkeypatch.delenv("BLACKMASS_STORE_PASSWORD", raising=False)
    monkeypatch.delenv("BLACKMASS_STORE_PASSWORD_FILE", raising=False)
    with caplog.at_level(logging.INFO, logger="monitor.store.url"):
        assert conninfo_to_dict(pg_conninfo("postgresql://u@db.plant/x"))["sslmode"] == "verify-full"
        assert conninfo_to_dict(pg_conninfo("postgresql://u@127.0.0.1/x"))["sslmode"] == "prefer"
        assert conninfo_to_dict(pg_conninfo("postgresql://u@db/x?sslmode=disable"))["sslmode"] == "disable"
    assert "sslmode=verify-full" in caplog.text and "sslmode=prefer (a local server" in caplog.text


@pytest.mark.parametrize(
    "endpoint", ["opc.tcp://op:hunter2@plc:4840/x", "opc.tcp://op%3Ahunter2@plc:4840/x", "http://op:hunter2@plc/"]
)
def test_an_opcua_password_in_the_endpoint_is_refused(endpoint: str) -> None:
    with pytest.raises(ConfigError, match="without a password") as err:
        check_endpoint(endpoint, "--endpoint")
    assert "hunter2" not in str(err.value)
    with pytest.raises(ConfigError):
        load_config(ROOT / "config/plant.toml").with_endpoint(endpoint)


async def test_healthz_shows_no_internal_paths() -> None:
    health = {"status": "ok", "collector_error": "cannot read /etc/blackmass/pki/own/key.pem: denied"}
    app = make_app(CollectorRegistry(auto_describe=False), lambda: health)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await aiohttp.web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/healthz") as r:
            body = await r.json()
    finally:
        await runner.cleanup()
    assert body["collector_error"] == "cannot read <path>: denied"
