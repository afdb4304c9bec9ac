"""OPC-UA security for the collector: certificates, the trusted server, and applying credentials."""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Mapping
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

from monitor.collectors.credentials import (
    CLIENT_URI,
    PASSWORD_ENV,
    USER_ENV,
    Credentials,
    SecuritySettings,
    credentials,
)
from monitor.errors import CollectorError

__all__ = ["CLIENT_URI", "PASSWORD_ENV", "USER_ENV", "Credentials", "SecuritySettings", "credentials"]


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
