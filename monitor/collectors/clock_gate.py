"""Samples wait at the gate until their tag's clock is decided, so no lot is cut on two clocks.

A tag's first value of a session passes at once (it says when the value last changed, which no lot
edge uses); its later values wait until its clock is decided.

While any tag's samples wait, the server's clock ticks wait too: a tick says "everything stamped
up to here has arrived", which is not true of samples still held. Waiting is bounded by the tag
clocks' `decide_within_s` and by `MAX_HELD` samples (then every waiting tag is decided as it stands).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from asyncua import ua

from monitor.collectors.server_clock import safe_epoch
from monitor.collectors.tag_clocks import Verdict
from monitor.collectors.timestamps import TimestampJudge
from monitor.core.samples import Sample

log = logging.getLogger(__name__)

MAX_HELD = 100_000

Convert = Callable[[str, ua.DataValue, float, float], Sample]  # (tag, value, received, server_now) -> Sample


class ClockGate:
    def __init__(self, judge: TimestampJudge, convert: Convert) -> None:
        self.judge = judge
        self._convert = convert
        self._held: dict[str, list[tuple[ua.DataValue, float, float]]] = {}
        self._tick: Sample | None = None

    @property
    def waiting(self) -> int:
        """Samples waiting now for their tag's clock to be decided."""
        return sum(len(v) for v in self._held.values())

    @property
    def pending_tags(self) -> tuple[str, ...]:
        return tuple(sorted(self._held))

    def new_session(self) -> None:
        self.judge.clocks.new_session()

    def admit(self, tag: str, dv: ua.DataValue, received: float, server_now: float) -> list[Sample]:
        """One value from the server: its sample now, or nothing while its tag's clock is being decided."""
        verdict = self.judge.learn(
            tag, safe_epoch(dv.SourceTimestamp), safe_epoch(dv.ServerTimestamp), received, server_now
        )
        if verdict is not Verdict.WAIT and tag not in self._held:
            sample = self._convert(tag, dv, received, server_now)
            if verdict is Verdict.PROVISIONAL and sample.ts > received:  # it happened before we got it
                sample = replace(sample, ts=received, retimed=True)
            return [sample]
        self._held.setdefault(tag, []).append((dv, received, server_now))
        return []

    def tick(self, sample: Sample) -> list[Sample]:
        """The server's clock: passed on at once unless samples wait (then the latest waits with them)."""
        if self.judge.clocks.estimated:  # values aligned from delivery times may sit that much early
            sample = replace(sample, ts=sample.ts - self.judge.clocks.delivery_delay())
        if self._held:
            self._tick = sample
            return []
        return [sample]

    def release(self, server_now: float, wall: float | None = None) -> list[Sample]:
        """After each delivery (`server_now`: the server's clock, aligned): the samples of tags decided
        since, in arrival order, then the held tick."""
        clocks = self.judge.clocks
        on_server = server_now + self.judge.offset
        clocks.delivered(on_server, wall)
        clocks.expire(on_server)
        if self.waiting > MAX_HELD:
            log.warning("%d samples waiting for tag clocks: deciding %s as they stand", self.waiting, self.pending_tags)
            clocks.expire(float("inf"))
        out: list[Sample] = []
        for tag in [t for t in self._held if clocks.decided(t)]:
            out += [self._convert(tag, dv, r, sn) for dv, r, sn in self._held.pop(tag)]
        if not self._held and self._tick is not None:
            out.append(self._tick)
            self._tick = None
        return out
