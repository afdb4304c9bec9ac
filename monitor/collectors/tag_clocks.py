"""Each tag's controller clock against the server's, decided from valid references before its samples are used.

The contract is docs/timestamps.md. In short: a tag's first value of a session carries the time it
last changed (maybe days ago) and says nothing of its clock; each later value (a *fresh* one) is
compared with a reference that is itself valid: the server timestamp when the server sent a
plausible one (exact), otherwise the PublishTime of the message that carried it when plausible (no
pipeline latency in it), otherwise our receive time on the server's clock less CurrentTime's least
transit (late by the delivery delay, so the largest difference seen, *best*, is a lower bound of
the offset). The server's own clock is taken whenever the values allow it; otherwise a measured
clock they allow (exact, or a tag's own estimate), or on eight fresh values the tag's own estimate.
A tag still undecided after `decide_within_s` and eight deliveries is decided with what it has.
A decided tag whose fresh value contradicts its clock (a PLC clock set by hand) is learnt again.
"""

from __future__ import annotations

import logging
import math
import statistics
from collections import Counter, deque
from dataclasses import dataclass, field
from enum import Enum

from monitor.collectors.clock_moves import Bounds, Contradiction, contradiction, publishes

log = logging.getLogger(__name__)

SERVER = "the server"  # the server's own clock: every tag's offset is measured against it
FRESH_TO_DECIDE = 8  # fresh values measured against receive times before a tag decides alone
MIN_DELIVERIES = 4  # deliveries seen before any decision: the spacing of receive times is measured
LATE_DELIVERIES = 8  # a tag decides "late" only after this many deliveries too (a fast server clock runs
# `decide_within_s` by in one publish; tags that change often must have had their chance to decide first)


class Verdict(Enum):
    PASS = "pass"  # the tag's clock is decided: the value passes on it
    PROVISIONAL = "provisional"  # a first value: passes on the commonest clock, never later than its receipt
    WAIT = "wait"  # waits for the tag's decision


@dataclass
class _Learning:
    waiting_since: float = 0.0  # our clock at its first fresh value (0: none yet)
    waiting_deliveries: int = -1  # deliveries seen by then (-1: none yet)
    fresh: deque[tuple[float, float | None, float]] = field(default_factory=lambda: deque(maxlen=64))
    # (source, server or None, reference: PublishTime or received on the server's clock), newest last
    published: int = 0  # fresh values whose reference was their message's PublishTime

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
    redecided: Counter[str] = field(default_factory=Counter)  # tag -> how often its decided clock moved
    _learning: dict[str, _Learning] = field(default_factory=dict)
    _suspects: dict[str, _Learning] = field(default_factory=dict)  # decided tags whose late values wait
    _session_seen: set[str] = field(default_factory=set)
    _last_source: dict[str, float] = field(default_factory=dict)  # tag -> its latest source time
    _estimated: set[str] = field(default_factory=set)  # tags aligned by an offset learnt from delivery times
    _uncertain: set[str] = field(default_factory=set)  # tags whose stamps may sit up to one delivery late
    _exact: set[str] = field(default_factory=set)  # tags decided on server timestamps
    _own: set[str] = field(default_factory=set)  # tags decided on many values of their own: delays are measured
    _transits: deque[float] = field(default_factory=lambda: deque(maxlen=64))  # CurrentTime: receipt minus value
    _delays: deque[float] = field(default_factory=lambda: deque(maxlen=256))  # receipt minus aligned stamp
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

    @property
    def settled(self) -> bool:
        """Enough deliveries seen that a tag whose values change would be learning its clock by now."""
        return self._deliveries >= MIN_DELIVERIES

    def decided(self, tag: str) -> bool:
        """Its clock is decided and no late value of it waits as a suspect of a clock set back."""
        return tag in self.offsets and tag not in self._suspects

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

    def transit(self, seconds: float) -> None:
        """How long one CurrentTime value took from the server's clock to our receipt."""
        self._transits.append(seconds)

    @property
    def transit_floor(self) -> float:
        """The least time a value takes to reach us (a constant transit looks like a clock offset otherwise)."""
        return max(0.0, min(self._transits, default=0.0))

    def delivery_delay(self) -> float:
        """How far a value's receipt may trail its stamp: two publishing intervals, or two delivery spacings."""
        spacing = statistics.median(self._spacing) if self._spacing else 0.0
        return max(2.0 * spacing, 2.0 * self.publishing_s * self._rate)

    def one_delivery(self) -> float:
        """How late one value can reach us: it comes with the first publish after it changed, so one
        publishing interval (or the usual spacing of deliveries, when coarser), with a 10 % margin."""
        spacing = statistics.median(self._spacing) if self._spacing else 0.0
        measured = max(self._delays, default=0.0)  # a busy server or a lagging PLC publish later still
        return 1.1 * max(spacing, self.publishing_s * self._rate, measured)

    def uncertainty(self, tag: str) -> float:
        """How much earlier than its aligned stamp a value of `tag` may have happened (0: exact)."""
        return self.one_delivery() if tag in self._uncertain else 0.0

    def echo(self) -> float:
        """How far a server's own stamp (a server timestamp, a PublishTime) may lie from its clock at delivery."""
        return max(self.tolerance(), 2.0 * self.delivery_delay())

    def tolerance(self) -> float:
        """Below this an offset is not told from delivery delay, nor from clocks that agree well enough."""
        return max(self.align_min_s, self.delivery_delay())

    def offset_of(self, tag: str) -> float:
        """The tag's decided offset; undecided, the commonest decided one (0 before any decision)."""
        if tag in self.offsets:
            return self.offsets[tag]
        common = Counter(self.offsets.values()).most_common(1)
        return common[0][0] if common else 0.0

    def observe(
        self,
        tag: str,
        source: float | None,
        server: float | None,
        received_on_server: float,
        *,
        published: bool = False,
    ) -> Verdict:
        """One value's valid times (None: absent or implausible); `received_on_server`: the server's clock at
        delivery, or (`published`) the PublishTime of its message: it happened at or before either.

        A tag's first value of a session passes at once on the commonest clock (PROVISIONAL): it says
        when the value last changed, which no lot edge uses. A later value of an undecided tag WAITs.
        """
        if tag in self.offsets and not self._moved(tag, source, server, received_on_server):
            if source is not None and tag in self._suspects:
                self._last_source[tag] = source
                return Verdict.WAIT
            if tag in self._own and source is not None and source > self._last_source.get(tag, math.inf):
                self._delays.append(received_on_server - (source - self.offsets[tag]))
            if source is not None:
                self._last_source[tag] = source
                self._session_seen.add(tag)
            return Verdict.PASS
        learning = self._learning.setdefault(tag, _Learning())
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
        if learning.waiting_deliveries < 0:
            learning.waiting_deliveries = self._deliveries
        learning.fresh.append((source, server, received_on_server))
        learning.published += published
        self._try(tag, learning)
        return Verdict.PASS if tag in self.offsets else Verdict.WAIT

    def _moved(self, tag: str, source: float | None, server: float | None, reference: float) -> bool:
        """Whether a value of a decided tag contradicts its clock (a PLC clock set by hand): the tag is
        then learnt again, by the same rules, from the contradicting values on, which wait meanwhile.

        Its own server stamp saying another offset, or a value that came before it happened, is
        certain. A value later than any delivery explains may be a stalled pipeline: it waits as a
        suspect until a value from a later publish confirms it (also late) or one clears it (on
        time), or the bound passes (the old clock stands). A session's first value and a repeat
        of the same stamp never contradict (monitor.collectors.clock_moves has the rule).
        """
        if source is None or tag not in self._session_seen or self._last_source.get(tag) == source:
            return False
        bounds = Bounds(self.tolerance(), self.one_delivery(), self.echo())
        found = contradiction(self.offsets[tag], source, server, reference, bounds)
        suspect = self._suspects.get(tag)
        if found is None:
            if self._suspects.pop(tag, None) is not None:
                log.info("tag %s: a value on its clock again: the late ones were delivery, not a clock", tag)
            return False
        if found is Contradiction.LATE:
            spacing = statistics.median(self._spacing) if self._spacing else 0.0
            if suspect is None or reference <= max(r for *_, r in suspect.fresh) + 0.5 * spacing:
                suspect = suspect or self._suspects.setdefault(tag, _Learning(reference, self._deliveries))
                suspect.fresh.append((source, server, reference))
                return False  # waits as a suspect: decided() is False meanwhile
        log.warning(
            "tag %s: a value stamped %+.1f s off its reference contradicts its clock (%+.1f s, %s): "
            "its controller's clock moved; learnt again, its values wait",
            tag,
            source - (server if server is not None else reference),
            self.offsets[tag],
            self.reasons.get(tag, ""),
        )
        self.redecided[tag] += 1
        for decided in (self.offsets, self.reasons):
            decided.pop(tag, None)
        for kind in (self._estimated, self._uncertain, self._exact, self._own):
            kind.discard(tag)
        self._suspects.pop(tag, None)
        if suspect is not None:  # the values it waited with are the new clock's too
            self._learning[tag] = _Learning(suspect.waiting_since, suspect.waiting_deliveries, suspect.fresh)
        return True

    def _try(self, tag: str, learning: _Learning) -> None:
        if self._deliveries < MIN_DELIVERIES:  # how coarse receive times are is not known yet
            return
        # a server timestamp far from the server's own clock at delivery is not the server's stamp
        # (node-opcua's setValueFromSource copies the PLC's time into it): no reference
        echo = self.echo()
        exact = [src - srv for src, srv, got in learning.fresh if srv is not None and abs(srv - got) <= echo]
        if exact:
            d = exact[-1]
            self._decide(tag, self._significant(d, self.align_min_s), f"{d:+.1f} s from its server timestamps", "exact")
            return
        spacing = statistics.median(self._spacing) if self._spacing else 0.0  # a clock learnt again needs 4 publishes
        again = tag in self.redecided and publishes([r for *_, r in learning.fresh], 0.5 * spacing) < MIN_DELIVERIES
        enough = len(learning.fresh) >= FRESH_TO_DECIDE and not again
        near = self._consistent(learning.best)
        if near is not None:
            self._decide(tag, self.offset_of_clock(near), f"shares the clock of {near} (consistent with it)", "shared")
        elif enough:
            self._decide(tag, learning.best, f"{learning.best:+.1f} s from {_refs(learning)}", "receive_times")

    def expire(self, now_on_server: float, *, force: bool = False) -> None:
        """Retry the waiting tags; once one has waited longer than the bound, decide every waiting tag
        with what it has, those with the most values first (the others may then share their clocks)."""
        waiting = sorted(
            ((t, x) for t, x in self._learning.items() if t not in self.offsets and x.fresh),
            key=lambda tx: -len(tx[1].fresh),
        )
        for tag, suspect in list(self._suspects.items()):  # unconfirmed within the bound: the old clock stands
            if force or self._overdue(suspect, now_on_server):
                log.info("tag %s: %d late value(s), unconfirmed: its clock stands", tag, len(suspect.fresh))
                del self._suspects[tag]
        late = False
        for tag, learning in waiting:
            self._try(tag, learning)
            late = late or self._overdue(learning, now_on_server)
        if force or (late and self._deliveries >= MIN_DELIVERIES):
            for tag, learning in waiting:
                if tag not in self.offsets:
                    self._decide_late(tag, learning)

    def _overdue(self, learning: _Learning, now_on_server: float) -> bool:
        waited = now_on_server - learning.waiting_since
        return waited > self.decide_within_s and self._deliveries - learning.waiting_deliveries >= LATE_DELIVERIES

    def _decide_late(self, tag: str, learning: _Learning) -> None:
        near = self._consistent(learning.best)
        n = len(learning.fresh)
        if near is None:
            self._decide(tag, learning.best, f"{learning.best:+.1f} s from {n} value(s)", "late")
        else:
            self._decide(tag, self.offset_of_clock(near), f"shares the clock of {near} (consistent with it)", "shared")

    def _consistent(self, best: float) -> str | None:
        """The decided clock (or SERVER) the tag's values allow, nearest to `best` first.

        `best` (stamp minus receipt, at its largest) is a lower bound of the tag's offset: a value
        is never received before it happens; its least delayed value came at most a delivery delay
        late, so the offset lies in [best, best + delay], and clocks within `align_min_s` agree well
        enough. A constant delay cannot be told from a clock offset, so an offset is claimed only
        when the values rule the server's own clock out. Only clocks measured well are shared (the
        server's own, one read off server timestamps, or one a tag estimated on enough values).
        """
        lo, hi = best - self.align_min_s, best + max(self.align_min_s, self.delivery_delay())
        measured = self._exact | self._own
        clocks = {SERVER: 0.0, **{t: self.offsets[t] for t in measured if t in self.offsets}}
        fits = [t for t in clocks if lo <= clocks[t] <= hi]
        if SERVER in fits:
            return SERVER
        return min(fits, key=lambda t: abs(clocks[t] - best)) if fits else None

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
        if kind not in ("exact", "no_source"):  # learnt from receive times: the stamp is the latest it can be
            self._uncertain.add(tag)
        if kind == "receive_times":
            self._own.add(tag)
        if kind == "exact":
            self._exact.add(tag)
        self.offsets[tag] = offset
        self.reasons[tag] = why
        self._learning.pop(tag, None)
        if offset:
            log.warning("tag %s: its controller's clock is %+.1f s off the server's (%s): aligned", tag, offset, why)
        else:
            log.debug("tag %s: clock as the server's (%s)", tag, why)


def _refs(learning: _Learning) -> str:
    """What the tag's estimate was measured against, for its reason."""
    if learning.published >= len(learning.fresh):
        return "its messages' publish times"
    return "our receive times" if not learning.published else "publish and receive times"
