"""Reaching an MQTT broker: its URL, TLS, the password (environment or a secrets file), a persistent session."""

from __future__ import annotations

import json
import os
import ssl
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from monitor.collectors.secrets import read_secret
from monitor.collectors.source_settings import MqttSettings
from monitor.errors import ConfigError

if TYPE_CHECKING:  # aiomqtt (and paho) load only when a broker is reached: config checks stay fast
    import aiomqtt

    from monitor.collectors.mqtt_session import SessionClient

MQTT_PASSWORD_ENV = "BLACKMASS_MQTT_PASSWORD"
_DEFAULT_PORT = {"mqtt": 1883, "mqtts": 8883}


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


def password(settings: MqttSettings, env: Mapping[str, str] = os.environ) -> str | None:
    if settings.username is None:
        return None
    if env.get(MQTT_PASSWORD_ENV):
        return env[MQTT_PASSWORD_ENV]
    if settings.password_file is not None:
        return read_secret(settings.password_file, "MQTT password").decode("utf-8").strip()
    return None


def client(settings: MqttSettings, source: str, will: aiomqtt.Will | None = None) -> SessionClient:
    """A client with a persistent session under a stable id: QoS 1 messages wait for us while we are away."""
    from monitor.collectors.mqtt_session import SessionClient  # noqa: PLC0415 - lazy: only a source that runs pays

    host, port, tls = check_broker(settings.broker, f"source {source}", "broker")
    context = None
    if tls:
        context = ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
    return SessionClient(
        host,
        port,
        username=settings.username,
        password=password(settings),
        identifier=settings.client_id or f"blackmass-{source}",
        clean_session=False,
        keepalive=settings.keepalive_s,
        will=will,
        tls_context=context,
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
