"""Batch tracking from the batch-id tag (DESIGN §4): when each lot started and stopped feeding."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any


@dataclass(frozen=True, slots=True)
class FeedWindow:
    """The feeding period of one lot. end is None while it is still feeding."""

    batch_id: str
    start: float
    end: float | None = None
    start_observed: bool = True
    abandoned: bool = False


class BatchTracker:
    """Turns batch-id samples (in source-time order) into feed windows.

    A batch starts when the id takes a new non-empty value and stops feeding when the id
    changes or empties. The first id seen with no history is a batch joined in progress:
    its start was not observed.
    """

    def __init__(self, *, known_id: str | None = None, known_start: float | None = None) -> None:
        self._current: FeedWindow | None = None
        self._last_id: str | None = known_id
        self._last_ts = float("-inf")
        if known_id and known_start is not None:
            self._current = FeedWindow(known_id, known_start)

    @property
    def current(self) -> FeedWindow | None:
        return self._current

    @property
    def last_ts(self) -> float:
        return self._last_ts

    def observe(self, ts: float, batch_id: str) -> list[FeedWindow]:
        """Feed one id sample; returns the windows it closed (zero or one)."""
        if ts < self._last_ts:
            return []  # a replayed old id value: the order is already known
        self._last_ts = ts
        batch_id = batch_id.strip()
        if batch_id == self._last_id:
            return []
        first_ever = self._last_id is None
        self._last_id = batch_id
        closed: list[FeedWindow] = []
        if self._current is not None:
            closed.append(replace(self._current, end=ts))
            self._current = None
        if batch_id:
            self._current = FeedWindow(batch_id, ts, start_observed=not first_ever)
        return closed

    def dump(self) -> dict[str, Any]:
        cur = self._current
        return {"current": asdict(cur) if cur else None, "last_id": self._last_id, "last_ts": self._last_ts}

    @classmethod
    def load(cls, data: dict[str, Any]) -> BatchTracker:
        tracker = cls()
        tracker._current = FeedWindow(**data["current"]) if data["current"] else None
        tracker._last_id = data["last_id"]
        tracker._last_ts = float(data["last_ts"])
        return tracker

    def abandon(self, end: float) -> FeedWindow | None:
        """Close the current lot at `end` (no feed for too long); the id must change to reopen."""
        if self._current is None:
            return None
        done = replace(self._current, end=max(end, self._current.start), abandoned=True)
        self._current = None
        return done
