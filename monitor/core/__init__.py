"""Pure computation over samples: batches, masses, yields, metals, reconciliation; no I/O, no asyncio.

Imports nothing of monitor but these modules and monitor.errors (checked by import-linter).
"""
