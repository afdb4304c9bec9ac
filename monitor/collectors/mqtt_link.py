"""Reaching an MQTT broker: its URL, TLS, the password (environment or a secrets file), a persistent session."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from monitor.collectors.secrets import read_secret
from monitor.collectors.source_settings import MqttSettings
from monitor.errors import CollectorError, ConfigError

if TYPE_CHECKING:  # aiomqtt (and paho) load only when a broker is reached: config checks stay fast
    import ssl  # (and ssl: ~10 ms of every command that reads the config, replay's start-up included)

    import aiomqtt

    from monitor.collectors.mqtt_session import SessionClient

MQTT_PASSWORD_ENV = "BLACKMASS_MQTT_PASSWORD"
_DEFAULT_PORT = {"mqtt": 1883, "mqtts": 8883}
# CONNACK codes refusing the user: MQTT 3.1.1 4 (bad user name or password), 5 (not authorized); 5.0 134, 135
_REFUSED_USER = {4, 5, 134, 135}


def check_broker(url: str, where: str, field: str) -> tuple[str, int, bool]:
    """(host, port, tls) of an mqtt:// or mqtts:// URL; ConfigError naming the field otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in _DEFAULT_PORT or not parts.hostname:
        raise ConfigError(where, field, "an mqtt://host:port or mqtts://host:port URL", url)
    if parts.username or parts.password:
        raise ConfigError(
            where,
            field,
            "a URL without credentials",
            "user:password@",
            f"username = ...; the password in {MQTT_PASSWORD_ENV}",
        )
    try:
        port = parts.port or _DEFAULT_PORT[parts.scheme]
    except ValueError as exc:
        raise ConfigError(where, field, "a port number 1-65535", url) from exc
    return parts.hostname, port, parts.scheme == "mqtts"


def password(settings: MqttSettings, source: str, env: Mapping[str, str] = os.environ) -> str | None:
    """The user's password: BLACKMASS_MQTT_PASSWORD, else the secrets file; CollectorError when neither."""
    if settings.username is None:
        return None
    if env.get(MQTT_PASSWORD_ENV):
        return env[MQTT_PASSWORD_ENV]
    if settings.password_file is not None:
        return read_secret(settings.password_file, "MQTT password").decode("utf-8").strip()
    raise CollectorError(
        f"source {source}: broker user {settings.username!r} has no password "
        f"(hint: set {MQTT_PASSWORD_ENV} or point password_file at a secrets file)"
    )


def tls_context(settings: MqttSettings, source: str) -> ssl.SSLContext:
    """TLS trusting `ca_file` (else the system's CAs); CollectorError naming the file when it is no CA."""
    import ssl  # noqa: PLC0415 - see the import note at the top

    ca = settings.ca_file
    try:
        return ssl.create_default_context(cafile=str(ca) if ca else None)
    except (OSError, ssl.SSLError) as exc:
        raise CollectorError(
            f"source {source}: ca_file {ca}: expected a PEM CA certificate, got: {exc} "
            "(hint: the CA that signed the broker's certificate, as PEM)"
        ) from exc


def explain(exc: Exception, settings: MqttSettings) -> str:
    """A broker's refusal in plain words: which user or which CA, and what to check."""
    import ssl  # noqa: PLC0415 - see the import note at the top

    text = str(exc)
    if isinstance(exc, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in text:
        trusted = f"ca_file {settings.ca_file}" if settings.ca_file else "the system's CAs"
        return (
            f"TLS: the broker's certificate is not trusted by {trusted}: {text} "
            "(hint: ca_file = the CA that signed the broker's certificate)"
        )
    code = getattr(getattr(exc, "rc", None), "value", getattr(exc, "rc", None))
    if code in _REFUSED_USER:
        return (
            f"the broker refused user {settings.username!r}: {text} "
            f"(hint: check username and the password in {MQTT_PASSWORD_ENV} or password_file)"
        )
    return text


def client(settings: MqttSettings, source: str, will: aiomqtt.Will | None = None) -> SessionClient:
    """A client with a persistent session under a stable id: QoS 1 messages wait for us while we are away."""
    from monitor.collectors.mqtt_session import SessionClient  # noqa: PLC0415 - lazy: only a source that runs pays

    host, port, tls = check_broker(settings.broker, f"source {source}", "broker")
    return SessionClient(
        host,
        port,
        username=settings.username,
        password=password(settings, source),
        identifier=settings.client_id or f"blackmass-{source}",
        clean_session=False,
        keepalive=settings.keepalive_s,
        will=will,
        tls_context=tls_context(settings, source) if tls else None,
        timeout=settings.timeout_s,
    )


def json_value(payload: bytes, value_field: str, ts_field: str) -> tuple[float | str | None, float | None]:
    """(value, epoch seconds or None) of a plain MQTT message: {"value": v, "ts": t} or a bare number.

    A ts above 1e11 is taken as milliseconds; an ISO 8601 text is read as such."""
    try:
        doc = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"not JSON: {payload[:40]!r}") from exc
    if isinstance(doc, int | float) and not isinstance(doc, bool):
        return float(doc), None
    if not isinstance(doc, dict) or value_field not in doc:
        raise ValueError(f'expected {{"{value_field}": ..., "{ts_field}": ...}} or a number, got {payload[:60]!r}')
    v = doc[value_field]
    value = v if isinstance(v, str) else (float(v) if isinstance(v, int | float) else None)
    t = doc.get(ts_field)
    if isinstance(t, int | float) and not isinstance(t, bool):
        return value, float(t) / 1000.0 if t > 1e11 else float(t)  # noqa: PLR2004 - ms vs s
    if isinstance(t, str):
        from datetime import UTC, datetime  # noqa: PLC0415 - the rare case

        dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
        return value, (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()
    return value, None
