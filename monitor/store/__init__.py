"""Where results live: schema, batch versions, assays, row projection, codec, checkpoint, SQLite/PostgreSQL.

May import monitor.core and monitor.errors only.
"""
