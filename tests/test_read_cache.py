"""The API's read cache: the same answers as reading afresh, and never an answer older than the store."""

from __future__ import annotations

import math
import threading
from dataclasses import replace
from pathlib import Path

from monitor.reports.exports import load_batches
from monitor.reports.frames import human
from monitor.serve.api import rows_json
from monitor.serve.read_cache import ReadCache, RowJson
from monitor.store.batches import BatchStore
from monitor.store.query import BatchQuery
from monitor.store.url import open_store
from tests.test_store import result


def _listing(store: BatchStore, f: BatchQuery) -> str:
    """What /api/batches answered before the cache: the frame written whole by polars."""
    frame = load_batches(store, f)
    return f'{{"count": {frame.height}, "batches": {human(frame).write_json()}}}'


def test_rows_as_json_one_by_one_are_the_listing_polars_writes_whole(tmp_path: Path) -> None:
    store = BatchStore(tmp_path / "blackmass.db")
    odd = ("line\u2028separator", 'quote"comma,', "tab\tnewline\n", "=HYPERLINK()")
    for i, flag in enumerate(odd, start=1):
        r = result(f"L1-{i:05d}", feed=1000.0 * i + 0.123456, start=1000.0 * i)
        store.save(replace(r, flags=(flag,), closure=math.nan if i == 2 else r.closure))
    rows = RowJson(rows_json)
    for f in (
        BatchQuery(),
        BatchQuery(batch_id="L1-00002"),
        BatchQuery(batch_id="none"),
        BatchQuery(lines=("L1",)),
    ):
        texts = store.batch_texts(f)
        got = f'{{"count": {len(texts)}, "batches": {rows.array(texts)}}}'
        assert got == _listing(store, f)
    # every row is now kept: a listing in another order is put together from them alone
    again = RowJson(lambda texts: [t.upper() for t in texts])  # a converter that would show if used
    texts = store.batch_texts(BatchQuery())
    assert rows.array(texts[::-1]) == "[" + ",".join(rows_json(texts)[::-1]) + "]"
    assert again.array([]) == "[]"
    store.close()


def test_a_kept_answer_is_served_until_the_store_changes_here_or_elsewhere(store_url: str) -> None:
    store = open_store(store_url)
    store.save(result("L1-00001"))
    cache, made = ReadCache(store), []

    def answer(tag: str) -> str:
        made.append(tag)
        return tag

    assert cache.get("k", lambda: answer("first")) == "first"
    assert cache.get("k", lambda: answer("second")) == "first"  # unchanged store: kept
    store.save(result("L1-00002"))  # our own write
    assert cache.get("k", lambda: answer("third")) == "third"
    other = open_store(store_url)  # another connection (another process: a monitor beside `serve`)
    other.save(result("L1-00003"))
    other.close()
    assert cache.get("k", lambda: answer("fourth")) == "fourth"
    assert cache.get("k", lambda: answer("fifth")) == "fourth"
    assert made == ["first", "third", "fourth"]
    store.close()


def test_peek_never_waits_for_the_store(tmp_path: Path) -> None:
    store = BatchStore(tmp_path / "blackmass.db")
    store.save(result("L1-00001"))
    cache = ReadCache(store)
    assert cache.peek("k") is None  # nothing kept yet
    cache.get("k", lambda: "answer")
    assert cache.peek("k") == "answer"
    entered, release = threading.Event(), threading.Event()

    def long_write() -> None:
        with store.transaction():
            entered.set()
            release.wait(30)

    writer = threading.Thread(target=long_write)
    writer.start()
    assert entered.wait(30)
    try:
        assert cache.peek("k") is None  # the connection is busy: the caller goes to a thread instead
    finally:
        release.set()
        writer.join(30)
    assert cache.get("k", lambda: "after") == "after"  # the transaction counts as a change
    store.close()


def test_the_cache_stays_within_its_bound(tmp_path: Path) -> None:
    store = BatchStore(tmp_path / "blackmass.db")
    cache = ReadCache(store, max_chars=10_000)
    for i in range(100):
        cache.get(i, lambda i=i: str(i) * 500)
    assert cache.peek(99) == "99" * 500
    assert cache.peek(0) is None  # pushed out, least recently used first
    assert cache.get("big", lambda: "x" * 5_000) == "x" * 5_000  # over a quarter of the bound: not kept
    assert cache.peek("big") is None
    store.close()
