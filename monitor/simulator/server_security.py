"""The simulator's OPC-UA security: Basic256Sha256 Sign/SignAndEncrypt, a client trust list and users.

It plays the part of a secured plant server so the monitor's security is tested against a real
counterpart, not a mock.
"""

from __future__ import annotations

import hmac
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asyncua import Server, ua
from asyncua.crypto.cert_gen import (
    dump_private_key_as_pem,
    generate_private_key,
    generate_self_signed_app_certificate,
)
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.crypto.truststore import TrustStore
from asyncua.crypto.validator import CertificateValidator, CertificateValidatorOptions
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

SERVER_URI = "urn:blackmass:simulator"


def _make_server_certificate(cert_path: Path, key_path: Path, days: int = 730) -> None:
    """A self-signed server certificate (DER) and key (PEM); the simulator's own, not the monitor's code."""
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    key = generate_private_key()
    hosts = dict.fromkeys(["localhost", socket.gethostname()])
    cert = generate_self_signed_app_certificate(
        key,
        "simulator",
        {"organizationName": "blackmass-simulator"},
        [x509.UniformResourceIdentifier(SERVER_URI), *(x509.DNSName(h) for h in hosts)],
        [ExtendedKeyUsageOID.SERVER_AUTH],
        days=days,
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    key_path.write_bytes(dump_private_key_as_pem(key))
    key_path.chmod(0o600)


@dataclass(frozen=True)
class ServerSecurity:
    certificate: Path
    private_key: Path
    trusted_clients: Path | None = None  # folder of client certificates; None: any client certificate
    users: Mapping[str, str] = field(default_factory=dict, repr=False)  # name -> password; empty: anonymous

    @classmethod
    def in_folder(cls, folder: Path, users: Mapping[str, str]) -> ServerSecurity:
        """folder/simulator-cert.der and -key.pem (made when missing), clients trusted from folder/trusted."""
        cert, key = folder / "simulator-cert.der", folder / "simulator-key.pem"
        if not (cert.exists() and key.exists()):
            _make_server_certificate(cert, key)
        trusted = folder / "trusted"
        return cls(cert, key, trusted if trusted.is_dir() and any(trusted.iterdir()) else None, dict(users))


class PasswordUsers:
    """Users by name and password (compared in constant time); no anonymous access."""

    def __init__(self, users: Mapping[str, str]) -> None:
        self._users = dict(users)

    def get_user(
        self, iserver: Any, username: str | None = None, password: str | None = None, certificate: Any = None
    ) -> User | None:
        if username is None or username not in self._users:
            return None
        if not hmac.compare_digest(self._users[username].encode(), (password or "").encode()):
            return None
        return User(role=UserRole.User, name=username)


def new_server(sec: ServerSecurity | None) -> Server:
    return Server(user_manager=PasswordUsers(sec.users)) if sec and sec.users else Server()  # type: ignore[arg-type]


async def apply(server: Server, sec: ServerSecurity | None) -> None:
    """Secure an initialised server (before start): no unsecured endpoint is left open."""
    if sec is None:
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        return
    server.set_security_policy(
        [ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt, ua.SecurityPolicyType.Basic256Sha256_Sign]
    )
    await server.set_application_uri(SERVER_URI)  # must match the URI in the server's certificate
    server.set_identity_tokens([ua.UserNameIdentityToken] if sec.users else [ua.AnonymousIdentityToken])
    await server.load_certificate(str(sec.certificate))
    await server.load_private_key(str(sec.private_key))
    if sec.trusted_clients is not None:
        store = TrustStore([sec.trusted_clients], [])
        await store.load()
        options = CertificateValidatorOptions.TRUSTED_VALIDATION | CertificateValidatorOptions.PEER_CLIENT
        server.set_certificate_validator(CertificateValidator(options, store))
