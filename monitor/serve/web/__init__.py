"""The plant engineer's web pages beside /api: lots, a lot's story, reports, assays and shipments.

Server-rendered (jinja2, autoescaped), one small script for the running lot's refresh, no build
step; every page reads without JavaScript. `monitor.serve.web.mount.add_web` mounts them on the
serve/run HTTP app (the package imports nothing itself, so its modules may import one another).
"""
