"""Answers of the read routes kept until the store changes: a plant screen polling one lot costs a
dictionary look-up and the store's change mark, not a parse of the lot's row and a JSON dump.

Each answer is kept with the store's change mark (Store.change_mark) taken before it was read; an
entry is served only while the mark is the same, so a write (ours or another process's) is seen
by the next request. Bounded in entries and in characters; a store that cannot give a mark
(change_mark() is None) is read every time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

from monitor.store.sql import Store

MAX_ENTRIES = 256
MAX_CHARS = 32 * 1024 * 1024  # all answers together; a larger single answer is not kept
_WEIGHT_FLOOR = 64  # a tiny answer still costs its key and tuple


class ReadCache:
    """(route, filter) -> (store mark, answer text), least recently used out first; thread-safe."""

    def __init__(self, store: Store, *, max_entries: int = MAX_ENTRIES, max_chars: int = MAX_CHARS) -> None:
        self.store = store
        self.max_entries, self.max_chars = max_entries, max_chars
        self._entries: OrderedDict[Hashable, tuple[object, str]] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Hashable, make: Callable[[], str]) -> str:
        """The answer for `key`: kept while the store's mark holds, else `make()` (run unlocked)."""
        mark = self.store.change_mark()
        if mark is not None:
            with self._lock:
                kept = self._entries.get(key)
                if kept is not None and kept[0] == mark:
                    self._entries.move_to_end(key)
                    self.hits += 1
                    return kept[1]
        text = make()
        if mark is not None:
            self._keep(key, mark, text)
        return text

    def _keep(self, key: Hashable, mark: object, text: str) -> None:
        weight = max(len(text), _WEIGHT_FLOOR)
        with self._lock:
            self.misses += 1
            old = self._entries.pop(key, None)
            if old is not None:
                self._chars -= max(len(old[1]), _WEIGHT_FLOOR)
            if weight > self.max_chars // 4:  # one unfiltered decade would push out every screen's lot
                return
            self._entries[key] = (mark, text)
            self._chars += weight
            while len(self._entries) > self.max_entries or self._chars > self.max_chars:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._chars -= max(len(dropped), _WEIGHT_FLOOR)
