"""Accounting inputs: assay import, grade tables from seeds, balance files.

May import monitor.core, monitor.collectors (the LIMS reader), monitor.passport, monitor.store, monitor.errors.
"""
