"""Each tag's controller clock against the server's, decided from valid references before its samples are used.

The contract is docs/timestamps.md. In short: a tag's first value of a session carries the time it
last changed (maybe days ago) and says nothing of its clock; each later value (a *fresh* one) is
compared with a reference that is itself valid: the server timestamp when the server sent a
plausible one (exact), otherwise our receive time on the server's clock (late by the delivery
delay, so the largest difference seen is the best estimate). A difference within the tolerance
(the alignment threshold, or twice the delivery spacing when that is coarser) is no offset at all.
A tag with fewer than three fresh values and no exact reference takes the clock of a decided tag
within the tolerance (most tags share a controller); a tag still undecided after `decide_within_s`
of our clock is decided with what it has, and the decision says so.
"""

from __future__ import annotations

import logging
import math
import statistics
from collections import Counter, deque
from dataclasses import dataclass, field
from enum import Enum

log = logging.getLogger(__name__)

SERVER = "the server"  # the server's own clock: every tag's offset is measured against it
FRESH_TO_DECIDE = 3  # fresh values measured against receive times before a tag decides alone
MIN_DELIVERIES = 4  # deliveries seen before any decision: the spacing of receive times is measured


class Verdict(Enum):
    PASS = "pass"  # the tag's clock is decided: the value passes on it
    PROVISIONAL = "provisional"  # a first value: passes on the commonest clock, never later than its receipt
    WAIT = "wait"  # waits for the tag's decision


@dataclass
class _Learning:
    first_seen: float  # our clock at the tag's first value
    waiting_since: float = 0.0  # our clock at its first fresh value (0: none yet)
    fresh: deque[tuple[float, float | None, float]] = field(default_factory=lambda: deque(maxlen=16))
    # (source, server or None, received on the server's clock) of its fresh values, newest last

    @property
    def best(self) -> float:
        """The largest (tag clock - server clock) against receive times: the least delayed value."""
        return max((src - got for src, _, got in self.fresh), default=-math.inf)


@dataclass
class TagClocks:
    """Decided offsets (tag clock minus server clock, s) and why; the tags still being learnt."""

    align_min_s: float = 30.0
    decide_within_s: float = 120.0
    offsets: dict[str, float] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    _learning: dict[str, _Learning] = field(default_factory=dict)
    _session_seen: set[str] = field(default_factory=set)
    _last_source: dict[str, float] = field(default_factory=dict)  # tag -> its latest source time
    _estimated: set[str] = field(default_factory=set)  # tags aligned by an offset learnt from delivery times
    _spacing: deque[float] = field(default_factory=lambda: deque(maxlen=32))
    _last_delivery: float | None = None
    _deliveries: int = 0
    publishing_s: float = 0.0  # the subscriptions' publishing interval (wall s): a value waits up to one
    _first: tuple[float, float] | None = None  # (server clock, wall) at the first delivery: its rate
    _rate: float = 1.0  # the server clock's seconds per wall second (a simulation's plant clock runs faster)

    def new_session(self) -> None:
        """A new subscription: each tag's next value is its initial one again."""
        self._session_seen.clear()

    def restore(self, offsets: dict[str, float]) -> None:
        """Decisions kept with a checkpoint: a resumed lot keeps the clocks it began with."""
        for tag, offset in offsets.items():
            self.offsets[tag] = offset
            self.reasons[tag] = "kept with the checkpoint"

    def decided(self, tag: str) -> bool:
        return tag in self.offsets

    def delivered(self, received: float, wall: float | None = None) -> None:
        """One publish arrived when the server's clock read `received` (wall: `wall`): how coarse the
        reference is, and how fast the server's clock runs against the wall (a simulation's runs faster)."""
        if self._last_delivery is not None and received > self._last_delivery:
            self._spacing.append(received - self._last_delivery)
        self._last_delivery = received
        self._deliveries += 1
        if wall is not None:
            if self._first is None:
                self._first = (received, wall)
            elif wall > self._first[1]:
                self._rate = max(1.0, (received - self._first[0]) / (wall - self._first[1]))

    def delivery_delay(self) -> float:
        """How far a value's receipt may trail its stamp: two publishing intervals, or two delivery spacings."""
        spacing = statistics.median(self._spacing) if self._spacing else 0.0
        return max(2.0 * spacing, 2.0 * self.publishing_s * self._rate)

    def tolerance(self) -> float:
        """Below this an offset is not told from delivery delay, nor from clocks that agree well enough."""
        return max(self.align_min_s, self.delivery_delay())

    def offset_of(self, tag: str) -> float:
        """The tag's decided offset; undecided, the commonest decided one (0 before any decision)."""
        if tag in self.offsets:
            return self.offsets[tag]
        common = Counter(self.offsets.values()).most_common(1)
        return common[0][0] if common else 0.0

    def observe(self, tag: str, source: float | None, server: float | None, received_on_server: float) -> Verdict:
        """One value's valid times (None: absent or implausible); `received_on_server`: the server's clock at delivery.

        A tag's first value of a session passes at once on the commonest clock (PROVISIONAL): it says
        when the value last changed, which no lot edge uses. A later value of an undecided tag WAITs.
        """
        if tag in self.offsets:
            return Verdict.PASS
        learning = self._learning.setdefault(tag, _Learning(first_seen=received_on_server))
        if source is None:  # the server's or our time stands in: there is no controller clock to learn
            self._decide(tag, 0.0, "no source timestamps: the server's or our time is used", "no_source")
            return Verdict.PASS
        initial = tag not in self._session_seen
        self._session_seen.add(tag)
        repeat = self._last_source.get(tag) == source  # the same value sent again (a cyclic or read-back copy)
        self._last_source[tag] = source
        if initial or (repeat and not learning.fresh):
            return Verdict.PROVISIONAL
        if repeat:
            return Verdict.WAIT
        learning.waiting_since = learning.waiting_since or received_on_server
        learning.fresh.append((source, server, received_on_server))
        self._try(tag, learning)
        return Verdict.PASS if tag in self.offsets else Verdict.WAIT

    def _try(self, tag: str, learning: _Learning) -> None:
        if self._deliveries < MIN_DELIVERIES:  # how coarse receive times are is not known yet
            return
        tol = self.tolerance()
        # a server timestamp far from the server's own clock at delivery is not the server's stamp
        # (node-opcua's setValueFromSource copies the PLC's time into it): no reference
        echo = max(tol, 2.0 * self.delivery_delay())  # a server's own stamp trails its clock by less
        exact = [src - srv for src, srv, got in learning.fresh if srv is not None and abs(srv - got) <= echo]
        if exact:
            d = exact[-1]
            self._decide(tag, self._significant(d, self.align_min_s), f"{d:+.1f} s from its server timestamps", "exact")
            return
        near = self._nearest(learning.best, tol)
        if near is not None:
            self._decide(tag, self.offset_of_clock(near), f"shares the clock of {near} (within {tol:.0f} s)", "shared")
        elif len(learning.fresh) >= FRESH_TO_DECIDE:
            off = self._significant(learning.best, tol)
            self._decide(tag, off, f"{learning.best:+.1f} s from our receive times", "receive_times")

    def expire(self, now_on_server: float) -> None:
        """Decide the tags that waited longer than the bound, with what they have; retry the others."""
        for tag, learning in list(self._learning.items()):
            if tag in self.offsets:
                continue
            if not learning.fresh:  # nothing of it waits: its first change will decide
                continue
            self._try(tag, learning)
            if tag in self.offsets:
                continue
            waited = now_on_server - learning.waiting_since
            if tag not in self.offsets and waited > self.decide_within_s and self._deliveries >= MIN_DELIVERIES:
                self._decide_late(tag, learning)

    def _decide_late(self, tag: str, learning: _Learning) -> None:
        tol = self.tolerance()
        near = self._nearest(learning.best, tol)
        n = len(learning.fresh)
        if near is None and abs(learning.best) > tol:
            self._decide(tag, learning.best, f"{learning.best:+.1f} s from {n} value(s)", "late")
        elif near is not None:
            self._decide(tag, self.offset_of_clock(near), f"shares the clock of {near} (within {tol:.0f} s)", "shared")
        else:
            self._decide(tag, 0.0, f"{learning.best:+.1f} s from {n} value(s): within {tol:.0f} s", "late")

    def _nearest(self, d: float, tol: float) -> str | None:
        """The decided tag (or SERVER, the server's own clock) whose offset is within `tol` of d, nearest first."""
        clocks = {SERVER: 0.0, **self.offsets}
        best = min(clocks, key=lambda t: abs(clocks[t] - d))
        return best if abs(clocks[best] - d) <= tol else None

    def offset_of_clock(self, name: str) -> float:
        return 0.0 if name == SERVER else self.offsets[name]

    @staticmethod
    def _significant(d: float, tol: float) -> float:
        return d if abs(d) > tol else 0.0

    @property
    def estimated(self) -> bool:
        """Some tag is aligned by an offset learnt from delivery times: its values may sit up to one
        delivery delay early, so the server's clock vouches only that much later."""
        return bool(self._estimated)

    def _decide(self, tag: str, offset: float, why: str, kind: str) -> None:
        if offset and kind != "exact":
            self._estimated.add(tag)
        self.offsets[tag] = offset
        self.reasons[tag] = why
        self._learning.pop(tag, None)
        if offset:
            log.warning("tag %s: its controller's clock is %+.1f s off the server's (%s): aligned", tag, offset, why)
        else:
            log.debug("tag %s: clock as the server's (%s)", tag, why)
