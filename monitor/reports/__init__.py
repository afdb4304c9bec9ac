"""Reports read from the store: frames, CSV/Parquet, XLSX (own writer), PDF.

May import monitor.store, monitor.core, monitor.errors.
"""
