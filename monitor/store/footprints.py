"""Issued PACT footprints and the PACT clients allowed to read them, as tables of the batch store.

A footprint is issued once per content: asking again for a lot or shipment whose figures did not
change returns the stored document (same id); a change issues a new id whose `precedingPfIds`
names the previous one, and the previous one turns Deprecated (PACT v3: any change is a new id).
The documents themselves are built above the store (monitor/passport/pact.py); here they are text.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from monitor.errors import StoreError
from monitor.store.tx import StoreHalf

log = logging.getLogger(__name__)

FOOTPRINT_COLUMNS = "id, subject, seq, created_at, status, content_sha, doc_json"
CLIENT_COLUMNS = "client_id, name, customer, secret_hash, created_at, events_url"
# (id, preceding ids, created) -> the document's JSON text
Builder = Callable[[str, list[str], float], str]


@dataclass(frozen=True, slots=True)
class Issued:
    id: str
    subject: str
    doc_json: str
    new: bool  # issued by this call (not found unchanged)


@dataclass(frozen=True, slots=True)
class PactClient:
    client_id: str
    name: str
    customer: str
    secret_hash: str
    created_at: float
    events_url: str = ""


def _deprecated(doc_json: str) -> str:
    doc = json.loads(doc_json)
    doc["status"] = "Deprecated"
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


class FootprintTables(StoreHalf):
    """The footprint and client half of the store's interface (mixed into store.sql.Store)."""

    def issue_footprint(self, subject: str, content_sha: str, build: Builder, *, now: float) -> Issued:
        """The subject's Active footprint for this content: the stored one, or a new one superseding it."""
        try:
            with self._tx() as db:
                db.lock(f"footprint:{subject}")
                last = db.q(
                    "SELECT id, seq, content_sha, doc_json FROM pact_footprints WHERE subject = ? "
                    "ORDER BY seq DESC LIMIT 1",
                    (subject,),
                )
                if last and last[0][2] == content_sha:
                    return Issued(str(last[0][0]), subject, str(last[0][3]), new=False)
                new_id = str(uuid.uuid4())
                preceding = [str(last[0][0])] if last else []
                text = build(new_id, preceding, now)
                if last:
                    db.many(
                        "UPDATE pact_footprints SET status = 'Deprecated', doc_json = ? WHERE id = ?",
                        [(_deprecated(str(last[0][3])), last[0][0])],
                    )
                seq = int(last[0][1]) + 1 if last else 1
                db.many(
                    f"INSERT INTO pact_footprints ({FOOTPRINT_COLUMNS}) VALUES (?,?,?,?,?,?,?)",
                    [(new_id, subject, seq, now, "Active", content_sha, text)],
                )
        except self.errors as exc:
            raise StoreError(f"{self.url}: cannot issue the footprint of {subject}: {exc}") from exc
        log.info("footprint %s issued for %s%s", new_id, subject, f" (supersedes {preceding[0]})" if preceding else "")
        return Issued(new_id, subject, text, new=True)

    def footprints_of(self, subjects: Sequence[str]) -> list[tuple[str, str]]:
        """(subject, document text) of every footprint issued for these subjects, oldest first."""
        wanted = list(dict.fromkeys(subjects))
        rows: list[tuple[Any, ...]] = []
        for i in range(0, len(wanted), 500):  # bounded IN lists on either engine
            chunk = wanted[i : i + 500]
            rows += self._read(
                "SELECT created_at, subject, seq, doc_json FROM pact_footprints "
                f"WHERE subject IN ({','.join('?' * len(chunk))})",
                chunk,
            )
        return [(str(r[1]), str(r[3])) for r in sorted(rows, key=lambda r: (r[0], r[1], r[2]))]

    def footprint(self, footprint_id: str) -> tuple[str, str] | None:
        """(subject, document text) of one footprint id, None when there is none."""
        rows = self._read("SELECT subject, doc_json FROM pact_footprints WHERE id = ?", (footprint_id,))
        return (str(rows[0][0]), str(rows[0][1])) if rows else None

    def add_pact_client(self, client: PactClient) -> None:
        """Register a client (its secret only as a hash); StoreError when the name is taken."""
        try:
            with self._tx() as db:
                if db.q("SELECT 1 FROM pact_clients WHERE name = ?", (client.name,)):
                    raise StoreError(
                        f"{self.url}: PACT client {client.name!r} exists already (hint: choose another name)"
                    )
                db.many(
                    f"INSERT INTO pact_clients ({CLIENT_COLUMNS}) VALUES (?,?,?,?,?,?)",
                    [
                        (
                            client.client_id,
                            client.name,
                            client.customer,
                            client.secret_hash,
                            client.created_at,
                            client.events_url,
                        )
                    ],
                )
        except self.errors as exc:
            raise StoreError(f"{self.url}: cannot add PACT client {client.name!r}: {exc}") from exc

    def pact_clients(self, customer: str | None = None) -> list[PactClient]:
        rows = self._read(f"SELECT {CLIENT_COLUMNS} FROM pact_clients ORDER BY created_at, name")
        out = [PactClient(str(a), str(b), str(c), str(d), float(e), str(f or "")) for a, b, c, d, e, f in rows]
        return [c for c in out if customer is None or c.customer == customer]

    def pact_client(self, client_id: str) -> PactClient | None:
        return next((c for c in self.pact_clients() if c.client_id == client_id), None)
