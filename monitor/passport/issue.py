"""Issue signed passports from a data directory's store (the CLI and the API share this)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from monitor.core.results import BatchResult
from monitor.errors import InputError, NotFoundError
from monitor.passport.lot import Issuer, lot_passport
from monitor.passport.precision import human_numbers
from monitor.passport.settings import KEY_ENV, PassportSettings
from monitor.passport.shipment import shipment_passport
from monitor.passport.signing import key_id, load_private_key, sign
from monitor.store.query import BatchQuery
from monitor.store.sql import Store
from monitor.store.url import open_store, store_url

log = logging.getLogger(__name__)


def signing_key(settings: PassportSettings) -> Ed25519PrivateKey:
    """The private key named by BLACKMASS_PASSPORT_KEY or [passport] key (only its id is ever logged)."""
    path, named_by = settings.key_path()
    if path is None:
        raise InputError(
            "passport signing key",
            f"not configured: set {KEY_ENV} or [passport] key",
            "blackmass passport keygen --out DIR makes DIR/passport.key and DIR/passport.pub",
        )
    key = load_private_key(path, named_by)
    log.info("passport signing key %s loaded", key_id(key.public_key()))
    return key


def issuer(settings: PassportSettings) -> Issuer:
    return Issuer(plant=settings.plant, operator=settings.operator)


def find_lot(store: Store, batch_id: str, line: str | None = None) -> BatchResult:
    found = store.latest(BatchQuery.lot(batch_id, line))
    if not found:
        where = f"batch {batch_id!r}" + (f" on line {line!r}" if line else "")
        raise NotFoundError(where, f"not in the store {store.url}", "blackmass report --format csv lists the batch ids")
    if len(found) > 1:
        lines = ", ".join(r.line for r in found)
        raise InputError(f"batch {batch_id!r}", f"exists on several lines ({lines})", "say which with --line")
    return found[0]


def lot_document(
    store: Store,
    batch_id: str,
    settings: PassportSettings,
    key: Ed25519PrivateKey,
    *,
    now: float,
    line: str | None = None,
) -> dict[str, Any]:
    doc = lot_passport(find_lot(store, batch_id, line), issuer(settings), issued_at=now)
    return sign(human_numbers(doc), key)


def shipment_document(
    store: Store, shipment_id: str, settings: PassportSettings, key: Ed25519PrivateKey, *, now: float
) -> dict[str, Any]:
    shipment = store.shipment(shipment_id)
    lots = {}
    for line, bid in dict.fromkeys((b.line, b.batch_id) for b in shipment.bags):
        lots[(line, bid)] = find_lot(store, bid, line)
    assays = {bid: store.assays(bid) for _, bid in lots}
    doc = shipment_passport(shipment, lots, assays, issuer(settings), issued_at=now)
    return sign(human_numbers(doc), key)


def data_store(data_dir: Path | None, url: str | None = None) -> Store:
    """The store of a data directory (its blackmass.db) or named by URL; it must exist."""
    return open_store(store_url(url, data_dir, "--store"), where="--store/--data-dir", must_exist=True)
