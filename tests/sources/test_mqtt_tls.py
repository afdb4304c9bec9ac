"""MQTT over TLS with a user, end to end: a real mosquitto listening on mqtts with a throw-away CA's
certificate and a password file (mosquitto_passwd); the source configured as a plant would (`ca_file`,
`username`, `password_file` in plant.toml) receives data; the password from BLACKMASS_MQTT_PASSWORD
wins over the file. A wrong password, an unknown CA or a user without a password is that source down
(its supervisor backs off and retries, /healthz names the source and the reason), never a crash."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import json
import re
import ssl
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import aiomqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from monitor.collectors.health import ConnState
from monitor.collectors.mqtt_link import MQTT_PASSWORD_ENV
from monitor.collectors.source_settings import MqttSettings
from monitor.collectors.sparkplug import MqttCollector
from monitor.config import load_config
from monitor.core.samples import Sample
from monitor.runs.sources import reported, source_problems
from tests.conftest import until
from tests.sources.peers import mosquitto

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
TOPIC = "plant/line1/dryer/condensate"
USER, SECRET = "blackmass", "s3cret-pw"


def _cert(subject: str, issuer: x509.Name | None, key: ec.EllipticCurvePrivateKey, signer: ec.EllipticCurvePrivateKey,
          ca: bool) -> x509.Certificate:  # fmt: skip
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = dt.datetime.now(dt.UTC)
    b = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
    )
    if not ca:
        sans = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return b.sign(signer, hashes.SHA256())


def _pem(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def throwaway_ca(d: Path) -> tuple[Path, Path, Path, Path]:
    """(CA, broker certificate, broker key, another CA that signed nothing of the broker's), as PEM files."""
    ca_key, key, other_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca = _cert("blackmass test CA", None, ca_key, ca_key, ca=True)
    server = _cert("127.0.0.1", ca.subject, key, ca_key, ca=False)
    (d / "broker.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    other = _cert("someone else's CA", None, other_key, other_key, ca=True)
    return _pem(d / "ca.pem", ca), _pem(d / "broker.pem", server), d / "broker.key", _pem(d / "other-ca.pem", other)


def plant_config(d: Path, port: int, ca: Path) -> MqttSettings:
    """The source as a plant configures it: CA and password file named in plant.toml, next to it."""
    (d / "broker-ca.pem").write_bytes(ca.read_bytes())
    secret = d / "mqtt-password"
    secret.write_text(SECRET + "\n")
    secret.chmod(0o600)
    toml = d / "plant.toml"
    toml.write_text(
        (ROOT / "config/plant.toml").read_text()
        + f"""
[sources.uns]
kind = "mqtt"
broker = "mqtts://127.0.0.1:{port}"
username = "{USER}"
password_file = "mqtt-password"
ca_file = "broker-ca.pem"
client_id = "bm-tls"
reconnect_min_s = 0.05
reconnect_max_s = 0.2

[points."Dryer.CondensateTotalizer"]
source = "uns"
topic = "{TOPIC}"
"""
    )
    s = load_config(toml).other_sources()["uns"]
    assert isinstance(s, MqttSettings)
    return s


async def _publish(port: int, ca: Path, value: float) -> None:
    tls = ssl.create_default_context(cafile=str(ca))
    async with aiomqtt.Client("127.0.0.1", port, username=USER, password=SECRET, tls_context=tls) as pub:
        await pub.publish(TOPIC, json.dumps({"value": value, "ts": 1_800_000_000}), qos=1)


async def _receives(s: MqttSettings, port: int, ca: Path, value: float) -> list[Sample]:
    got: list[Sample] = []
    c = MqttCollector(s, got.extend, source="uns")
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(c.run())
        await asyncio.wait_for(c.connected.wait(), 30)
        assert c.health().state is ConnState.CONNECTED and c.last_error is None
        await _publish(port, ca, value)
        await asyncio.wait_for(until(lambda: bool(got)), 30)
        task.cancel()
    return got


@contextlib.asynccontextmanager
async def tls_broker(d: Path) -> AsyncIterator[tuple[int, MqttSettings, Path, Path]]:
    """mosquitto on mqtts with our user; (port, the source's settings from plant.toml, CA, another CA)."""
    ca, cert, key, other = throwaway_ca(d)
    async with mosquitto(d, users={USER: SECRET}, tls=(ca, cert, key)) as port:
        yield port, plant_config(d, port, ca), ca, other


async def test_tls_and_a_user_from_the_secrets_file_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with tls_broker(tmp_path) as (port, s, ca, _):
        assert (s.username, s.ca_file, s.password_file) == (
            USER,
            tmp_path / "broker-ca.pem",
            tmp_path / "mqtt-password",
        )
        monkeypatch.delenv(MQTT_PASSWORD_ENV, raising=False)
        got = await _receives(s, port, ca, 812.5)  # the password from the secrets file
        assert [(x.tag, x.ts, x.value) for x in got] == [("Dryer.CondensateTotalizer", 1_800_000_000.0, 812.5)]
        (tmp_path / "mqtt-password").write_text("not-it\n")  # the environment wins over the file
        monkeypatch.setenv(MQTT_PASSWORD_ENV, SECRET)
        got = await _receives(s, port, ca, 813.0)
        assert [x.value for x in got] == [813.0]


async def _down(s: MqttSettings) -> tuple[MqttCollector, list[str]]:
    """Run the collector until it has failed three times; it must still be running (no crash)."""
    c = MqttCollector(s, lambda _: None, source="uns")
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(c.run())
        await asyncio.wait_for(until(lambda: c.reconnects >= 3), 30)
        assert not task.done()  # retrying, not crashed
        task.cancel()
    assert c.health().state is not ConnState.CONNECTED and c.health().samples == {}
    return c, source_problems(reported([c]), {"uns": c.last_error})


async def test_a_wrong_password_an_unknown_ca_or_no_password_is_that_source_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with tls_broker(tmp_path) as (port, s, _, other):
        head = rf"source uns: (backoff|connecting) \(broker mqtts://127\.0\.0\.1:{port}: "
        monkeypatch.setenv(MQTT_PASSWORD_ENV, "wrong-pw")
        c, problems = await _down(s)
        assert len(problems) == 1 and re.match(head + f"the broker refused user '{USER}'", problems[0]), problems
        assert f"hint: check username and the password in {MQTT_PASSWORD_ENV} or password_file" in problems[0]
        assert "wrong-pw" not in problems[0]  # the password is never in an error
        monkeypatch.setenv(MQTT_PASSWORD_ENV, SECRET)
        c, problems = await _down(replace(s, ca_file=other))
        assert len(problems) == 1 and re.match(
            head + f"TLS: the broker's certificate is not trusted by ca_file {other}", problems[0]
        )
        assert "CERTIFICATE_VERIFY_FAILED" in problems[0] and "hint: ca_file = the CA that signed" in problems[0]
        monkeypatch.delenv(MQTT_PASSWORD_ENV)
        c, problems = await _down(replace(s, password_file=None))
        assert len(problems) == 1 and re.match(head + f"source uns: broker user '{USER}' has no password", problems[0])
        assert c.reconnects >= 3
