"""Samples wait at the gate until their tag's clock is decided, so no lot is cut on two clocks.

A tag's first value of a session passes on the commonest decided clock (it says when the value last
changed, which no lot edge uses), waiting only until some clock is decided; its later values wait
until its own clock is decided. Samples leave in arrival order: those behind a waiting one wait too.

While any tag's samples wait, the server's clock ticks wait too: a tick says "everything stamped
up to here has arrived", which is not true of samples still held. Waiting is bounded by the tag
clocks' `decide_within_s` and by `MAX_HELD` samples (then every waiting tag is decided as it stands).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace

from asyncua import ua

from monitor.collectors.server_clock import safe_epoch
from monitor.collectors.tag_clocks import Verdict
from monitor.collectors.timestamps import TimestampJudge
from monitor.core.samples import Sample

log = logging.getLogger(__name__)

MAX_HELD = 100_000

# (tag, value, received, server_now, stand-in time) -> Sample
Convert = Callable[[str, ua.DataValue, float, float, float], Sample]


@dataclass(frozen=True, slots=True)
class _Held:
    tag: str
    dv: ua.DataValue
    received: float
    server_now: float
    first: bool  # the tag's first value of the session: it passes on the commonest clock
    stand_in: float  # our clock's time for it when neither of its stamps can be believed


class ClockGate:
    """Samples leave in the order they came: one waiting for its tag's clock holds those behind it,
    so the core never sees a later value before an earlier one (nor finalises a lot without it)."""

    def __init__(self, judge: TimestampJudge, convert: Convert) -> None:
        self.judge = judge
        self._convert = convert
        self._held: deque[_Held] = deque()
        self._tick: Sample | None = None

    @property
    def waiting(self) -> int:
        """Samples waiting now: for their tag's clock, or behind one that does."""
        return len(self._held)

    @property
    def pending_tags(self) -> tuple[str, ...]:
        """Tags whose clock is being decided while their values wait."""
        clocks = self.judge.clocks
        return tuple(sorted({h.tag for h in self._held if not h.first and not clocks.decided(h.tag)}))

    def new_session(self) -> None:
        self.judge.clocks.new_session()

    def admit(
        self, tag: str, dv: ua.DataValue, received: float, server_now: float, published: float | None = None
    ) -> list[Sample]:
        """One value from the server (`published`: its message's PublishTime, the server's raw clock):
        its sample now, or nothing while it (or one before it) waits."""
        source, server = safe_epoch(dv.SourceTimestamp), safe_epoch(dv.ServerTimestamp)
        verdict = self.judge.learn(tag, source, server, received, server_now, published)
        stand_in = self.judge.stand_in(received, server_now, published)
        held = _Held(tag, dv, received, server_now, verdict is Verdict.PROVISIONAL, stand_in)
        if self._held or not self._passes(held):
            self._held.append(held)
            return []
        return [self._sample(held)]

    def _passes(self, h: _Held) -> bool:
        clocks = self.judge.clocks
        if h.first:  # on the commonest clock: once one is decided, or when none is coming
            return bool(clocks.offsets) or (clocks.settled and not self.pending_tags)
        return clocks.decided(h.tag)

    def _sample(self, h: _Held) -> Sample:
        sample = self._convert(h.tag, h.dv, h.received, h.server_now, h.stand_in)
        if h.first and sample.ts > h.received:  # it happened before we got it
            sample = replace(sample, ts=h.received, retimed=True)
        return sample

    def tick(self, sample: Sample) -> list[Sample]:
        """The server's clock: passed on at once unless samples wait (then the latest waits with them)."""
        if self.judge.clocks.estimated:  # values aligned from delivery times may sit that much early
            sample = replace(sample, ts=sample.ts - self.judge.clocks.delivery_delay())
        if self._held:
            self._tick = sample
            return []
        return [sample]

    def release(self, server_now: float, wall: float | None = None) -> list[Sample]:
        """After each delivery (`server_now`: the server's clock, aligned): the samples that may leave
        now, in arrival order, then the held tick once none waits."""
        clocks = self.judge.clocks
        on_server = server_now + self.judge.offset
        clocks.delivered(on_server, wall)
        clocks.expire(on_server)
        if self.waiting > MAX_HELD:
            log.warning("%d samples waiting for tag clocks: deciding %s as they stand", self.waiting, self.pending_tags)
            clocks.expire(float("inf"), force=True)
        out: list[Sample] = []
        while self._held and self._passes(self._held[0]):
            out.append(self._sample(self._held.popleft()))
        if not self._held and self._tick is not None:
            out.append(self._tick)
            self._tick = None
        return out
