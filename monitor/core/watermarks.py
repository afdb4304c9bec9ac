"""Per-source watermarks: when a lot may close on a line fed by several sources (docs/sources.md,
"When a lot closes with several sources").

A source's watermark is the newest stamp it delivered (on our clock, after the clock gate): the
engine is handed nothing of it stamped at or before that afterwards. A lot waits for every source
one of its streams comes from, until that source's watermark is past the stream's window end +
settle. A source with no news (no delivery that moved its watermark, no connect, no loss) for
`bound_s` on our clock no longer holds lots, so a source down, away or quiet never stops the line.

Pure values and functions: the service keeps one `Watermarks` and replaces it as news comes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

from monitor.core.spec import LineSpec

NEVER = -math.inf


@dataclass(frozen=True, slots=True)
class SourceMark:
    """What is known of one source: its watermark, when it last had news, whether it is connected."""

    mark: float = NEVER  # the newest stamp it delivered
    news: float = NEVER  # our clock when its watermark last moved or its connection changed
    connected: bool = False


@dataclass(frozen=True, slots=True)
class LetGo:
    """A source a lot closed without: it was not connected and its watermark short of the lot's need."""

    source: str
    mark: float
    need: float


@dataclass(frozen=True, slots=True)
class Watermarks:
    """Every source that feeds a lot's stream, and how long one without news still holds lots."""

    sources: Mapping[str, SourceMark]
    bound_s: float

    @classmethod
    def of(cls, names: Iterable[str], bound_s: float, now: float) -> Watermarks:
        """Fresh marks: each source holds from `now` (its first news) until the bound."""
        return cls(MappingProxyType({n: SourceMark(news=now) for n in names}), bound_s)

    def _with(self, name: str, mark: SourceMark) -> Watermarks:
        return replace(self, sources=MappingProxyType({**self.sources, name: mark}))

    def delivered(self, name: str, stamps: Iterable[float], now: float) -> Watermarks:
        """`name` handed over values stamped `stamps` (Bad ones left out by the caller)."""
        old = self.sources.get(name)
        if old is None:
            return self
        newest = max((t for t in stamps if math.isfinite(t)), default=NEVER)
        if newest <= old.mark:
            return self
        return self._with(name, replace(old, mark=newest, news=now))

    def connection(self, name: str, connected: bool, now: float) -> Watermarks:
        """`name` is (or is no longer) connected: a change is news."""
        old = self.sources.get(name)
        if old is None or old.connected == connected:
            return self
        return self._with(name, replace(old, connected=connected, news=now))

    def excused(self, name: str, now: float) -> bool:
        """No news from `name` for the bound: it no longer holds lots."""
        return now - self.sources[name].news >= self.bound_s


def line_time(wm: Watermarks, now: float) -> float:
    """The line's time: the slowest watermark of the sources still holding lots (+inf: none holds).
    A lot is abandoned and buffers are trimmed on it, not on the newest stamp from any source."""
    return min((m.mark for n, m in wm.sources.items() if not wm.excused(n, now)), default=math.inf)


def lot_needs(spec: LineSpec, source_of: Mapping[str, str], end: float, settle_s: float) -> dict[str, float]:
    """For each source a lot ending at `end` waits for: the stamp its watermark must pass (the
    latest window end + settle of the lot's streams whose tag it delivers)."""
    need: dict[str, float] = {}
    for s in spec.streams:
        if s.tag and s.tag in source_of:
            src = source_of[s.tag]
            need[src] = max(need.get(src, NEVER), end + s.delay_s + settle_s)
    return need


def waiting_for(wm: Watermarks, need: Mapping[str, float], now: float) -> tuple[str, ...]:
    """The sources a lot with these needs still waits for (empty: it may close)."""
    return tuple(
        sorted(n for n, t in need.items() if n in wm.sources and wm.sources[n].mark <= t and not wm.excused(n, now))
    )


def let_go(wm: Watermarks, need: Mapping[str, float]) -> tuple[LetGo, ...]:
    """The sources a lot closes without that are not connected: their span is a gap to flag."""
    return tuple(
        LetGo(n, wm.sources[n].mark, t)
        for n, t in sorted(need.items())
        if n in wm.sources and wm.sources[n].mark <= t and not wm.sources[n].connected
    )
