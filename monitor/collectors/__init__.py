"""Collectors turn the outside world (OPC-UA servers, LIMS files) into Samples and assays, and nothing else.

May import monitor.core and monitor.errors only; their settings live here and config builds them.
"""
