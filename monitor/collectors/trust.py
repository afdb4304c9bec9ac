"""The server certificates the collector trusts: a trust list laid out as OPC UA Part 12 (F.1) does.

    PKI/trusted/certs/   certificates trusted directly, or CA certificates a server's must chain to
    PKI/rejected/certs/  certificates refused, by thumbprint: an operator moves one to trusted/ to accept it

PKI is [opcua.security]'s client certificate's folder unless `pki` names another. A certificate
is trusted when it is in trusted/certs itself (a pin) or is issued, and signed, by one there;
either way it must be within its validity period.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

log = logging.getLogger(__name__)

CERT_SUFFIXES = (".der", ".pem", ".crt", ".cer")


def thumbprint(der: bytes) -> str:
    """The OPC UA thumbprint: SHA-1 of the DER certificate, in hex (Part 6 §6.2.3)."""
    return hashlib.sha1(der, usedforsecurity=False).hexdigest()


def _load(data: bytes) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data else x509.load_der_x509_certificate(data)
    except ValueError:
        return None


def trusted_certificates(pki: Path) -> list[x509.Certificate]:
    folder = pki / "trusted" / "certs"
    if not folder.is_dir():
        return []
    out = []
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() in CERT_SUFFIXES and p.is_file():
            cert = _load(p.read_bytes())
            if cert is None:
                log.warning("%s: not a certificate; ignored in the trust list", p)
            else:
                out.append(cert)
    return out


def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def why_untrusted(der: bytes, pki: Path, now: dt.datetime | None = None) -> str | None:
    """None when the certificate is trusted, else why not (in words for an operator)."""
    cert = _load(der)
    if cert is None:
        return "not a readable X.509 certificate"
    now = now or dt.datetime.now(dt.UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        return f"outside its validity ({cert.not_valid_before_utc:%Y-%m-%d} to {cert.not_valid_after_utc:%Y-%m-%d})"
    for t in trusted_certificates(pki):
        if t.public_bytes(serialization.Encoding.DER) == der or _issued_by(cert, t):
            return None
    return f"neither in nor issued by a certificate in {pki / 'trusted' / 'certs'}"


def subject(der: bytes) -> str:
    cert = _load(der)
    return cert.subject.rfc4514_string() if cert is not None else "?"


def _store(der: bytes, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True, mode=0o750)
    path = folder / f"{thumbprint(der)}.der"
    if not path.exists():
        tmp = folder / f".{path.name}.tmp"
        tmp.write_bytes(der)
        os.replace(tmp, path)
    return path


def reject(der: bytes, pki: Path) -> Path:
    """Keep a refused certificate in PKI/rejected/certs/ so an operator can look and move it."""
    return _store(der, pki / "rejected" / "certs")


def pin(der: bytes, pki: Path) -> Path:
    """Trust this certificate itself (what `blackmass certs trust` does after confirmation)."""
    return _store(der, pki / "trusted" / "certs")
