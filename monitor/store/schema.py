"""The batch store's tables, written once for both engines (store/batches.py: SQLite, store/pg.py:
PostgreSQL's migration steps 2 and 3); only the words for a key's text, a real number and a row id
differ. Schema 2: batch versions, assays and their sheets; schema 3: shipments, the bag index and
the PACT footprints and clients (store/shipments.py, store/footprints.py); schema 4: a version's
result as MessagePack bytes (result_msgpack), where schemas 1-3 kept JSON text (result_json)."""

from __future__ import annotations


def tables(key: str, real: str, row_id: str, blob: str) -> str:
    """The DDL of schema version 2 with schema 4's result column: `key` the type of a text that is part
    of a key (PostgreSQL: byte order, as SQLite sorts), `real` a float column, `row_id` an auto-numbered
    primary key, `blob` bytes."""
    return f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS batch_versions (
    line {key} NOT NULL,
    batch_id {key} NOT NULL,
    version INTEGER NOT NULL,
    state TEXT NOT NULL,
    start_ts {real} NOT NULL,
    end_ts {real} NOT NULL,
    chemistry TEXT NOT NULL,
    feed_form TEXT NOT NULL,
    feed_kg {real},
    black_mass_kg {real},
    black_mass_yield {real},
    closure {real},
    reason TEXT NOT NULL,
    recorded_at {real} NOT NULL,
    result_msgpack {blob} NOT NULL,
    report_batch TEXT,
    report_streams TEXT,
    report_recoveries TEXT,
    PRIMARY KEY (line, batch_id, version)
);
CREATE INDEX IF NOT EXISTS batch_versions_start ON batch_versions (start_ts);
CREATE TABLE IF NOT EXISTS assay_files (
    sha256 TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    rows INTEGER NOT NULL,
    imported_at {real} NOT NULL
);
CREATE TABLE IF NOT EXISTS assays (
    id {row_id},
    batch_id {key} NOT NULL,
    stream TEXT NOT NULL,
    element TEXT NOT NULL,
    value_pct {real} NOT NULL,
    status TEXT NOT NULL,
    sample_id TEXT NOT NULL,
    bag_id TEXT NOT NULL,
    lab TEXT NOT NULL,
    method TEXT NOT NULL,
    moisture_pct {real},
    source TEXT NOT NULL,
    imported_at {real} NOT NULL
);
CREATE INDEX IF NOT EXISTS assays_batch ON assays (batch_id);
CREATE TABLE IF NOT EXISTS assay_sheets (batch_id {key} PRIMARY KEY, rows_json TEXT NOT NULL);
"""


def exchange_tables(key: str, real: str) -> str:
    """The DDL schema version 3 adds (words as in `tables`): a bag ships once, so `shipment_bags`
    is keyed (line, lot, bag) like the bag index `lot_bags` it draws from."""
    return f"""
CREATE TABLE IF NOT EXISTS shipments (
    shipment_id {key} PRIMARY KEY, created_at {real} NOT NULL, bags INTEGER NOT NULL, customer TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS shipment_bags (
    bag_id {key} NOT NULL, shipment_id {key} NOT NULL, position INTEGER NOT NULL,
    line {key} NOT NULL, batch_id {key} NOT NULL, net_kg {real} NOT NULL, PRIMARY KEY (line, batch_id, bag_id)
);
CREATE INDEX IF NOT EXISTS shipment_bags_shipment ON shipment_bags (shipment_id);
CREATE TABLE IF NOT EXISTS lot_bags (
    line {key} NOT NULL, batch_id {key} NOT NULL, bag_id {key} NOT NULL, net_kg {real} NOT NULL,
    PRIMARY KEY (line, batch_id, bag_id)
);
CREATE INDEX IF NOT EXISTS lot_bags_bag ON lot_bags (bag_id);
CREATE TABLE IF NOT EXISTS pact_footprints (
    id TEXT PRIMARY KEY, subject {key} NOT NULL, seq INTEGER NOT NULL, created_at {real} NOT NULL,
    status TEXT NOT NULL, content_sha TEXT NOT NULL, doc_json TEXT NOT NULL, UNIQUE (subject, seq)
);
CREATE TABLE IF NOT EXISTS pact_clients (
    client_id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, customer TEXT NOT NULL, secret_hash TEXT NOT NULL,
    created_at {real} NOT NULL, events_url TEXT NOT NULL DEFAULT ''
)
"""


# table -> columns of the schema 3 tables, for `store migrate` (every column)
EXCHANGE_COPY = {
    "shipments": "shipment_id, created_at, bags, customer",
    "shipment_bags": "bag_id, shipment_id, position, line, batch_id, net_kg",
    "lot_bags": "line, batch_id, bag_id, net_kg",
    "pact_footprints": "id, subject, seq, created_at, status, content_sha, doc_json",
    "pact_clients": "client_id, name, customer, secret_hash, created_at, events_url",
}
