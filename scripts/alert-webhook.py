#!/usr/bin/env python3
"""A sample Alertmanager webhook receiver: one log line per alert in each notification.

compose.yaml runs it as `alert-webhook`; config/prometheus/alertmanager.yml posts the shift
channel to /shift-channel and pages to /on-call. Replace it with the plant's own receiver (chat,
SMS gateway, on-call tool); it is a stand-in that shows what a notification carries.
"""

from __future__ import annotations

import json
import logging
import os
from http.server import BaseHTTPRequestHandler, HTTPServer

log = logging.getLogger("alert-webhook")


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        except ValueError as exc:
            log.warning("%s: not Alertmanager webhook JSON: %s", self.path, exc)
            self.send_response(400)
            self.end_headers()
            return
        for a in body.get("alerts", []):
            lab, ann = a.get("labels", {}), a.get("annotations", {})
            log.info(
                "%s %s %s [%s] %s %s",
                self.path.strip("/"),
                a.get("status", "?").upper(),
                lab.get("alertname", "?"),
                lab.get("severity", "?"),
                ann.get("summary", ""),
                ann.get("runbook_url", ""),
            )
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:  # one line per alert is enough
        pass


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    port = int(os.environ.get("PORT", "9095"))
    log.info("alert webhook listening on :%d", port)
    HTTPServer(("0.0.0.0", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
