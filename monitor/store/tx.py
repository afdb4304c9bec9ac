"""The one thing the store's halves share: an open transaction, whichever engine runs it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol


class Tx(Protocol):
    """One open transaction: `q` runs a statement and returns its rows, `many` runs it per row."""

    def q(self, sql: str, args: Sequence[object] = ()) -> list[tuple[Any, ...]]: ...

    def many(self, sql: str, rows: Sequence[Sequence[object]]) -> None: ...

    def lock(self, key: str) -> None: ...

    def after_copy(self) -> None: ...

    def copy(self, table: str, columns: str, rows: Iterable[Sequence[object]]) -> None: ...

    def stream(self, sql: str) -> Iterator[tuple[Any, ...]]: ...


class StoreHalf:
    """What a half of the store's interface (shipments, footprints) needs of the Store it is mixed into."""

    url: str
    errors: tuple[type[Exception], ...]

    def _tx(self) -> Any:
        raise NotImplementedError

    def _read(self, sql: str, args: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError
