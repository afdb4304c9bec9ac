"""Which time a value happened at, when PLC clocks are missing, frozen, skewed or nonsense.

Order of trust: the source timestamp; the server timestamp when the source's is missing or
implausible; our own receive time when neither can be believed. A source timestamp is not
believed when it lies before 2000 (1601 and 1970 are what zeroed clocks send), more than a
day ahead of the server's clock (9999-12-31), stays frozen while the value changes, or steps
back on its tag by more than `max_backstep_s`. Every replacement is counted per tag and
marked on the sample, so a lot built on replaced times says so.

The PLC's clock offset from ours is measured on the server's CurrentTime and, when the server
keeps a steady clock that is off by more than `align_min_s`, subtracted from every timestamp
of the session: lots, reports and alerts speak our clock; the offset is shown, not inherited.
A tag whose own controller's clock differs from the server's is aligned on its own, decided from
valid references before any of its samples is used (monitor.collectors.tag_clocks). Absent and
implausible times are never a clock. The whole contract is docs/timestamps.md.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

from monitor.collectors.tag_clocks import TagClocks, Verdict

EARLIEST = 946_684_800.0  # 2000-01-01: no plant data is older; 1601 / 1970 mean "clock not set"
MAX_AHEAD_S = 86_400.0


class TimestampMode(StrEnum):
    SOURCE = "source"  # the source timestamp, falling back as described above
    SERVER = "server"  # the server timestamp (a PLC whose own clock is useless)
    RECEIVE = "receive"  # our receive time (a server that stamps nothing usable)


@dataclass(frozen=True, kw_only=True)
class ClockPolicy:
    mode: TimestampMode = TimestampMode.SOURCE
    max_backstep_s: float = 300.0  # a later value stamped further back than this is not believed
    align_min_s: float = 30.0  # a steady server clock off by more than this is aligned to ours
    warn_s: float = 60.0  # log a warning when the server clock is off by more than this
    decide_within_s: float = 120.0  # a tag's clock not decided by then is decided with what it has


def valid_time(ts: float | None, reference: float) -> float | None:
    """A timestamp that can be a clock, or None: absent (None, 1601, 1970) and implausible times are not."""
    if ts is None or not math.isfinite(ts) or ts < EARLIEST or ts > reference + MAX_AHEAD_S:
        return None
    return ts


@dataclass
class TimestampJudge:
    """Per-tag memory of timestamps, the tags' clocks, and the counts of what was replaced (why -> tag -> n)."""

    policy: ClockPolicy = field(default_factory=ClockPolicy)
    offset: float = 0.0  # the server's clock minus ours: subtracted from server-clock times
    replaced: Counter[tuple[str, str]] = field(default_factory=Counter)  # (tag, reason) -> n
    clocks: TagClocks = field(init=False)
    _last: dict[str, tuple[float, object, float]] = field(default_factory=dict)  # tag -> (source, value, aligned)

    def __post_init__(self) -> None:
        self.clocks = TagClocks(self.policy.align_min_s, self.policy.decide_within_s)

    @property
    def tag_offset(self) -> dict[str, float]:
        """tag -> its controller's clock minus the server's, for the tags whose offset is not zero."""
        return {t: o for t, o in self.clocks.offsets.items() if o}

    def learn(
        self,
        tag: str,
        source: float | None,
        server: float | None,
        received: float,
        server_now: float,
        published: float | None = None,
    ) -> Verdict:
        """Learn the tag's clock from one value's valid references: whether the value passes or waits.
        `published` is the PublishTime of the message that carried it (the server's raw clock)."""
        if self.policy.mode is not TimestampMode.SOURCE:
            self.clocks.offsets.setdefault(tag, 0.0)
            return Verdict.PASS
        ref = server_now + self.offset  # the reference on the server's raw clock
        src = valid_time(source, ref)
        srv = valid_time(server, ref)
        got, pub = self._at_delivery(received, server_now, published)
        if pub is not None:
            return self.clocks.observe(tag, src, srv, pub, published=True)
        return self.clocks.observe(tag, src, srv, got)

    def _at_delivery(self, received: float, server_now: float, published: float | None) -> tuple[float, float | None]:
        """The server's raw clock at delivery, and the message's PublishTime when it is a plausible reading of it.

        At delivery: the later of its CurrentTime as last read (which lags by up to a publishing interval per
        subscription) and our receipt on its clock (which is behind a server clock that runs faster than ours,
        as a simulation's does), less the least time a CurrentTime value took to reach us. Better, the
        PublishTime: the server's clock when it sent the value, with no pipeline latency in it."""
        got = max(server_now, received - self.clocks.transit_floor) + self.offset
        pub = valid_time(published, got)
        return got, pub if pub is not None and abs(pub - got) <= self.clocks.echo() else None

    def stand_in(self, received: float, server_now: float, published: float | None) -> float:
        """The time on our clock a value gets when neither of its own stamps can be believed: its message's
        PublishTime when plausible (it happened at or before that), else our receive time."""
        _, pub = self._at_delivery(received, server_now, published)
        return received if pub is None else min(received, pub - self.offset)

    def transit(self, server: float, received: float) -> None:
        """A CurrentTime value `server` (the server's raw clock) reached us at `received` (ours)."""
        if valid_time(server, received + self.offset) is not None:
            self.clocks.transit(received + self.offset - server)

    def uncertainty(self, tag: str) -> float:
        """How much earlier than its stamp a value of `tag` may have happened (source times only)."""
        return self.clocks.uncertainty(tag) if self.policy.mode is TimestampMode.SOURCE else 0.0

    def judge(
        self,
        tag: str,
        source: float | None,
        server: float | None,
        received: float,
        value: object,
        server_now: float,
        stand_in: float | None = None,
    ) -> tuple[float, bool]:
        """(ts on our clock, replaced?) for one value; `server_now` is the server's clock, aligned;
        `stand_in` the time to use when no stamp of its own can be believed (else `received`)."""
        mode = self.policy.mode
        if mode is TimestampMode.RECEIVE:
            return received, False
        if mode is TimestampMode.SOURCE:
            why = self._doubt(tag, source, value, server_now)
            if why is None:
                assert source is not None
                return source - self.offset - self.clocks.offset_of(tag), False
            self.replaced[(tag, why)] += 1
        if valid_time(server, server_now + self.offset) is not None:
            assert server is not None
            if mode is TimestampMode.SERVER:
                return server - self.offset, False
            self.replaced[(tag, "server_timestamp_used")] += 1
            return server - self.offset, True
        if stand_in is not None and stand_in < received:
            self.replaced[(tag, "publish_time_used")] += 1
            return stand_in, True
        self.replaced[(tag, "receive_time_used")] += 1
        return received, True

    def _doubt(self, tag: str, source: float | None, value: object, server_now: float) -> str | None:
        if source is None:
            return "no_source_timestamp"
        prev = self._last.get(tag)
        aligned = source - self.clocks.offset_of(tag)
        self._last[tag] = (source, value, aligned)
        if valid_time(source, server_now + self.offset) is None:
            return "implausible_source_timestamp"
        if prev is not None:
            if source == prev[0] and value != prev[1]:
                return "frozen_source_timestamp"
            back = self.policy.max_backstep_s  # on its clock and on ours: a clock decided again is no step
            if source < prev[0] - back and aligned < prev[2] - back:
                return "source_timestamp_stepped_back"
        return None


@dataclass(frozen=True, slots=True)
class OffsetReading:
    """One read of the server's CurrentTime: server clock minus ours at the read's midpoint."""

    offset: float
    round_trip: float


def decide_alignment(first: OffsetReading, second: OffsetReading, policy: ClockPolicy) -> tuple[float, str]:
    """The offset to subtract for this monitor's life, and why: from two reads a moment apart.

    A server clock that moved against ours between the reads by more than their round trips
    (plus the alignment threshold) is not a steady clock (a simulator running fast, a clock
    being set): nothing is aligned then, and the reason says so.
    """
    drift = abs(second.offset - first.offset)
    if drift > first.round_trip + second.round_trip + policy.align_min_s:
        return 0.0, f"server clock not steady against ours (moved {drift:.1f} s between two reads): not aligned"
    offset = 0.5 * (first.offset + second.offset)
    if abs(offset) < policy.align_min_s:
        return 0.0, f"server clock within {policy.align_min_s:g} s of ours ({offset:+.1f} s): not aligned"
    return offset, f"server clock {offset:+.1f} s off ours: timestamps aligned to our clock"
