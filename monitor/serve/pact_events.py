"""PACT v3 events (CloudEvents 1.0, structured mode): answering a customer's footprint request and
announcing new footprints.

A customer's RequestCreatedEvent names product ids; it is answered with a RequestFulfilledEvent
carrying the matching Active footprints it may see, or a RequestRejectedEvent (NoSuchFootprint),
POSTed to the events endpoint registered for that customer's client (`pact client add
--events-url`) — never to an address taken from the request. When a footprint of a customer's lot
or shipment is issued or superseded, a PublishedEvent with its id goes to the same endpoints.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp

log = logging.getLogger(__name__)

PREFIX = "org.wbcsd.pact.ProductFootprint."
TYPES = ("RequestCreatedEvent", "RequestFulfilledEvent", "RequestRejectedEvent", "PublishedEvent")
CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8"
LOCAL = ("127.0.0.1", "localhost", "::1")


class EventError(ValueError):
    """A request body that is no PACT CloudEvent; the message says what was expected."""


def cloud_event(kind: str, source: str, data: Mapping[str, Any], now: float) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": source,
        "time": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "type": f"{PREFIX}{kind}.3",
        "data": dict(data),
    }


def parse_event(body: object) -> tuple[str, dict[str, Any]]:
    """(kind, event) of a structured-mode CloudEvent of a PACT v3 type; EventError otherwise."""
    if not isinstance(body, dict):
        raise EventError("expected a JSON object (a CloudEvent in structured mode)")
    for key in ("specversion", "id", "source", "type"):
        if not isinstance(body.get(key), str) or not body[key]:
            raise EventError(f"expected a non-empty string '{key}' (CloudEvents 1.0)")
    if body["specversion"] != "1.0":
        raise EventError(f"expected specversion '1.0', got {body['specversion']!r}")
    kind = body["type"].removeprefix(PREFIX).removesuffix(".3")
    if not body["type"].startswith(PREFIX) or kind not in TYPES:
        raise EventError(f"expected a type {PREFIX}<{'|'.join(TYPES)}>.3, got {body['type'][:80]!r}")
    if not isinstance(body.get("data"), dict):
        raise EventError("expected an object 'data'")
    return kind, body


def answer_request(
    event: Mapping[str, Any], footprints: Sequence[Mapping[str, Any]], source: str, now: float
) -> dict[str, Any]:
    """The Fulfilled (matching Active footprints) or Rejected answer to a RequestCreatedEvent."""
    data = event["data"]
    wanted = data.get("productId") or data.get("productIds") or []
    wanted = [wanted] if isinstance(wanted, str) else wanted
    if not isinstance(wanted, list) or not wanted:
        return cloud_event(
            "RequestRejectedEvent",
            source,
            {
                "requestEventId": event["id"],
                "error": {"code": "BadRequest", "message": "data.productId: expected a list of product ids"},
            },
            now,
        )
    pfs = [f for f in footprints if f.get("status") == "Active" and set(f.get("productIds", ())) & set(wanted)]
    if pfs:
        return cloud_event("RequestFulfilledEvent", source, {"requestEventId": event["id"], "pfs": list(pfs)}, now)
    message = f"no footprint of product(s) {', '.join(map(str, wanted[:5]))} for this customer"
    error = {"code": "NoSuchFootprint", "message": message}
    return cloud_event("RequestRejectedEvent", source, {"requestEventId": event["id"], "error": error}, now)


def usable_endpoint(url: str) -> bool:
    """https:// anywhere, or http:// on this machine only (a receiver beside the server)."""
    parts = urlsplit(url)
    return parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOCAL)


class Outbox:
    """Events waiting to be POSTed to customers' endpoints; one sender, bounded queue."""

    def __init__(self, maxsize: int = 1000, timeout_s: float = 10.0) -> None:
        self.queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(maxsize)
        self.timeout_s = timeout_s
        self.delivered = 0
        self.failed = 0

    def post(self, url: str, event: dict[str, Any]) -> None:
        if not usable_endpoint(url):
            log.warning("PACT event %s not sent: %r is not an https:// endpoint", event["type"], url)
            return
        try:
            self.queue.put_nowait((url, event))
        except asyncio.QueueFull:
            self.failed += 1
            log.warning("PACT outbox full: event %s to %s dropped", event["type"], url)

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            while True:
                url, event = await self.queue.get()
                try:
                    body = json.dumps(event, ensure_ascii=False)
                    async with http.post(url, data=body, headers={"Content-Type": CONTENT_TYPE}) as r:
                        if r.status >= 300:  # noqa: PLR2004 - not a success
                            raise aiohttp.ClientResponseError(
                                r.request_info, (), status=r.status, message=r.reason or ""
                            )
                    self.delivered += 1
                    log.info("PACT %s delivered to %s", event["type"].removeprefix(PREFIX), url)
                except (aiohttp.ClientError, TimeoutError) as exc:
                    self.failed += 1
                    log.warning("PACT event %s to %s failed: %s (not retried)", event["type"], url, exc)
