"""Per-tag sample buffers kept in source-time order, with cheap appends and trimming."""

from __future__ import annotations

import bisect
from typing import Any, Generic, Self, TypeVar

import numpy as np
from numpy.typing import NDArray

V = TypeVar("V")


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
    """(ts, value) of accepted samples, sorted by ts; a repeated timestamp is kept once."""

    @staticmethod
    def parse(value: Any) -> float:
        return float(value)

    def __init__(self) -> None:
        super().__init__()
        self._arrays: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None

    def __len__(self) -> int:
        return len(self._ts)

    def add(self, ts: float, value: float) -> bool:
        """Insert in time order; returns False for a sample already held (same ts)."""
        if not self._ts or ts > self._ts[-1]:
            self._ts.append(ts)
            self._v.append(value)
        else:
            i = bisect.bisect_left(self._ts, ts)
            if i < len(self._ts) and self._ts[i] == ts:
                return False
            self._ts.insert(i, ts)
            self._v.insert(i, value)
        self._arrays = None
        return True

    def extend(self, ts: NDArray[np.float64], values: NDArray[np.float64]) -> int:
        """Add many samples; returns how many were already held. Sorted, newer samples append in bulk."""
        if ts.size == 0:
            return 0
        if (not self._ts or ts[0] > self._ts[-1]) and (ts.size == 1 or bool(np.all(np.diff(ts) > 0))):
            self._ts.extend(ts.tolist())
            self._v.extend(values.tolist())
            self._arrays = None
            return 0
        return sum(not self.add(t, v) for t, v in zip(ts.tolist(), values.tolist(), strict=True))

    def arrays(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        if self._arrays is None:
            self._arrays = (np.asarray(self._ts, dtype=np.float64), np.asarray(self._v, dtype=np.float64))
        return self._arrays

    @property
    def last_ts(self) -> float:
        return self._ts[-1] if self._ts else float("-inf")

    @property
    def last_value(self) -> float | None:
        return self._v[-1] if self._v else None

    def trim_before(self, t: float) -> None:
        """Drop samples older than t, keeping the last two before t.

        The last one is needed to interpolate at t; the one before it tells whether that one was
        a step (a counter's first step after an idle spell is placed differently, totalizer.py).
        """
        if self._drop_first(bisect.bisect_left(self._ts, t) - 2):
            self._arrays = None


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
