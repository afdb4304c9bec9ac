"""The CLI's passport and shipment commands: keygen, lot, shipment, verify; shipment create."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitor.cli.data import DEFAULT_PLANT, resolve_path, write_document
from monitor.cli.exchange import add_passport_exchange, cmd_passport_exchange
from monitor.errors import InputError
from monitor.passport.settings import KEY_ENV

if TYPE_CHECKING:  # start-up: see the import note in monitor/cli/data.py
    from monitor.passport.settings import PassportSettings


def add_commands(sub: Any) -> None:
    pp = sub.add_parser("passport", help="signed lot and shipment passports (docs/passports.md)")
    psub = pp.add_subparsers(dest="passport_cmd", required=True)
    kg = psub.add_parser("keygen", help="make an Ed25519 key pair: DIR/passport.key and DIR/passport.pub")
    kg.add_argument("--out", required=True, type=Path)
    for name, what in (("lot", "BATCH_ID"), ("shipment", "SHIPMENT_ID")):
        p = psub.add_parser(name, help=f"the signed passport of a {name} (key: {KEY_ENV} or [passport] key)")
        p.add_argument("id", metavar=what)
        _store_options(p)
        p.add_argument("--out", required=True, help="file, or - for standard output")
        p.add_argument("--config", default=DEFAULT_PLANT, help="plant TOML with [passport] (default config/plant.toml)")
        if name == "lot":
            p.add_argument("--line", help="the line, where a batch id exists on several")
    add_passport_exchange(psub)
    ver = psub.add_parser("verify", help="check a passport's signature; names the first field that was changed")
    ver.add_argument("file", type=Path)
    ver.add_argument("--key", required=True, type=Path, help="the signer's passport.pub")

    sp = sub.add_parser("shipment", help="record shipments of black-mass bags")
    ssub = sp.add_subparsers(dest="shipment_cmd", required=True)
    cr = ssub.add_parser("create", help="record a shipment; every bag known and unshipped, or nothing changes")
    _store_options(cr)
    cr.add_argument("--id", required=True, dest="shipment_id")
    cr.add_argument("--customer", default="", help="who bought it: only this customer's PACT clients see it")
    bags = cr.add_mutually_exclusive_group(required=True)
    bags.add_argument("--bags", type=Path, help="a file with one bag id a line (# comments allowed)")
    bags.add_argument("--bag", nargs="+", action="extend", help="bag ids (the option may repeat)")


def _store_options(p: argparse.ArgumentParser) -> None:
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--data-dir", type=Path, help="a data directory (its blackmass.db is the store)")
    where.add_argument("--store", help="store URL (sqlite:///path or postgresql://user@host:port/db)")


def _settings(config: str) -> PassportSettings:
    from monitor.config import load_config  # noqa: PLC0415 - start-up: see monitor/cli/data.py

    return load_config(resolve_path(config)).passport


def _bag_list(a: argparse.Namespace) -> list[str]:
    if a.bag:
        return list(a.bag)
    try:
        lines = a.bags.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(str(a.bags), f"cannot read the bag list: {exc}") from None
    return [s for s in (line.split("#", 1)[0].strip() for line in lines) if s]


def cmd_passport(a: argparse.Namespace) -> int:
    from monitor.passport import issue  # noqa: PLC0415 - the crypto stack loads only for these commands
    from monitor.passport.ijson import NotIJson, load_ijson  # noqa: PLC0415
    from monitor.passport.signing import keygen, load_public_key, verify  # noqa: PLC0415

    if a.passport_cmd in ("pact", "export"):
        return cmd_passport_exchange(a)
    if a.passport_cmd == "keygen":
        key_path, pub_path, kid = keygen(a.out)
        print(
            f"key id {kid}\nprivate key {key_path} (mode 600: keep it on the signing machine)\npublic key  {pub_path}"
        )
        return 0
    if a.passport_cmd == "verify":
        try:
            text = a.file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(str(a.file), f"not a readable JSON passport: {exc}") from None
        try:
            doc = load_ijson(text, str(a.file))
        except NotIJson as exc:
            print(f"{a.file}: NOT VALID — {exc.problem}", file=sys.stderr)
            return 1
        if not isinstance(doc, dict):
            raise InputError(str(a.file), "expected a JSON object (a passport)")
        v = verify(doc, load_public_key(a.key))
        what = doc.get("batch_id") or doc.get("shipment_id") or "?"
        if v.valid:
            print(f"{a.file}: valid — {doc.get('passport_type')} {what}, {doc.get('status')}, signed by key {v.key_id}")
            return 0
        print(f"{a.file}: NOT VALID — {v.problem}", file=sys.stderr)
        return 1
    settings = _settings(a.config)
    private = issue.signing_key(settings)
    with issue.data_store(a.data_dir, a.store) as store:
        if a.passport_cmd == "lot":
            doc = issue.lot_document(store, a.id, settings, private, now=time.time(), line=a.line)
        else:
            doc = issue.shipment_document(store, a.id, settings, private, now=time.time())
    write_document(doc, a.out)
    if a.out != "-":
        print(f"{doc['passport_type']} passport {a.id} ({doc['status']}) -> {a.out}", file=sys.stderr)
    return 0


def cmd_shipment(a: argparse.Namespace) -> int:
    from monitor.passport.issue import data_store  # noqa: PLC0415 - the store engines load with the command

    bags = _bag_list(a)
    with data_store(a.data_dir, a.store) as store:
        s = store.create_shipment(a.shipment_id, bags, customer=a.customer)
    lots = sorted({b.batch_id for b in s.bags})
    net = sum(b.net_kg for b in s.bags)
    to = f" to {s.customer}" if s.customer else ""
    print(f"shipment {s.shipment_id}{to}: {len(s.bags)} bags, {net:.1f} kg net, from {', '.join(lots)}")
    return 0
