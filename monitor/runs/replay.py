"""Historian exports through the same core as live data, chunked and vectorised.

The file is read and checked by monitor/runs/history_file.py: the whole file is checked before
anything is processed, so a bad file changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray

from monitor.core.engine import Engine
from monitor.core.results import BatchResult
from monitor.core.samples import Quality
from monitor.errors import InputError
from monitor.runs.history_file import CHUNK_ROWS, Checked, Slice, survey_history, wanted_slices

_QUALITY = tuple(sorted(Quality))  # by number: a lookup, not an Enum call per text sample


@dataclass(frozen=True, slots=True)
class ReplayStats:
    samples: int
    chunks: int
    batches: int
    first_ts: float
    last_ts: float


def replay_file(
    path: Path,
    engine: Engine,
    on_result: Callable[[BatchResult], None],
    *,
    rows: int = CHUNK_ROWS,
    checked: Checked | None = None,
) -> ReplayStats:
    """Replay a file in slices; unless `checked` (survey_history's answer), the whole file is checked
    first: a bad file changes nothing. Slices are of `checked.slice_rows` rows when given."""
    if checked is None:
        checked = survey_history(path, rows)
    n = chunks_done = batches = 0
    first = last = float("nan")
    numeric, text = engine.numeric_tags, engine.text_tags
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="replay-group") as grouper:
        for part, grouping in _grouped_ahead(wanted_slices(path, checked, numeric | text), grouper, numeric, text):
            if part.rows.height:
                first = first if n else float(part.rows["ts"][0])
                last = float(part.rows["ts"][-1])
            n += part.height
            _take(engine, grouping.result())
            engine.advance(part.newest)  # the newest usable stamp of the whole file slice: the core's tags' too
            for result in engine.poll():
                on_result(result)
                batches += 1
            chunks_done += 1
    return ReplayStats(n, chunks_done, batches, first, last)


def _grouped_ahead(
    parts: Iterator[Slice], grouper: ThreadPoolExecutor, numeric: frozenset[str], text: frozenset[str]
) -> Iterator[tuple[Slice, Future[Grouped]]]:
    """Each slice with its grouping by tag, started one slice ahead on `grouper`: numpy sorts and
    gathers without the GIL, so the grouping runs on the second core while the engine works on the
    slice before. A slice is handed on before a later slice's read error is raised."""
    held: tuple[Slice, Future[Grouped]] | None = None
    failed: InputError | None = None
    try:
        for part in parts:
            grouping = grouper.submit(group, part.rows, numeric, text)
            if held is not None:
                yield held
            held = (part, grouping)
    except InputError as exc:
        failed = exc
    if held is not None:
        yield held
    if failed is not None:
        raise failed


def chunks(frame: pl.DataFrame, rows: int = CHUNK_ROWS) -> Iterator[pl.DataFrame]:
    """Slices of about `rows` rows that never split one timestamp (live sees a publish at once)."""
    ts = frame["ts"].to_numpy()
    start = 0
    while start < frame.height:
        end = min(start + rows, frame.height)
        if end < frame.height:
            end = int(np.searchsorted(ts, ts[end - 1], side="right"))
        yield frame.slice(start, end - start)
        start = end


def ingest_chunk(engine: Engine, chunk: pl.DataFrame) -> None:
    """A slice into the engine; its newest usable (not Bad) stamp moves source time on."""
    _take(engine, group(chunk, engine.numeric_tags, engine.text_tags))
    q, ts = chunk["quality"].to_numpy(), chunk["ts"].to_numpy()
    bad = q == Quality.BAD  # tags the core does not use still move source time forward
    if ts.size and not bad.all():
        engine.advance(float((ts[~bad] if bad.any() else ts).max()))


@dataclass(frozen=True, slots=True)
class Grouped:
    """A slice ready for the engine: each numeric tag's block (tag, ts, values, quality) in the order
    the tags first appear, then the text samples' columns in file order."""

    blocks: list[tuple[str, NDArray[np.float64], NDArray[np.float64], NDArray[np.uint8]]]
    names: list[str]  # the tags by number
    texts: tuple[list[Any], ...]  # the text samples' columns: tag number, ts, value, text, quality number


def _take(engine: Engine, grouped: Grouped) -> None:
    for block in grouped.blocks:
        engine.ingest_block(*block)
    names = grouped.names
    engine.ingest_rows(  # plain samples, no Sample built per row (built here: the grouper holds the GIL less)
        (names[c], t, x if x is not None else v, _QUALITY[k], None)
        for c, t, v, x, k in zip(*grouped.texts, strict=True)
    )


def group(chunk: pl.DataFrame, numeric: frozenset[str], text: frozenset[str]) -> Grouped:
    """Numeric tags in one vectorised block each; the few text samples (ids, bags) one by one, in file order.

    The rows are grouped by tag with numpy on the tags' numbers (a stable sort keeps each tag's rows
    in file order; a polars partition compared the tag texts again, a quarter of the pass), gathered
    once in that order so that each tag's block is a view. The numeric tags enter in the order they
    first appear in the slice, as a partition gave them; the text samples are gathered by row number.
    """
    tag = chunk["tag"]
    if not isinstance(tag.dtype, pl.Enum):
        tag = tag.cast(pl.Enum(tag.unique(maintain_order=True).to_list()))
    names: list[str] = tag.dtype.categories.to_list()  # type: ignore[attr-defined]
    codes = tag.to_physical().to_numpy()
    order = np.argsort(codes, kind="stable")
    bounds = [0, *np.cumsum(np.bincount(codes, minlength=len(names))).tolist()]
    ts, q = chunk["ts"].to_numpy(), chunk["quality"].to_numpy()
    by_ts, by_v, by_q = ts[order], chunk["value"].fill_null(np.nan).to_numpy()[order], q[order]
    groups = sorted((int(order[lo]), names[c], lo, hi) for c, (lo, hi) in enumerate(pairwise(bounds)) if hi > lo)
    blocks = [(name, by_ts[lo:hi], by_v[lo:hi], by_q[lo:hi]) for _, name, lo, hi in groups if name in numeric]
    texts = [order[lo:hi] for _, name, lo, hi in groups if name in text]  # (a tag both ways is taken both ways)
    if not texts:
        return Grouped(blocks, names, ([], [], [], [], []))
    rows = np.sort(np.concatenate(texts))  # the text samples' row numbers, in file order
    picked = chunk[rows, ["value", "text"]]  # one gather for both (a Series gather is a query each)
    columns = (codes[rows], ts[rows], picked["value"], picked["text"], q[rows])
    return Grouped(blocks, names, tuple(c.to_list() if isinstance(c, pl.Series) else c.tolist() for c in columns))


def replay(
    frame: pl.DataFrame, engine: Engine, on_result: Callable[[BatchResult], None], *, rows: int = CHUNK_ROWS
) -> ReplayStats:
    n_chunks = batches = 0
    for chunk in chunks(frame, rows):
        ingest_chunk(engine, chunk)
        for result in engine.poll():
            on_result(result)
            batches += 1
        n_chunks += 1
    first = float(frame["ts"][0]) if frame.height else float("nan")
    last = float(frame["ts"][-1]) if frame.height else float("nan")
    return ReplayStats(frame.height, n_chunks, batches, first, last)
