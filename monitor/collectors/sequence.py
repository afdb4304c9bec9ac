"""Subscriptions whose notification sequence numbers are checked: a gap is republished, what the
server no longer has is reported so the collector reads the current values instead.

asyncua's Subscription turns each PublishResponse into events and keeps no account of the
NotificationMessage.SequenceNumber it dropped; this subclass takes the PublishResult before that.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from asyncua import ua
from asyncua.client.ua_session import UaSession
from asyncua.common.subscription import Subscription

from monitor.collectors.limits import refusal
from monitor.collectors.server_clock import safe_epoch

log = logging.getLogger("monitor.collectors.opcua")  # the collector's log: operators filter on it

_WRAP = 2**32 - 1  # sequence numbers run 1 … 2³²-1, then 1 again (Part 4, 7.38)
MAX_REPUBLISH = 100  # a longer gap is not asked for message by message: the values are read instead


def numbers(seqs: Sequence[int], shown: int = 5) -> str:
    """Sequence numbers for the log: the first few."""
    return ", ".join(map(str, seqs[:shown])) + ("…" if len(seqs) > shown else "")


def following(n: int) -> int:
    return 1 if n >= _WRAP else n + 1


def ahead(a: int, b: int) -> bool:
    """Sequence number `a` comes after `b` (within half the number space: wrap-aware)."""
    return 0 < (a - b) % _WRAP <= _WRAP // 2


def missing(expected: int, got: int) -> list[int]:
    """Sequence numbers skipped between `expected` (the next one due) and `got` (what came), wrap-aware.

    A number at or before `expected` (a repeat, a server that restarted its count) skips nothing.
    """
    ahead = (got - expected) % _WRAP
    if ahead == 0 or ahead > _WRAP // 2:
        return []
    out: list[int] = []
    n = expected
    while n != got and len(out) <= MAX_REPUBLISH:
        out.append(n)
        n = following(n)
    return out


@dataclass(frozen=True, slots=True)
class Notice:
    """One subscription's notification data (data changes, status changes) in arrival order."""

    subscription: int  # our number for the subscription (0, 1, …)
    data: tuple[Any, ...]
    replayed: bool = False
    published: float | None = None  # the message's PublishTime (epoch s, the server's clock), None: absent


@dataclass
class Tally:
    """Messages republished and lost, over all subscriptions and sessions of a collector."""

    republished: int = 0
    lost: int = 0


@dataclass(frozen=True, slots=True)
class Lost:
    """Notification messages the server could not republish: their values are gone."""

    subscription: int
    sequence_numbers: tuple[int, ...]


class SequencedSubscription(Subscription):
    """Puts Notices (and Lost) on a queue shared by all subscriptions of a session."""

    def __init__(
        self,
        session: UaSession,
        params: ua.CreateSubscriptionParameters,
        number: int,
        queue: asyncio.Queue[Notice | Lost],
        on_overflow: Callable[[], None],
        tally: Tally,
    ) -> None:
        super().__init__(session, params, handler=None, queue_maxsize=1)  # asyncua's own queue stays unused
        self.session = session  # the client's session (asyncua types `server` as either side's)
        self.number = number
        self.notices = queue
        self._on_full = on_overflow
        self.expected: int | None = None  # the sequence number due next
        self.tally = tally

    async def publish_callback(self, publish_result: ua.PublishResult) -> None:
        """Called by asyncua's publish loop with each PublishResult of this subscription."""
        self.last_publish_at = time.monotonic()
        msg = publish_result.NotificationMessage
        seq = int(msg.SequenceNumber or 0)
        has_data = bool(msg.NotificationData)
        if seq and self.expected is not None:
            gone = missing(self.expected, seq)
            if gone:
                await self._fill(gone)
        if seq:
            # a keep-alive carries the number of the next message (Part 4, 5.13.1.1); data its own.
            # A late repeat of an older message never moves the expectation back.
            due = following(seq) if has_data else seq
            if self.expected is None or ahead(due, self.expected):
                self.expected = due
        if has_data:
            self._put(Notice(self.number, tuple(msg.NotificationData), published=safe_epoch(msg.PublishTime)))

    async def _fill(self, gone: list[int]) -> None:
        log.warning(
            "subscription %s: notification(s) %s never arrived; asking the server to republish",
            self.subscription_id,
            numbers(gone),
        )
        lost: list[int] = []
        for n in gone if len(gone) <= MAX_REPUBLISH else []:
            data = await self._republish(n)
            if data:
                self.tally.republished += 1
                self._put(Notice(self.number, data, replayed=True))
            else:
                lost.append(n)
        if len(gone) > MAX_REPUBLISH:
            lost = gone
        if lost:
            self.tally.lost += len(lost)
            self._put(Lost(self.number, tuple(lost)))

    async def _republish(self, n: int) -> tuple[Any, ...]:
        """The message's data, or () where the server no longer has it (BadMessageNotAvailable, or an
        empty message as asyncua's server answers)."""
        assert self.subscription_id is not None
        try:
            msg = await self.session.republish(self.subscription_id, n)
        except (ua.UaError, TimeoutError, OSError) as exc:  # never out of the publish loop: the message counts lost
            log.warning("subscription %s: republish of %d refused: %s", self.subscription_id, n, refusal(exc))
            return ()
        if int(msg.SequenceNumber or 0) not in (0, n):
            return ()
        return tuple(msg.NotificationData or ())

    def _put(self, item: Notice | Lost) -> None:
        try:
            self.notices.put_nowait(item)
        except asyncio.QueueFull:
            log.error("subscription %s: our notification queue is full; restarting the session", self.subscription_id)
            self._on_full()
