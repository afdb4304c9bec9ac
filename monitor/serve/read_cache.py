"""Answers of the read routes kept until the store changes, and each stored row's JSON kept for as
long as it is asked for: a plant screen polling one lot costs a dictionary look-up and the store's
change mark, not a parse of the lot's row and a JSON dump on the interpreter the reads share.

An answer is kept with the store's change mark (Store.change_mark) taken before it was read; it is
served only while the mark is the same, so a write (ours or another process's) is seen by the next
request. A row's JSON is keyed by the stored row text itself (a version's projection is never
rewritten in place; the same text gives the same JSON), so it needs no invalidation. Both are
bounded in characters, least recently used out first; a store that cannot give a mark
(change_mark() is None) is read every time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence

from monitor.store.sql import Store

MAX_CHARS = 32 * 1024 * 1024  # each cache, all its entries together
_ENTRY_COST = 64  # a tiny entry still costs its key and tuple


class _Lru:
    """key -> (tag, text), bounded in characters; the caller holds the lock."""

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self.entries: OrderedDict[Hashable, tuple[object, str]] = OrderedDict()
        self.chars = 0

    @staticmethod
    def _cost(key: Hashable, text: str) -> int:
        return len(text) + (len(key) if isinstance(key, str) else 0) + _ENTRY_COST

    def get(self, key: Hashable) -> tuple[object, str] | None:
        kept = self.entries.get(key)
        if kept is not None:
            self.entries.move_to_end(key)
        return kept

    def put(self, key: Hashable, tag: object, text: str) -> None:
        old = self.entries.pop(key, None)
        if old is not None:
            self.chars -= self._cost(key, old[1])
        cost = self._cost(key, text)
        if cost > self.max_chars // 4:  # one unfiltered decade would push out every screen's lot
            return
        self.entries[key] = (tag, text)
        self.chars += cost
        while self.chars > self.max_chars:
            k, (_, dropped) = self.entries.popitem(last=False)
            self.chars -= self._cost(k, dropped)


class ReadCache:
    """(route, filter) -> the answer text while the store's change mark holds; thread-safe."""

    def __init__(self, store: Store, *, max_chars: int = MAX_CHARS) -> None:
        self.store = store
        self._answers = _Lru(max_chars)
        self._lock = threading.Lock()

    def peek(self, key: Hashable) -> str | None:
        """The kept answer if the store can vouch for it without waiting (safe on the event loop)."""
        mark = self.store.change_mark(wait=False)
        return None if mark is None else self._kept(key, mark)

    def get(self, key: Hashable, make: Callable[[], str]) -> str:
        """The answer for `key`: kept while the store's mark holds, else `make()` (run unlocked)."""
        mark = self.store.change_mark()
        if mark is None:
            return make()
        kept = self._kept(key, mark)
        if kept is not None:
            return kept
        text = make()
        with self._lock:
            self._answers.put(key, mark, text)
        return text

    def _kept(self, key: Hashable, mark: object) -> str | None:
        with self._lock:
            kept = self._answers.get(key)
        return kept[1] if kept is not None and kept[0] == mark else None


class RowJson:
    """Stored row text -> its JSON object text; rows not held are converted together by `convert`."""

    def __init__(self, convert: Callable[[list[str]], list[str]], *, max_chars: int = MAX_CHARS) -> None:
        self.convert = convert
        self._rows = _Lru(max_chars)
        self._lock = threading.Lock()

    def array(self, texts: Sequence[str]) -> str:
        """The JSON array of the rows `texts`, in their order."""
        with self._lock:
            found = {t: kept[1] for t in texts if (kept := self._rows.get(t)) is not None}
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        if missing:
            made = self.convert(missing)
            if len(made) != len(missing):
                raise ValueError(f"RowJson: {len(missing)} rows converted to {len(made)} JSON objects")
            found.update(zip(missing, made, strict=True))
            with self._lock:
                for t, j in zip(missing, made, strict=True):
                    self._rows.put(t, None, j)
        return "[" + ",".join(found[t] for t in texts) + "]"
