"""OPC-UA security settings and credentials: plain data, no OPC-UA library (the config loads fast).

Secrets never live in the config file: the password comes from the environment
(BLACKMASS_OPCUA_PASSWORD) or from a secrets file named in the config, and every repr masks it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from monitor.collectors.secrets import read_secret
from monitor.errors import CollectorError, ConfigError, InputError

PASSWORD_ENV = "BLACKMASS_OPCUA_PASSWORD"
USER_ENV = "BLACKMASS_OPCUA_USER"
POLICIES = ("None", "Basic256Sha256")
MODES = ("None", "Sign", "SignAndEncrypt")
CLIENT_URI = "urn:blackmass:monitor"


@dataclass(frozen=True, kw_only=True)
class SecuritySettings:
    """[opcua.security]: paths and names only; the password is looked up when connecting."""

    policy: str = "None"
    mode: str = "None"
    certificate: Path | None = None  # the monitor's certificate (DER or PEM)
    private_key: Path | None = None  # its private key (PEM)
    server_certificate: Path | None = None  # when set, any other server certificate is refused
    username: str | None = None  # or BLACKMASS_OPCUA_USER
    password_file: Path | None = None  # or BLACKMASS_OPCUA_PASSWORD
    application_uri: str = CLIENT_URI
    pki: Path | None = None  # trusted/certs and rejected/certs (OPC UA Part 12); default: the certificate's folder

    def check(self, where: str) -> None:
        if self.policy not in POLICIES:
            raise ConfigError(where, "opcua.security.policy", f"one of {', '.join(POLICIES)}", self.policy)
        if self.mode not in MODES:
            raise ConfigError(where, "opcua.security.mode", f"one of {', '.join(MODES)}", self.mode)
        if (self.policy == "None") != (self.mode == "None"):
            raise ConfigError(
                where, "opcua.security.mode", "None exactly when policy is None", f"{self.policy}/{self.mode}"
            )
        if self.policy != "None" and (self.certificate is None or self.private_key is None):
            raise ConfigError(
                where,
                "opcua.security.certificate",
                "a client certificate and private_key when a security policy is set",
                None,
                "make them with `blackmass certs --out DIR`",
            )


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password='***')"


def credentials(sec: SecuritySettings, env: Mapping[str, str] = os.environ) -> Credentials | None:
    """Username and password from the environment or the secrets file; None for anonymous."""
    user = sec.username or env.get(USER_ENV)
    if not user:
        return None
    password = env.get(PASSWORD_ENV)
    if password is None and sec.password_file is not None:
        try:
            password = read_secret(sec.password_file, "OPC-UA password").decode("utf-8").rstrip("\r\n")
        except (InputError, UnicodeDecodeError) as exc:
            raise CollectorError(f"OPC-UA password file: {exc}") from None
    if password is None:
        raise CollectorError(
            f"OPC-UA user {user!r} has no password: set {PASSWORD_ENV} or [opcua.security] password_file"
        )
    return Credentials(user, password)


def check_endpoint(endpoint: str, where: str, field: str = "opcua.endpoint") -> None:
    """Refuse credentials in an opc.tcp:// URL, as in the config: they would be logged at every reconnect."""
    netloc = urlsplit(endpoint).netloc
    userinfo = netloc.rpartition("@")[0]
    if ":" in unquote(userinfo):
        host = netloc.rpartition("@")[2]
        raise ConfigError(
            where,
            field,
            "an endpoint URL without a password",
            f"opc.tcp://{unquote(userinfo).split(':', 1)[0]}:***@{host}/…",
            f"name the user in [opcua.security] username and the password in {PASSWORD_ENV} or password_file",
        )
