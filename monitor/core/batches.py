"""Batch tracking from the batch-id tag: when each lot started and stopped feeding.

Real PLCs pause lots, reuse ids and write idle sentinels; the tracker turns their id values
into feed windows that are each one physical lot:

- an id that returns right after its own lot (only idle between, within `resume_within_s`)
  resumes that lot: one batch, however often it paused;
- an id that returns after another lot, or later than that, is a new lot and gets a suffix
  (`L1-0042`, then `L1-0042.2`), so nothing stored is overwritten;
- a lot closed as abandoned whose feed starts again under the same id is reopened.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import asdict, dataclass, replace
from typing import Any

_NAMES_KEPT = 20_000  # raw ids whose use counts are remembered (months of lots)


@dataclass(frozen=True, slots=True)
class FeedWindow:
    """The feeding period of one lot. end is None while it is still feeding."""

    batch_id: str
    start: float
    end: float | None = None
    start_observed: bool = True
    abandoned: bool = False
    raw_id: str = ""  # the id as the PLC wrote it (batch_id may carry a reuse suffix)
    resumed: bool = False  # paused or abandoned, then fed again under the same id

    def ended(self, end: float) -> FeedWindow:
        """This window stopped feeding at `end` (dataclasses.replace, built directly: it is twice as dear,
        once per lot)."""
        w = self
        return FeedWindow(w.batch_id, w.start, end, w.start_observed, w.abandoned, w.raw_id, w.resumed)


def base_id(batch_id: str) -> tuple[str, int]:
    """'L1-0042.3' -> ('L1-0042', 3); an id without a numeric suffix is use 1."""
    head, dot, tail = batch_id.rpartition(".")
    if dot and head and tail.isdigit() and int(tail) >= 2:  # noqa: PLR2004 - suffixes start at .2 (the first reuse)
        return head, int(tail)
    return batch_id, 1


class BatchTracker:
    """Turns batch-id samples (in source-time order) into feed windows.

    A batch starts when the id takes a new non-empty value and stops feeding when the id
    changes or empties. The first id seen with no history is a batch joined in progress:
    its start was not observed.
    """

    def __init__(self, *, resume_within_s: float = 4 * 3600.0) -> None:
        self.resume_within_s = resume_within_s
        self._current: FeedWindow | None = None
        self._last_id: str | None = None
        self._last_ts = float("-inf")
        self._closed: FeedWindow | None = None  # the latest lot that stopped feeding (may resume)
        self._uses: OrderedDict[str, int] = OrderedDict()  # raw id -> how many lots used it
        self._last_stored: str | None = None

    @property
    def current(self) -> FeedWindow | None:
        return self._current

    @property
    def last_ts(self) -> float:
        return self._last_ts

    @property
    def reopenable(self) -> FeedWindow | None:
        """The latest closed lot while it may still resume (its data must be kept)."""
        return self._closed

    def seed(self, batch_ids: list[str]) -> None:
        """Ids already stored (oldest first), so a reused id after a restart still gets its suffix."""
        for b in batch_ids:
            raw, n = base_id(b)
            self._count(raw, max(n, self._uses.get(raw, 0)))
        self._last_stored = base_id(batch_ids[-1])[0] if batch_ids else None

    def _count(self, raw: str, n: int) -> None:
        self._uses[raw] = n
        self._uses.move_to_end(raw)
        while len(self._uses) > _NAMES_KEPT:
            self._uses.popitem(last=False)

    def _name(self, raw: str, *, first_ever: bool) -> str:
        if first_ever and raw == self._last_stored:
            return raw if self._uses.get(raw, 1) <= 1 else f"{raw}.{self._uses[raw]}"  # joined in progress
        n = self._uses.get(raw, 0) + 1
        self._count(raw, n)
        return raw if n == 1 else f"{raw}.{n}"

    def observe(self, ts: float, batch_id: str) -> tuple[list[FeedWindow], FeedWindow | None]:
        """Feed one id sample (already normalised: '' = no lot).

        Returns the windows it closed (zero or one) and the window it resumed, if any (the
        engine takes that one back from its pending lots, or stores a new version of it).
        """
        if ts < self._last_ts:
            return [], None  # a replayed old id value: the order is already known
        self._last_ts = ts
        if batch_id == self._last_id:
            return [], None
        first_ever = self._last_id is None
        self._last_id = batch_id
        closed: list[FeedWindow] = []
        if self._current is not None:
            done = self._current.ended(ts)
            closed.append(done)
            self._closed = done
            self._current = None
        if not batch_id:
            return closed, None
        prev = self._closed
        if (
            prev is not None
            and not closed
            and prev.raw_id == batch_id
            and prev.end is not None
            and ts - prev.end <= self.resume_within_s
        ):
            return closed, self._resume(prev)
        self._closed = None  # another lot started: the previous one can no longer resume
        self._current = FeedWindow(
            self._name(batch_id, first_ever=first_ever), ts, start_observed=not first_ever, raw_id=batch_id
        )
        return closed, None

    def move_edge(self, at: float, to: float) -> None:
        """The lot edge stamped `at` happened at `to`: the lot that started and the one that stopped there move."""
        if self._current is not None and self._current.start == at:
            self._current = replace(self._current, start=to)
        if self._closed is not None and at in (self._closed.start, self._closed.end):
            self._closed = (
                replace(self._closed, start=to) if self._closed.start == at else replace(self._closed, end=to)
            )

    def _resume(self, prev: FeedWindow) -> FeedWindow:
        self._current = replace(prev, end=None, abandoned=False, resumed=True)
        self._closed = None
        self._last_id = prev.raw_id
        return prev

    def resume_on_activity(self, ts: float) -> FeedWindow | None:
        """Feed resumed while the id never changed after an abandoned lot: reopen that lot."""
        prev = self._closed
        if (
            self._current is None
            and prev is not None
            and prev.abandoned
            and self._last_id == prev.raw_id
            and prev.end is not None
            and ts > prev.end
        ):
            return self._resume(prev)
        return None

    def expire(self, now: float) -> None:
        """A closed lot can no longer resume once `resume_within_s` has passed."""
        prev = self._closed
        if prev is not None and prev.end is not None and now - prev.end > self.resume_within_s:
            self._closed = None

    def abandon(self, end: float) -> FeedWindow | None:
        """Close the current lot at `end` (no feed for too long); feed under the same id reopens it."""
        if self._current is None:
            return None
        done = replace(self._current, end=max(end, self._current.start), abandoned=True)
        self._current = None
        self._closed = done
        return done

    def dump(self) -> dict[str, Any]:
        cur, closed = self._current, self._closed
        return {
            "current": asdict(cur) if cur else None,
            "closed": asdict(closed) if closed else None,
            "last_id": self._last_id,
            "last_ts": self._last_ts,
            "uses": list(self._uses.items()),
        }

    @classmethod
    def load(cls, data: dict[str, Any], *, resume_within_s: float = 4 * 3600.0) -> BatchTracker:
        """A tracker resumed from `dump()`."""
        tracker = cls(resume_within_s=resume_within_s)
        tracker.restore(data)
        return tracker

    def restore(self, data: dict[str, Any]) -> None:
        """Take up where the tracker that wrote `data` (its `dump()`) left off."""
        self._current = FeedWindow(**data["current"]) if data["current"] else None
        self._closed = FeedWindow(**data["closed"]) if data.get("closed") else None
        self._last_id = data["last_id"]
        self._last_ts = float(data["last_ts"])
        for raw, n in data.get("uses", []):
            self._count(str(raw), int(n))
