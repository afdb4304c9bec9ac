"""Ed25519 signatures on passports that anyone holding our public key can check.

A signed document carries a `signature` object: algorithm, key id, the canonicalisation used, a
SHA-256 digest of every other top-level field, and `value`, the Ed25519 signature (base64) over
the RFC 8785 canonical bytes of the whole document without `signature.value`. The signature alone
decides validity; the per-field digests only let the verifier name the field that was changed.
The private key never appears in logs, errors or documents.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from monitor.collectors.secrets import read_secret
from monitor.errors import InputError
from monitor.passport.canonical import canonical

log = logging.getLogger(__name__)

ALGORITHM = "Ed25519"
CANONICALIZATION = "RFC8785"
KEY_FILE, PUB_FILE = "passport.key", "passport.pub"


def key_id(public: Ed25519PublicKey) -> str:
    """16 hex digits of the SHA-256 of the raw 32-byte public key: names the key, reveals nothing."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def keygen(out: Path) -> tuple[Path, Path, str]:
    """A new key pair: out/passport.key (PKCS#8 PEM, mode 600) and out/passport.pub (PEM).

    An existing key is never overwritten: losing it would orphan every passport it signed."""
    key_path, pub_path = out / KEY_FILE, out / PUB_FILE
    for p in (key_path, pub_path):
        if p.exists():
            raise InputError(str(p), "already exists; not overwritten", "move it away or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    public = private.public_key()
    fd = os.open(pub_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)  # public: anyone may verify
    with os.fdopen(fd, "wb") as f:
        f.write(public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return key_path, pub_path, key_id(public)


def load_private_key(path: Path, named_by: str) -> Ed25519PrivateKey:
    """The signing key; errors name the path and who named it, never the key's content."""
    where = f"{path} (from {named_by})"
    try:
        data = read_secret(path, "signing key")
    except InputError as exc:
        raise InputError(where, exc.problem, exc.hint or "blackmass passport keygen --out DIR") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise InputError(where, "not an unencrypted PEM private key", "use the passport.key keygen wrote") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError(
            where, f"expected an Ed25519 key, got {type(key).__name__}", "blackmass passport keygen"
        ) from None
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(str(path), f"cannot read the public key: {exc.strerror}") from None
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        raise InputError(str(path), "not a PEM public key", "use the passport.pub keygen wrote") from None
    if not isinstance(key, Ed25519PublicKey):
        raise InputError(str(path), f"expected an Ed25519 public key, got {type(key).__name__}")
    return key


def _digest(value: Any) -> str:
    return "sha256:" + hashlib.sha256(canonical(value)).hexdigest()


def sign(document: dict[str, Any], private: Ed25519PrivateKey) -> dict[str, Any]:
    """The document with its `signature` object (any earlier signature is replaced)."""
    body = {k: v for k, v in document.items() if k != "signature"}
    block = {
        "algorithm": ALGORITHM,
        "canonicalization": CANONICALIZATION,
        "key_id": key_id(private.public_key()),
        "fields": {k: _digest(v) for k, v in body.items()},
    }
    value = private.sign(canonical({**body, "signature": block}))
    log.debug("signed a passport with key %s", block["key_id"])
    return {**body, "signature": {**block, "value": base64.b64encode(value).decode("ascii")}}


@dataclass(frozen=True)
class Verdict:
    valid: bool
    key_id: str
    problem: str = ""  # names the first field that differs, or what else is wrong
    field: str = ""


def verify(document: dict[str, Any], public: Ed25519PublicKey) -> Verdict:
    """Check a signed document against a public key; never raises on a bad document."""
    kid = key_id(public)
    sig = document.get("signature")
    if not isinstance(sig, dict) or not isinstance(sig.get("value"), str) or not isinstance(sig.get("fields"), dict):
        return Verdict(False, kid, "no signature object with 'value' and 'fields'", "signature")
    if sig.get("algorithm") != ALGORITHM or sig.get("canonicalization") != CANONICALIZATION:
        want = f"{ALGORITHM}/{CANONICALIZATION}"
        got = f"{sig.get('algorithm')}/{sig.get('canonicalization')}"
        return Verdict(False, kid, f"signature scheme {got}, expected {want}", "signature")
    if sig.get("key_id") != kid:
        return Verdict(False, kid, f"signed by key {sig.get('key_id')}, this public key is {kid}", "signature.key_id")
    body = {k: v for k, v in document.items() if k != "signature"}
    fields: dict[str, Any] = sig["fields"]
    changed = _first_changed(body, fields)
    try:
        raw = base64.b64decode(sig["value"], validate=True)
        public.verify(raw, canonical({**body, "signature": {k: v for k, v in sig.items() if k != "value"}}))
    except (InvalidSignature, ValueError):
        if changed:
            return Verdict(False, kid, f"field '{changed}' differs from what was signed", changed)
        return Verdict(False, kid, "the signature block differs from what was signed", "signature")
    return Verdict(True, kid)


def _first_changed(body: dict[str, Any], fields: dict[str, Any]) -> str:
    """The first field (document order, then signed order) whose digest differs, added or missing."""
    for k, v in body.items():
        try:
            digest = _digest(v)
        except ValueError:
            return k
        if fields.get(k) != digest:
            return k
    return next((k for k in fields if k not in body), "")
