"""What the service shows: HTTP server, JSON API, Prometheus exposition, runbooks.

May import everything below it (config, accounting, reports, passport, store, collectors, core); never runs/ or cli/.
"""
