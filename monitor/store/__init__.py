"""Where results live: schema, batch versions, assays, row projection, codec, checkpoint, SQLite/PostgreSQL.

May import monitor.core and monitor.errors only.
"""

STORE_FILE = "blackmass.db"  # the SQLite store's file in a data directory (the default store)
