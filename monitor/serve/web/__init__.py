"""The plant engineer's web pages beside /api: lots, a lot's story, reports, assays and shipments.

Server-rendered (jinja2, autoescaped), one small script for the running lot's refresh, no build
step; every page reads without JavaScript. `add_web` mounts them on the serve/run HTTP app.
"""

from monitor.serve.web.mount import READ_TOKEN_ENV, WebSettings, add_web

__all__ = ["READ_TOKEN_ENV", "WebSettings", "add_web"]
