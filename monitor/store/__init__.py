"""Where results live: schema, batch versions, assays, row projection, codec, checkpoint, SQLite/PostgreSQL.

May import monitor.core and monitor.errors only.
"""

STORE_FILE = "blackmass.db"  # the SQLite store's file in a data directory (the default store)
# The PostgreSQL password comes from the environment or a secrets file, never a URL (store/url.py, store/pg.py)
PASSWORD_ENV = "BLACKMASS_STORE_PASSWORD"
PASSWORD_FILE_ENV = "BLACKMASS_STORE_PASSWORD_FILE"
