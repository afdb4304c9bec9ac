"""Per-tag sample buffers kept in source-time order, with cheap appends and trimming."""

from __future__ import annotations

import bisect
from typing import Any, Generic, Self, TypeVar

import numpy as np
from numpy.typing import NDArray

V = TypeVar("V")
MIN_ROOM = 64  # samples a numeric buffer starts with


class _Series(Generic[V]):
    """What both series share: timestamps and values in time order, their checkpoint form, trimming."""

    def __init__(self) -> None:
        self._ts: list[float] = []
        self._v: list[V] = []

    def add(self, ts: float, value: V) -> bool:
        raise NotImplementedError

    @staticmethod
    def parse(value: Any) -> V:
        """A value as a checkpoint holds it → the series' own."""
        raise NotImplementedError

    def dump(self) -> list[list[Any]]:
        """[timestamps, values] for a checkpoint."""
        return [list(self._ts), list(self._v)]

    @classmethod
    def load(cls, data: list[list[Any]]) -> Self:
        series = cls()
        for ts, v in zip(data[0], data[1], strict=True):
            series.add(float(ts), cls.parse(v))
        return series

    def _drop_first(self, n: int) -> bool:
        """Drop the n oldest samples (none when n <= 0); whether any went."""
        if n <= 0:
            return False
        del self._ts[:n]
        del self._v[:n]
        return True


class NumericSeries(_Series[float]):
    """(ts, value) of accepted samples, sorted by ts; a repeated timestamp is kept once.

    Held in numpy buffers with room to grow, the live part between two offsets: a block appends by
    one copy, a trim moves an offset, `arrays` is a view (Python lists cost a conversion each way
    per replay slice, a fifth of the pass). A view handed out never changes: appends write past
    its end, an insertion or a growth copies to new buffers.
    """

    @staticmethod
    def parse(value: Any) -> float:
        return float(value)

    def __init__(self) -> None:
        super().__init__()
        self._tb: NDArray[np.float64] = np.empty(MIN_ROOM)
        self._vb: NDArray[np.float64] = np.empty(MIN_ROOM)
        self._lo = self._hi = 0
        self._view: tuple[NDArray[np.float64], int, int, NDArray[np.float64], NDArray[np.float64]] = (
            self._tb,
            -1,
            -1,
            self._tb,
            self._vb,
        )

    def __len__(self) -> int:
        return self._hi - self._lo

    def _room(self, n: int) -> None:
        """Space for n more samples past the end (new buffers when they are short)."""
        if self._hi + n <= self._tb.size:
            return
        held = self._hi - self._lo
        size = max(MIN_ROOM, 2 * (held + n))
        tb, vb = np.empty(size), np.empty(size)
        tb[:held], vb[:held] = self._tb[self._lo : self._hi], self._vb[self._lo : self._hi]
        self._tb, self._vb, self._lo, self._hi = tb, vb, 0, held

    def add(self, ts: float, value: float) -> bool:
        """Insert in time order; returns False for a sample already held (same ts)."""
        if self._hi == self._lo or ts > self._tb[self._hi - 1]:
            self._room(1)
            self._tb[self._hi], self._vb[self._hi] = ts, value
            self._hi += 1
            return True
        t, v = self.arrays()
        i = int(t.searchsorted(ts, side="left"))
        if i < t.size and t[i] == ts:
            return False
        tb, vb = np.insert(t, i, ts), np.insert(v, i, value)  # new buffers: views handed out stay
        self._tb, self._vb, self._lo, self._hi = tb, vb, 0, tb.size
        return True

    def extend(self, ts: NDArray[np.float64], values: NDArray[np.float64]) -> int:
        """Add many samples; returns how many were already held. Sorted, newer samples append in bulk."""
        if ts.size == 0:
            return 0
        increasing = ts.size == 1 or bool((ts[1:] > ts[:-1]).all())  # (np.diff allocates once more: 3x dearer)
        if (self._hi == self._lo or ts[0] > self._tb[self._hi - 1]) and increasing:
            self._room(ts.size)
            self._tb[self._hi : self._hi + ts.size] = ts
            self._vb[self._hi : self._hi + ts.size] = values
            self._hi += ts.size
            return 0
        return sum(not self.add(t, v) for t, v in zip(ts.tolist(), values.tolist(), strict=True))

    def arrays(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        held = self._view  # the last view, while the buffers and offsets are the same (a lot asks a dozen times)
        if held[0] is self._tb and held[1] == self._lo and held[2] == self._hi:
            return held[3], held[4]
        t, v = self._tb[self._lo : self._hi], self._vb[self._lo : self._hi]
        t.flags.writeable = v.flags.writeable = False  # a view of the buffers: read only
        self._view = (self._tb, self._lo, self._hi, t, v)
        return t, v

    def dump(self) -> list[list[Any]]:
        t, v = self.arrays()
        return [t.tolist(), v.tolist()]

    @property
    def last_ts(self) -> float:
        return float(self._tb[self._hi - 1]) if self._hi > self._lo else float("-inf")

    @property
    def last_value(self) -> float | None:
        return float(self._vb[self._hi - 1]) if self._hi > self._lo else None

    def trim_before(self, t: float) -> None:
        """Drop samples older than t, keeping the last two before t.

        The last one is needed to interpolate at t; the one before it tells whether that one was
        a step (a counter's first step after an idle spell is placed differently, totalizer.py).
        """
        drop = int(self.arrays()[0].searchsorted(t, side="left")) - 2
        if drop > 0:
            self._lo += drop


class TextSeries(_Series[str]):
    """(ts, text) of a string tag (batch attributes, bag ids), sorted by ts."""

    @staticmethod
    def parse(value: Any) -> str:
        return str(value)

    def add(self, ts: float, value: str) -> bool:
        i = bisect.bisect_left(self._ts, ts)
        if i < len(self._ts) and self._ts[i] == ts:
            return False
        self._ts.insert(i, ts)
        self._v.insert(i, value)
        return True

    def at(self, t: float) -> str | None:
        """The value in force at t (the latest with ts <= t)."""
        i = bisect.bisect_right(self._ts, t)
        return self._v[i - 1] if i else None

    def exact(self, t: float, tolerance: float = 0.0) -> str | None:
        """The value stamped within `tolerance` seconds of t, nearest first."""
        i = bisect.bisect_left(self._ts, t - tolerance)
        best: tuple[float, str] | None = None
        while i < len(self._ts) and self._ts[i] <= t + tolerance:
            d = abs(self._ts[i] - t)
            if best is None or d < best[0]:
                best = (d, self._v[i])
            i += 1
        return best[1] if best else None

    def between(self, t0: float, t1: float) -> list[tuple[float, str]]:
        """(ts, text) with t0 < ts <= t1."""
        i, j = bisect.bisect_right(self._ts, t0), bisect.bisect_right(self._ts, t1)
        return list(zip(self._ts[i:j], self._v[i:j], strict=True))

    def trim_before(self, t: float) -> None:
        """Drop samples older than t, keeping the one in force at t."""
        self._drop_first(bisect.bisect_left(self._ts, t) - 1)
