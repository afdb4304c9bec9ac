"""The batch store's tables, written once for both engines (store/batches.py: SQLite, store/pg.py:
PostgreSQL's migration step 2); only the words for a key's text, a real number and a row id differ."""

from __future__ import annotations


def tables(key: str, real: str, row_id: str) -> str:
    """The DDL of schema version 2: `key` the type of a text that is part of a key (PostgreSQL: byte
    order, as SQLite sorts), `real` a float column, `row_id` an auto-numbered primary key."""
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
    result_json TEXT NOT NULL,
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
