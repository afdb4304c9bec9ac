"""Historian exports through the same core as live data, chunked and vectorised.

The file format (Parquet or CSV): `ts` (UTC; a datetime, an ISO 8601 text or epoch seconds),
`tag`, `value` (float or null), `text` (string or null), `quality` (0 good, 1 uncertain, 2 bad).
The whole file is checked before anything is processed: a bad file changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np
import polars as pl

from monitor.core.engine import Engine
from monitor.core.results import BatchResult
from monitor.core.samples import Quality, Sample
from monitor.errors import InputError

log = logging.getLogger(__name__)

COLUMNS = ("ts", "tag", "value", "text", "quality")
CHUNK_ROWS = 262_144  # polars writes Parquet row groups of this size: slices decode each group once
LATE_S = 3600.0  # how far a sample may trail the rows before it in a streamed file
_NO_VALUE = (pl.lit(None, pl.Float64).alias("value"), pl.lit(None, pl.String).alias("text"))  # a check's pass
LINE_METADATA = "blackmass.line"  # Parquet key-value metadata: the line the export came from (simulator/export.py
# writes the same key: a file-format contract stated on both sides, as the simulator shares no code with us)


@dataclass(frozen=True, slots=True)
class ReplayStats:
    samples: int
    chunks: int
    batches: int
    first_ts: float
    last_ts: float


def _first_bad_row(frame: pl.DataFrame, bad: pl.Expr, offset: int) -> int:
    return int(frame.with_row_index("_row").filter(bad)["_row"][0]) + offset + 2  # + header line, 1-based


def _open(path: Path) -> pl.LazyFrame:
    name = str(path)
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise InputError(name, f"expected a .parquet or .csv historian export, got {path.suffix or 'no suffix'!r}")
    if not path.is_file():
        raise InputError(name, "no such file")
    if suffix == ".parquet":
        return pl.scan_parquet(path)
    overrides = {"tag": pl.String, "text": pl.String, "value": pl.Float64}
    return pl.scan_csv(path, schema_overrides=overrides, try_parse_dates=False)


def _seconds(ts: pl.DataType, name: str) -> pl.Expr:
    """The `ts` column as epoch seconds, by its type (unparsable ISO text becomes null)."""
    if ts == pl.String:
        return pl.col("ts").str.to_datetime(time_zone="UTC", strict=False).dt.epoch("us") / 1e6
    if isinstance(ts, pl.Datetime):
        aware = pl.col("ts").dt.replace_time_zone("UTC") if ts.time_zone is None else pl.col("ts")
        return aware.dt.epoch("us") / 1e6
    if ts.is_numeric():
        return pl.col("ts").cast(pl.Float64)
    raise InputError(name, f"column 'ts': expected a UTC datetime, ISO text or epoch seconds, got {ts}")


def _columns(schema: pl.Schema, name: str, quality: type[pl.DataType], tags: pl.Enum | None = None) -> list[pl.Expr]:
    """The columns of an export in the core's types; `tags`: the tag names numbered (an Enum), else text."""
    return [
        _seconds(schema["ts"], name).alias("ts"),
        pl.col("tag").cast(tags) if tags is not None else pl.col("tag").cast(pl.String),
        pl.col("value").cast(pl.Float64),
        pl.col("text").cast(pl.String),
        pl.col("quality").cast(quality),
    ]


def normalise(frame: pl.DataFrame, name: str, offset: int = 0, *, validate: bool = True) -> pl.DataFrame:
    """Rows of an export as (ts epoch s, tag, value, text, quality u8); InputError naming file:line."""
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(name, f"missing column(s) {', '.join(missing)}; got {', '.join(frame.columns)}")
    if frame.schema["ts"] == pl.String:
        bad = _seconds(pl.String(), name).is_null() & pl.col("ts").is_not_null()
        if frame.select(bad.any()).item():
            row = _first_bad_row(frame, bad, offset)
            got = frame["ts"][row - offset - 2]
            raise InputError(f"{name}:{row}", f"column 'ts': expected an ISO 8601 time, got {got!r}")
    for col, ok in (("value", lambda t: t.is_numeric() or t == pl.Null), ("quality", lambda t: t.is_integer())):
        if not ok(frame.schema[col]):
            raise InputError(
                name,
                f"column {col!r}: expected {'a float' if col == 'value' else '0, 1 or 2'}, got {frame.schema[col]}",
            )
    out = frame.select(_columns(frame.schema, name, pl.Int64))
    for what, bad in (
        ()
        if not validate
        else (
            ("'ts': a time", pl.col("ts").is_null() | pl.col("ts").is_nan()),
            ("'tag': a tag name", pl.col("tag").is_null() | (pl.col("tag") == "")),
            ("'quality': 0, 1 or 2", pl.col("quality").is_null() | ~pl.col("quality").is_in([0, 1, 2])),
        )
    ):
        if out.select(bad.any()).item():
            row = _first_bad_row(out, bad, offset)
            raise InputError(f"{name}:{row}", f"column {what} expected, got {out.row(row - offset - 2)}")
    return out.with_columns(pl.col("quality").cast(pl.UInt8))


def read_history(path: Path) -> pl.DataFrame:
    """The whole file, checked and sorted by ts (small exports, tests)."""
    try:
        frame = _open(path).collect()
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise InputError(str(path), f"cannot read the historian export: {exc}") from exc
    return normalise(frame, str(path)).sort("ts", maintain_order=True)


@dataclass(frozen=True, slots=True)
class Slice:
    rows: pl.DataFrame  # sorted by ts; only the wanted tags when a replay asked for them
    height: int  # rows in the file slice
    newest: float  # newest usable (not Bad) source time in the whole slice


def stream_history(
    path: Path,
    rows: int = CHUNK_ROWS,
    *,
    tags: frozenset[str] | None = None,
    validate: bool = True,
    values: bool = True,
) -> Iterator[Slice]:
    """The file in slices of `rows` rows: memory does not grow with the file.

    A file must be in time order between slices (as historians export); a sample more than
    LATE_S older than an earlier slice's newest is refused: sort the export by ts first.
    `values` False: a check's pass, reading no value or text (their types are checked on the schema);
    the slices' value and text are null.
    """
    name = str(path)
    lazy = _open(path)
    try:
        total = lazy.select(pl.len()).collect().item()
        if not values:  # every column's type checked as a whole file's would be; then ts, tag, quality only
            normalise(pl.DataFrame(schema=lazy.collect_schema()), name)
            lazy = lazy.select("ts", "tag", "quality").with_columns(_NO_VALUE)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise InputError(name, f"cannot read the historian export: {exc}") from exc
    if tags is not None and not validate and values and lazy.collect_schema()["tag"] == pl.String:
        yield from _wanted_slices(lazy, name, total, rows, tags)
        return
    newest = float("-inf")
    # slices, not collect_batches(): a streaming reader runs ahead of a slower consumer and
    # buffers the file (measured: peak memory grew 50 % from 30 to 90 plant-days)
    for offset in range(0, total, rows):
        try:
            raw = lazy.slice(offset, rows).collect()
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise InputError(f"{name}:{offset + 2}", f"cannot read the historian export: {exc}") from exc
        chunk = normalise(raw, name, offset, validate=validate)
        if not chunk.height:
            continue
        lo, hi = chunk.select(
            pl.col("ts").min().alias("lo"), pl.col("ts").filter(pl.col("quality") != Quality.BAD).max().alias("hi")
        ).row(0)
        if validate and lo < newest - LATE_S:
            row = _first_bad_row(chunk, pl.col("ts") < newest - LATE_S, offset)
            raise InputError(
                f"{name}:{row}",
                f"not in time order: a sample more than {LATE_S:.0f} s older than rows before it",
                "sort the export by ts, e.g. pl.read_parquet(f).sort('ts').write_parquet(f)",
            )
        newest = max(newest, hi if hi is not None else float("-inf"))
        if tags is not None:  # the core's tags only; the rest moved source time forward (newest)
            chunk = chunk.filter(pl.col("tag").is_in(list(tags)))
        if tags is not None and not chunk["ts"].is_sorted():  # a historian's file mostly is: 40 % of the pass
            chunk = chunk.sort("ts", maintain_order=True)
        yield Slice(chunk, raw.height, newest)


def _wanted_slices(lazy: pl.LazyFrame, name: str, total: int, rows: int, tags: frozenset[str]) -> Iterator[Slice]:
    """A checked file's slices as stream_history gives them, the wanted tags picked as the file is read.

    The reader filters the rows (a filter of the decoded slice cost as much as reading it) and names
    the tags by number (an Enum: ingest groups them with numpy); the newest usable stamp of the
    whole slice comes from a second query over its ts and quality.
    """
    keep = sorted(tags)
    schema = lazy.collect_schema()
    columns = _columns(schema, name, pl.UInt8, pl.Enum(keep))  # the file's types were checked on its schema
    newest = float("-inf")
    for offset in range(0, total, rows):
        part = lazy.slice(offset, rows)
        wanted = part.filter(pl.col("tag").is_in(keep)).select(columns)
        top = part.filter(pl.col("quality") != Quality.BAD).select(_seconds(schema["ts"], name).max())
        try:
            chunk, hi = pl.collect_all([wanted, top])
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise InputError(f"{name}:{offset + 2}", f"cannot read the historian export: {exc}") from exc
        newest = max(newest, hi.item() if hi.item() is not None else float("-inf"))
        if not chunk["ts"].is_sorted():
            chunk = chunk.sort("ts", maintain_order=True)
        yield Slice(chunk, min(rows, total - offset), newest)


def history_line(path: Path) -> str | None:
    """The line a Parquet export says it came from (the simulator writes it), else None."""
    if path.suffix.lower() != ".parquet":
        return None
    try:
        return pl.read_parquet_metadata(path).get(LINE_METADATA) or None
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise InputError(str(path), f"cannot read the Parquet metadata: {exc}") from exc


def check_history(path: Path, rows: int = CHUNK_ROWS) -> int:
    """One streaming pass over the whole file: its row count, or the InputError of its first bad row.

    The pass reads no values (a third of the decoding); a file it refuses is read again whole, so
    the error names the first bad row with every column, as a whole pass would.
    """
    try:
        return sum(s.height for s in stream_history(path, rows, values=False))
    except InputError:
        pass  # the message from the whole columns, below
    return sum(s.height for s in stream_history(path, rows))


def replay_file(
    path: Path,
    engine: Engine,
    on_result: Callable[[BatchResult], None],
    *,
    rows: int = CHUNK_ROWS,
    checked: bool = False,
) -> ReplayStats:
    """Replay a file in slices; unless `checked`, the whole file is checked first: a bad file changes nothing."""
    if not checked:
        check_history(path, rows)
    n = chunks_done = batches = 0
    first = last = float("nan")
    tags = engine.numeric_tags | engine.text_tags
    for part in stream_history(path, rows, tags=tags, validate=False):
        if part.rows.height:
            first = first if n else float(part.rows["ts"][0])
            last = float(part.rows["ts"][-1])
        n += part.height
        ingest_chunk(engine, part.rows)
        engine.advance(part.newest)
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
    """Numeric tags in one vectorised block each; the few text samples (ids, bags) one by one, in file order.

    The rows are grouped by tag with numpy on the tags' numbers (a stable sort keeps each tag's rows
    in file order; a polars partition compared the tag texts again, a quarter of the pass). The
    numeric tags enter in the order they first appear in the slice, as a partition gave them.
    """
    numeric, text = engine.numeric_tags, engine.text_tags
    tag = chunk["tag"]
    if not isinstance(tag.dtype, pl.Enum):
        tag = tag.cast(pl.Enum(tag.unique(maintain_order=True).to_list()))
    names: list[str] = tag.dtype.categories.to_list()  # type: ignore[attr-defined]
    codes = tag.to_physical().to_numpy()
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(names) + 1)).tolist()
    ts, q = chunk["ts"].to_numpy(), chunk["quality"].to_numpy()
    values = chunk["value"].fill_null(np.nan).to_numpy()
    groups = [(int(order[lo]), names[c], order[lo:hi]) for c, (lo, hi) in enumerate(pairwise(bounds)) if hi > lo]
    for _, name, rows in sorted(groups, key=lambda g: g[0]):  # by first appearance
        if name in numeric:
            engine.ingest_block(name, ts[rows], values[rows], q[rows])
    wanted = [c for c, name in enumerate(names) if name in text]  # (a tag both ways is taken both ways)
    if wanted:
        texts = chunk.filter(pl.Series(np.isin(codes, wanted))).iter_rows()  # in file order
        engine.ingest(Sample(g, t, x if x is not None else v, Quality(k)) for t, g, v, x, k in texts)
    usable = q != Quality.BAD
    if usable.any():
        engine.advance(float(ts[usable].max()))


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
