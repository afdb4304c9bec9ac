"""OPC-UA security for the collector: certificates, the trusted server, and credentials.

Secrets never live in the config file: the password comes from the environment
(BLACKMASS_OPCUA_PASSWORD) or from a secrets file named in the config, and every repr masks it.
"""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from asyncua import Client, ua
from asyncua.crypto import security_policies, uacrypto
from asyncua.crypto.cert_gen import (
    dump_private_key_as_pem,
    generate_private_key,
    generate_self_signed_app_certificate,
)
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from monitor.errors import CollectorError, ConfigError

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
            password = sec.password_file.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise CollectorError(f"{sec.password_file}: cannot read the OPC-UA password file: {exc.strerror}") from exc
    if password is None:
        raise CollectorError(
            f"OPC-UA user {user!r} has no password: set {PASSWORD_ENV} or [opcua.security] password_file"
        )
    return Credentials(user, password)


def fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()[:16]


async def secure(client: Client, sec: SecuritySettings, env: Mapping[str, str] = os.environ) -> None:
    """Apply the security settings to a client before it connects."""
    client.application_uri = sec.application_uri
    creds = credentials(sec, env)
    if creds is not None:
        client.set_user(creds.username)
        client.set_password(creds.password)
    if sec.policy == "None":
        return
    assert sec.certificate is not None and sec.private_key is not None
    mode = getattr(ua.MessageSecurityMode, sec.mode)
    policy = security_policies.SecurityPolicyBasic256Sha256
    server_cert: bytes | None = None
    if sec.server_certificate is not None:
        trusted = uacrypto.der_from_x509(await uacrypto.load_certificate(sec.server_certificate))
        endpoints = await client.connect_and_get_server_endpoints()
        offered = [
            e.ServerCertificate for e in endpoints if e.SecurityPolicyUri == policy.URI and e.SecurityMode == mode
        ]
        if not offered:
            raise CollectorError(f"{client.server_url.geturl()}: offers no {sec.policy} {sec.mode} endpoint")
        if offered[0] != trusted:
            raise CollectorError(
                f"{client.server_url.geturl()}: server certificate {fingerprint(offered[0])} is not the trusted "
                f"one ({fingerprint(trusted)}, {sec.server_certificate}); refusing to connect "
                "(hint: replace [opcua.security] server_certificate if the server's certificate was renewed)"
            )
        server_cert = trusted
    try:
        await client.set_security(
            policy, str(sec.certificate), str(sec.private_key), server_certificate=server_cert, mode=mode
        )
    except (OSError, ValueError) as exc:
        raise CollectorError(f"cannot load the client certificate or key: {exc}") from exc


def make_certificate(out: Path, name: str, uri: str, *, server: bool = False, days: int = 730) -> tuple[Path, Path]:
    """A self-signed application certificate (DER) and its key (PEM) for OPC-UA, as out/name-cert.der."""
    out.mkdir(parents=True, exist_ok=True)
    key = generate_private_key()
    hosts = dict.fromkeys(["localhost", socket.gethostname()])
    cert = generate_self_signed_app_certificate(
        key,
        name,
        {"organizationName": "blackmass-monitor"},
        [x509.UniformResourceIdentifier(uri), *(x509.DNSName(h) for h in hosts)],
        [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH],
        days=days,
    )
    cert_path, key_path = out / f"{name}-cert.der", out / f"{name}-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    key_path.write_bytes(dump_private_key_as_pem(key))
    key_path.chmod(0o600)
    return cert_path, key_path
