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
from monitor.collectors.trust import reject, subject, thumbprint, why_untrusted
from monitor.collectors.wire_fix import client as new_client
from monitor.errors import CollectorError, InputError

__all__ = ["CLIENT_URI", "PASSWORD_ENV", "USER_ENV", "Credentials", "SecuritySettings", "credentials"]


def fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()[:16]


_NONE_URI = security_policies.SecurityPolicyNone.URI


def _encrypts_password(endpoint: ua.EndpointDescription) -> bool:
    """The endpoint's UserName token policy encrypts the password (an empty URI means the channel's)."""
    channel = endpoint.SecurityPolicyUri
    for tok in endpoint.UserIdentityTokens or []:
        if tok.TokenType == ua.UserTokenType.UserName:
            uri = tok.SecurityPolicyUri or channel
            return bool(uri) and uri != _NONE_URI
    return False


def _check_password_safe(url: str, endpoints: list[ua.EndpointDescription], policy_uri: str, mode: object) -> None:
    """A password goes only over SignAndEncrypt or in a token the server's policy encrypts."""
    chosen = [e for e in endpoints if e.SecurityPolicyUri == policy_uri and e.SecurityMode == mode]
    if mode == ua.MessageSecurityMode.SignAndEncrypt or any(_encrypts_password(e) for e in chosen):
        return
    raise CollectorError(
        f"{url}: the password would travel in clear text (channel {policy_uri.rsplit('#', 1)[-1]}, and the "
        "server's UserName token policy does not encrypt it); refusing to send it (hint: set [opcua.security] "
        "policy = 'Basic256Sha256' and mode = 'SignAndEncrypt', or connect anonymously)"
    )


def _server_identity(url: str, sec: SecuritySettings, offered: bytes) -> None:
    """The server's certificate is the pinned one, or chains to the trust list; else refused."""
    if sec.server_certificate is not None:
        return  # compared against the pinned file by the caller
    assert sec.certificate is not None
    pki = sec.pki or sec.certificate.parent
    why = why_untrusted(offered, pki)
    if why is None:
        return
    kept = reject(offered, pki)
    raise CollectorError(
        f"{url}: server certificate {thumbprint(offered)} ({subject(offered)}) is not trusted: {why}; "
        f"refusing to connect; it was copied to {kept} (hint: if it is your PLC's, compare the thumbprint on "
        f"its display and move the file to {pki / 'trusted' / 'certs'}, or run `blackmass certs trust "
        f"--endpoint {url} --pki {pki}`)"
    )


async def secure(client: Client, sec: SecuritySettings, env: Mapping[str, str] = os.environ) -> None:
    """Apply the security settings to a client before it connects: the server proves who it is
    (pinned certificate or trust list) before a password is sent."""
    client.application_uri = sec.application_uri
    creds = credentials(sec, env)
    url = client.server_url.geturl()
    if sec.policy == "None":
        if creds is not None:
            endpoints = await client.connect_and_get_server_endpoints()
            _check_password_safe(url, endpoints, _NONE_URI, ua.MessageSecurityMode.None_)
            client.set_user(creds.username)
            client.set_password(creds.password)
        return
    assert sec.certificate is not None and sec.private_key is not None
    mode = getattr(ua.MessageSecurityMode, sec.mode)
    policy = security_policies.SecurityPolicyBasic256Sha256
    endpoints = await client.connect_and_get_server_endpoints()
    offered = [e.ServerCertificate for e in endpoints if e.SecurityPolicyUri == policy.URI and e.SecurityMode == mode]
    if not offered:
        raise CollectorError(f"{url}: offers no {sec.policy} {sec.mode} endpoint")
    if sec.server_certificate is not None:
        trusted = uacrypto.der_from_x509(await uacrypto.load_certificate(sec.server_certificate))
        if offered[0] != trusted:
            raise CollectorError(
                f"{url}: server certificate {fingerprint(offered[0])} is not the trusted "
                f"one ({fingerprint(trusted)}, {sec.server_certificate}); refusing to connect "
                "(hint: replace [opcua.security] server_certificate if the server's certificate was renewed)"
            )
    _server_identity(url, sec, offered[0])
    if creds is not None:
        _check_password_safe(url, endpoints, policy.URI, mode)
        client.set_user(creds.username)
        client.set_password(creds.password)
    try:
        await client.set_security(
            policy, str(sec.certificate), str(sec.private_key), server_certificate=offered[0], mode=mode
        )
    except (OSError, ValueError) as exc:
        raise CollectorError(f"cannot load the client certificate or key: {exc}") from exc


async def server_certificates(url: str, timeout_s: float = 10.0) -> list[bytes]:
    """The distinct certificates a server's secure endpoints present (GetEndpoints needs no session)."""
    client = new_client(url, timeout=timeout_s)
    try:
        endpoints = await client.connect_and_get_server_endpoints()
    except (OSError, TimeoutError, ua.UaError) as exc:
        raise CollectorError(f"{url}: cannot read the server's endpoints: {exc}") from exc
    return list(dict.fromkeys(e.ServerCertificate for e in endpoints if e.ServerCertificate))


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
    for p in (cert_path, key_path):
        if p.exists() or p.is_symlink():
            raise InputError(str(p), "already exists; not overwritten", "move it away or choose another --out/--name")
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(dump_private_key_as_pem(key))
    fd = os.open(cert_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(cert.public_bytes(serialization.Encoding.DER))
    return cert_path, key_path
