"""Whether one fresh value agrees with its tag's decided clock: the pure rule of docs/timestamps.md
("A decided clock that moves"), apart from the bookkeeping in monitor.collectors.tag_clocks."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Contradiction(Enum):
    MOVED = "moved"  # the clock moved for certain: its own server stamp says so, or it came before it happened
    LATE = "late"  # later than any delivery explains: a clock set back, or a stalled pipeline (to be confirmed)


@dataclass(frozen=True, slots=True)
class Bounds:
    """What a value may deviate by: `tolerance` either way, `one_delivery` more when late; a server
    stamp is the server's own when within `echo` of the reference."""

    tolerance: float
    one_delivery: float
    echo: float


def contradiction(
    offset: float, source: float, server: float | None, reference: float, bounds: Bounds
) -> Contradiction | None:
    """`source` (the tag's clock), `server` (its server stamp, None: none valid) and `reference` (the
    server's clock when it was sent: PublishTime, else at delivery) against the decided `offset`."""
    if server is not None:
        if abs(source - server - offset) <= bounds.tolerance:
            return None  # its own stamp agrees (also a server that copies the source time into it)
        if abs(server - reference) <= bounds.echo:
            return Contradiction.MOVED  # the server's own stamp: an exact measurement of the new clock
    lower = source - reference  # a value is never received before it happens: a lower bound of the offset
    if lower > offset + bounds.tolerance:
        return Contradiction.MOVED
    if lower < offset - bounds.tolerance - bounds.one_delivery:
        return Contradiction.LATE
    return None


def publishes(references: list[float], gap: float) -> int:
    """How many publishes values with these references (in arrival order) came in: a new one is
    more than `gap` after the last (values of one message share its PublishTime)."""
    n, last = 0, float("-inf")
    for ref in references:
        if ref > last + gap:
            n, last = n + 1, ref
    return n
