"""The PLC is who it says: with SignAndEncrypt and no pinned certificate, the server's must be in
(or chain to) PKI/trusted/certs; an unknown one is refused by thumbprint and kept in
PKI/rejected/certs; `blackmass certs trust` pins it; a password never goes in clear text."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from monitor.cli import main
from monitor.collectors.security import CLIENT_URI, PASSWORD_ENV, SecuritySettings, make_certificate
from monitor.collectors.trust import thumbprint, why_untrusted
from monitor.errors import InputError
from monitor.runs.demo import SimOptions, plant_server
from monitor.simulator.server import PlantServer
from tests.conftest import free_port
from tests.integration.test_opcua_security import PASSWORD, collect, flowing, refused, secured_plant, security

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    d = tmp_path / "pki"
    make_certificate(d / "client", "blackmass-monitor", CLIENT_URI)
    (d / "server" / "trusted").mkdir(parents=True)
    shutil.copy(d / "client" / "blackmass-monitor-cert.der", d / "server" / "trusted")
    return d


async def test_an_unknown_server_is_refused_by_thumbprint_then_trusted_when_moved(
    tmp_path: Path, pki: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    sec = security(pki, server_certificate=None)  # trust list: pki/client/{trusted,rejected}/certs
    async with secured_plant(tmp_path, pki) as server:
        col, got = await collect(server.endpoint, sec, refused)
        der = (pki / "server" / "simulator-cert.der").read_bytes()
        assert not got and col.last_error is not None
        assert thumbprint(der) in col.last_error and "is not trusted" in col.last_error
        rejected = pki / "client" / "rejected" / "certs" / f"{thumbprint(der)}.der"
        assert rejected.read_bytes() == der
        # the operator moves it to trusted/: the next connection succeeds
        (pki / "client" / "trusted" / "certs").mkdir(parents=True)
        rejected.rename(pki / "client" / "trusted" / "certs" / rejected.name)
        col, got = await collect(server.endpoint, sec, flowing)
        assert col.last_error is None and len({s.tag for s in got}) >= 20


async def test_certs_trust_shows_the_thumbprint_and_pins_on_confirmation(
    tmp_path: Path, pki: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with secured_plant(tmp_path, pki) as server:
        der = (pki / "server" / "simulator-cert.der").read_bytes()
        monkeypatch.setattr("builtins.input", lambda _: "n")
        args = ["certs", "trust", "--endpoint", server.endpoint, "--pki", str(pki / "client")]
        assert await asyncio.to_thread(main, args) == 1
        assert thumbprint(der) in capsys.readouterr().out
        assert why_untrusted(der, pki / "client") is not None
        monkeypatch.setattr("builtins.input", lambda _: "y")
        assert await asyncio.to_thread(main, args) == 0
        assert "pinned" in capsys.readouterr().out
        assert why_untrusted(der, pki / "client") is None


def _cert(subject: str, key: ec.EllipticCurvePrivateKey, issuer: str, signer: ec.EllipticCurvePrivateKey) -> bytes:
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(signer, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


def test_a_certificate_issued_by_a_trusted_ca_is_trusted(tmp_path: Path) -> None:
    ca_key, plc_key, rogue_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca = _cert("plant CA", ca_key, "plant CA", ca_key)
    plc = _cert("PLC-1", plc_key, "plant CA", ca_key)
    forged = _cert("PLC-1", rogue_key, "plant CA", rogue_key)  # claims the CA, signed by another key
    (tmp_path / "trusted" / "certs").mkdir(parents=True)
    (tmp_path / "trusted" / "certs" / "ca.der").write_bytes(ca)
    assert why_untrusted(plc, tmp_path) is None
    assert "neither in nor issued by" in (why_untrusted(forged, tmp_path) or "")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    assert "outside its validity" in (why_untrusted(plc, tmp_path, now=later) or "")


def test_certs_never_overwrites_a_key(tmp_path: Path) -> None:
    _, key = make_certificate(tmp_path, "m", CLIENT_URI)
    before = key.read_bytes()
    with pytest.raises(InputError, match="not overwritten"):
        make_certificate(tmp_path, "m", CLIENT_URI)
    assert key.read_bytes() == before and key.stat().st_mode & 0o777 == 0o600
    assert main(["certs", "--out", str(tmp_path), "--name", "m"]) == 2


@contextlib.asynccontextmanager
async def plain_plant(tmp: Path) -> AsyncIterator[PlantServer]:
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}/blackmass"
    opts = SimOptions(data_dir=tmp, sim_config=ROOT / "config/simulator.toml", seeds=ROOT / "seeds", speed=600)
    server = plant_server(opts, endpoint, start_on_subscribe=False)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_a_password_over_policy_none_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "hunter2-clear")
    async with plain_plant(tmp_path) as server:
        col, got = await collect(server.endpoint, SecuritySettings(username="monitor"), refused)
    assert not got and col.last_error is not None
    assert "would travel in clear text" in col.last_error and "hunter2" not in col.last_error
