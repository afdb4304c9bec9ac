"""The CLI's data-exchange commands: `passport pact`, `passport export` and `pact client add`.

PACT v3 footprints, Catena-X and Battery Pass documents of a lot or a shipment, and the clients
(customers' systems) that may fetch footprints over `serve`'s PACT API (docs/data-exchange.md).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from monitor.cli.data import DEFAULT_PLANT, resolve_path, write_document

EXPORT_FORMATS = ("catenax-recycling", "batterypass-circularity")


def _store_options(p: argparse.ArgumentParser) -> None:
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--data-dir", type=Path, help="a data directory (its blackmass.db is the store)")
    where.add_argument("--store", help="store URL (sqlite:///path or postgresql://user@host:port/db)")


def add_passport_exchange(psub: Any) -> None:
    """`passport pact` and `passport export` beside the signed passports."""
    pa = psub.add_parser("pact", help="the PACT v3 ProductFootprint of a lot or shipment (issued in the store)")
    ex = psub.add_parser("export", help="Catena-X or Battery Pass data of a lot or shipment")
    ex.add_argument("--format", required=True, choices=EXPORT_FORMATS)
    ex.add_argument("--sender-bpns", help="Catena-X: our site's BPNS (BPNS + 12 letters/digits)")
    ex.add_argument("--receiver-bpns", help="Catena-X: the customer's site BPNS")
    for p in (pa, ex):
        p.add_argument("kind", choices=("lot", "shipment"))
        p.add_argument("id", metavar="ID")
        _store_options(p)
        p.add_argument("--out", required=True, help="file, or - for standard output")
        p.add_argument("--config", default=DEFAULT_PLANT, help="plant or serve TOML with [pact] and [passport]")
        p.add_argument("--seeds", default="seeds", help="the grade table's folder (carbon content fallback)")
        p.add_argument("--line", help="the line, where a lot id exists on several")


def add_pact_commands(sub: Any) -> None:
    """`pact client add`: a customer's system that may fetch its footprints."""
    pc = sub.add_parser("pact", help="PACT v3 API clients (docs/data-exchange.md)")
    psub = pc.add_subparsers(dest="pact_cmd", required=True)
    cl = psub.add_parser("client", help="clients of the PACT API")
    csub = cl.add_subparsers(dest="client_cmd", required=True)
    add = csub.add_parser("add", help="register a client; prints its id and secret once (the store keeps a hash)")
    add.add_argument("name", help="a name for the client, e.g. acme-erp")
    add.add_argument("--customer", required=True, help="whose footprints it sees (shipment create --customer)")
    add.add_argument("--events-url", default="", help="the customer's https:// PACT events endpoint (optional)")
    _store_options(add)


def _context(a: argparse.Namespace) -> Any:
    from monitor.accounting.footprints import FootprintContext  # noqa: PLC0415 - loads with the command
    from monitor.accounting.seeds import load_feed_grades  # noqa: PLC0415
    from monitor.config.serve import load_serve_config  # noqa: PLC0415

    path = resolve_path(a.config)
    cfg = load_serve_config(path if path.exists() or a.config != DEFAULT_PLANT else None)
    seeds = resolve_path(a.seeds)
    return FootprintContext(
        passport=cfg.passport, pact=cfg.pact, grades=load_feed_grades(seeds) if seeds.exists() else None
    )


def _parties(a: argparse.Namespace, domain: str) -> Any:
    from monitor.errors import InputError  # noqa: PLC0415
    from monitor.passport.catenax import BPNS, UNCONFIGURED_BPNS, Parties  # noqa: PLC0415

    given = {"--sender-bpns": a.sender_bpns, "--receiver-bpns": a.receiver_bpns}
    for flag, value in given.items():
        if value is not None and not BPNS.match(value):
            raise InputError(flag, f"expected BPNS and 12 letters or digits, got {value!r}", "e.g. BPNS000000000001")
    sender, receiver = a.sender_bpns or UNCONFIGURED_BPNS, a.receiver_bpns or UNCONFIGURED_BPNS
    return Parties(sender_bpns=sender, receiver_bpns=receiver, operator_bpns=sender, domain=domain)


def cmd_passport_exchange(a: argparse.Namespace) -> int:
    from monitor.accounting import footprints  # noqa: PLC0415
    from monitor.passport.issue import data_store  # noqa: PLC0415

    ctx = _context(a)
    with data_store(a.data_dir, a.store) as store:
        if a.passport_cmd == "pact":
            doc = footprints.issue(store, a.kind, a.id, ctx, now=time.time(), line=a.line)
            what = f"PACT footprint {doc['id']} ({doc['status']})"
        else:
            from monitor.accounting.exports import export_document  # noqa: PLC0415

            parties = _parties(a, ctx.pact.domain)
            doc = export_document(store, a.format, a.kind, a.id, ctx, now=time.time(), line=a.line, parties=parties)
            what = f"{a.format} document"
    write_document(doc, a.out)
    if a.out != "-":
        print(f"{a.kind} {a.id}: {what} -> {a.out}")
    return 0


def cmd_pact(a: argparse.Namespace) -> int:
    from monitor.passport.issue import data_store  # noqa: PLC0415
    from monitor.serve.pact_auth import new_client  # noqa: PLC0415

    with data_store(a.data_dir, a.store) as store:
        client, secret = new_client(a.name, a.customer, events_url=a.events_url, now=time.time())
        store.add_pact_client(client)
    print(f"client_id {client.client_id}")
    print(f"client_secret {secret}")
    print(f"customer {client.customer} (shown once: the store keeps only a hash of the secret)")
    return 0
