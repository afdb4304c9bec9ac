"""Historian exports through the same core as live data, chunked and vectorised.

The file is read and checked by monitor/runs/history_file.py: the whole file is checked before
anything is processed, so a bad file changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np
import polars as pl

from monitor.core.engine import Engine
from monitor.core.results import BatchResult
from monitor.core.samples import Quality
from monitor.runs.history_file import CHUNK_ROWS, Checked, survey_history, wanted_slices

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
    for part in wanted_slices(path, checked, numeric | text):
        if part.rows.height:
            first = first if n else float(part.rows["ts"][0])
            last = float(part.rows["ts"][-1])
        n += part.height
        _ingest(engine, part.rows, numeric, text)
        engine.advance(part.newest)  # the newest usable stamp of the whole file slice: the core's tags' too
        for result in engine.poll():
            on_result(result)
            batches += 1
        chunks_done += 1
    return ReplayStats(n, chunks_done, batches, first, last)


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
    _ingest(engine, chunk, engine.numeric_tags, engine.text_tags)
    q, ts = chunk["quality"].to_numpy(), chunk["ts"].to_numpy()
    bad = q == Quality.BAD  # tags the core does not use still move source time forward
    if ts.size and not bad.all():
        engine.advance(float((ts[~bad] if bad.any() else ts).max()))


def _ingest(engine: Engine, chunk: pl.DataFrame, numeric: frozenset[str], text: frozenset[str]) -> None:
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
    by_tag = (ts[order], chunk["value"].fill_null(np.nan).to_numpy()[order], q[order])
    groups = sorted((int(order[lo]), names[c], lo, hi) for c, (lo, hi) in enumerate(pairwise(bounds)) if hi > lo)
    for _, name, lo, hi in groups:  # by first appearance
        if name in numeric:
            engine.ingest_block(name, *(column[lo:hi] for column in by_tag))
    texts = [order[lo:hi] for _, name, lo, hi in groups if name in text]  # (a tag both ways is taken both ways)
    if not texts:
        return
    rows = np.sort(np.concatenate(texts))  # the text samples' row numbers, in file order
    picked = chunk[rows, ["value", "text"]]  # one gather for both (a Series gather is a query each)
    engine.ingest_rows(  # plain samples, no Sample built per row
        (names[c], t, x if x is not None else v, _QUALITY[k], None)
        for c, t, v, x, k in zip(
            codes[rows].tolist(),
            ts[rows].tolist(),
            picked["value"].to_list(),
            picked["text"].to_list(),
            q[rows].tolist(),
            strict=True,
        )
    )


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
