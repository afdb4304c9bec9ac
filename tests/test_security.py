"""Security settings: secrets never in the config, masked in reprs; HTTPS; certificate making."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from prometheus_client import CollectorRegistry

from monitor.cli import main
from monitor.collectors.security import PASSWORD_ENV, SecuritySettings, credentials
from monitor.config import parse_config, read_toml
from monitor.errors import CollectorError, ConfigError
from monitor.serve.http import make_app, serve, tls_context
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
BASE = read_toml(ROOT / "config/plant.toml")


def with_security(**sec: object) -> dict[str, object]:
    return {**BASE, "opcua": {**BASE["opcua"], "security": sec}}


def test_a_password_in_the_config_is_refused() -> None:
    for data in (with_security(password="hunter2"), {**BASE, "opcua": {**BASE["opcua"], "password": "hunter2"}}):
        with pytest.raises(ConfigError, match="no password in the config file") as err:
            parse_config(data, "plant.toml")
        assert "hunter2" not in str(err.value) and "BLACKMASS_OPCUA_PASSWORD" in str(err.value)


def test_security_settings_are_checked_and_paths_resolved_beside_the_config() -> None:
    cfg = parse_config(
        with_security(
            policy="Basic256Sha256",
            mode="SignAndEncrypt",
            certificate="pki/monitor-cert.der",
            private_key="/etc/blackmass/key.pem",
            username="monitor",
        ),
        "/etc/blackmass/plant.toml",
    )
    sec = cfg.opcua.security
    assert sec.certificate == Path("/etc/blackmass/pki/monitor-cert.der")
    assert sec.private_key == Path("/etc/blackmass/key.pem")
    with pytest.raises(ConfigError, match=r"opcua\.security\.mode"):
        parse_config(with_security(policy="Basic256Sha256", mode="None"), "plant.toml")
    with pytest.raises(ConfigError, match=r"opcua\.security\.policy"):
        parse_config(with_security(policy="Basic128Rsa15", mode="Sign"), "plant.toml")
    with pytest.raises(ConfigError, match="blackmass certs"):
        parse_config(with_security(policy="Basic256Sha256", mode="Sign"), "plant.toml")


def test_credentials_come_from_env_or_secrets_file_and_never_show(tmp_path: Path) -> None:
    sec = SecuritySettings(username="monitor")
    creds = credentials(sec, {PASSWORD_ENV: "s3cret"})
    assert creds is not None and creds.password == "s3cret"
    assert "s3cret" not in repr(creds) and "***" in repr(creds)
    secret = tmp_path / "opcua-password"
    secret.write_text("from-file\n")
    secret.chmod(0o600)
    creds = credentials(SecuritySettings(username="monitor", password_file=secret), {})
    assert creds is not None and creds.password == "from-file"
    assert "from-file" not in repr(SecuritySettings(username="monitor", password_file=secret))
    with pytest.raises(CollectorError, match="has no password: set BLACKMASS_OPCUA_PASSWORD"):
        credentials(sec, {})
    assert credentials(SecuritySettings(), {}) is None  # anonymous


def self_signed_pem(d: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    c, k = d / "http-cert.pem", d / "http-key.pem"
    c.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    k.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return c, k


async def test_https_when_configured(tmp_path: Path) -> None:
    cert, key = self_signed_pem(tmp_path)
    port = free_port()
    app = make_app(CollectorRegistry(), lambda: {"status": "ok"})
    started = asyncio.Event()
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(serve(app, "127.0.0.1", port, started, tls=tls_context(cert, key)))
        await started.wait()
        trust = ssl.create_default_context(cafile=str(cert))
        async with aiohttp.ClientSession() as http:
            async with http.get(f"https://localhost:{port}/healthz", ssl=trust) as r:
                assert r.status == 200 and (await r.json())["status"] == "ok"
            with pytest.raises(aiohttp.ClientError):  # plain HTTP gets no answer
                async with http.get(f"http://localhost:{port}/healthz") as r:
                    await r.read()
        task.cancel()


def test_a_bad_tls_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "x.pem").write_text("not a certificate")
    with pytest.raises(ConfigError, match=r"x\.pem"):
        tls_context(tmp_path / "x.pem", tmp_path / "x.pem")
    with pytest.raises(ConfigError, match=r"http\.tls_key"):
        parse_config({**BASE, "http": {"tls_certificate": "c.pem"}}, "plant.toml")


def test_certs_command_makes_a_certificate_and_a_private_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["certs", "--out", str(tmp_path), "--name", "mon"]) == 0
    cert = x509.load_der_x509_certificate((tmp_path / "mon-cert.der").read_bytes())
    uris = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "urn:blackmass:monitor" in uris.get_values_for_type(x509.UniformResourceIdentifier)
    assert (tmp_path / "mon-key.pem").stat().st_mode & 0o077 == 0  # the key is private to its owner
    assert "mon-cert.der" in capsys.readouterr().out


def test_check_config_reports_security_without_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "s3cret")
    text = (
        (ROOT / "config/plant.toml")
        .read_text()
        .replace(
            "[http]",
            '[opcua.security]\npolicy = "Basic256Sha256"\nmode = "SignAndEncrypt"\n'
            'certificate = "c.der"\nprivate_key = "k.pem"\nusername = "monitor"\n\n[http]',
        )
    )
    (tmp_path / "plant.toml").write_text(text)
    assert main(["check-config", str(tmp_path / "plant.toml")]) == 0
    out = capsys.readouterr().out
    assert "Basic256Sha256/SignAndEncrypt; user: monitor (password set)" in out
    assert "s3cret" not in out
