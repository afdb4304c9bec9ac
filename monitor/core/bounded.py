"""A set that remembers only its newest `limit` members: memory stays flat over months."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Set


class RecentSet(Set[str]):
    """Membership of the newest `limit` distinct items; the oldest are forgotten first."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._order: deque[str] = deque()
        self._members: set[str] = set()

    def add(self, item: str) -> None:
        if item in self._members:
            return
        if len(self._order) >= self.limit:
            self._members.discard(self._order.popleft())
        self._order.append(item)
        self._members.add(item)

    def discard_all(self, items: tuple[str, ...]) -> None:
        """Forget these members (a batch fed again: its bags are counted anew)."""
        gone = self._members.intersection(items)
        if gone:
            self._members -= gone
            self._order = deque(x for x in self._order if x not in gone)

    def __contains__(self, item: object) -> bool:
        return item in self._members

    def __len__(self) -> int:
        return len(self._order)

    def __iter__(self) -> Iterator[str]:
        return iter(self._order)
