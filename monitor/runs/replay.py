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
from monitor.core.samples import Quality
from monitor.errors import InputError

log = logging.getLogger(__name__)

COLUMNS = ("ts", "tag", "value", "text", "quality")
CHUNK_ROWS = 262_144  # polars writes Parquet row groups of this size: slices decode each group once
LATE_S = 3600.0  # how far a sample may trail the rows before it in a streamed file
_QUALITY = tuple(sorted(Quality))  # by number: a lookup, not an Enum call per text sample
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


def _seconds(ts: pl.DataType, name: str, col: pl.Expr | None = None) -> pl.Expr:
    """The `ts` column (or `col`, an expression of it) as epoch seconds, by its type (unparsable ISO text
    becomes null)."""
    col = pl.col("ts") if col is None else col
    if ts == pl.String:
        return col.str.to_datetime(time_zone="UTC", strict=False).dt.epoch("us") / 1e6
    if isinstance(ts, pl.Datetime):
        aware = col.dt.replace_time_zone("UTC") if ts.time_zone is None else col
        return aware.dt.epoch("us") / 1e6
    if ts.is_numeric():
        return col.cast(pl.Float64)
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


def normalise(frame: pl.DataFrame, name: str, offset: int = 0) -> pl.DataFrame:
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
        ("'ts': a time", pl.col("ts").is_null() | pl.col("ts").is_nan()),
        ("'tag': a tag name", pl.col("tag").is_null() | (pl.col("tag") == "")),
        ("'quality': 0, 1 or 2", pl.col("quality").is_null() | ~pl.col("quality").is_in([0, 1, 2])),
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
    rows: pl.DataFrame  # the core's tags only, sorted by ts, tags numbered (an Enum)
    height: int  # rows in the file slice
    newest: float  # newest usable (not Bad) source time up to the end of this slice


@dataclass(frozen=True, slots=True)
class Checked:
    """A file the check pass let through: its rows and, for each slice of `slice_rows` rows, the newest
    usable (not Bad) stamp up to its end, which moves the replay's clock past tags the core does not read."""

    rows: int
    slice_rows: int
    newest: tuple[float, ...]


def _probe(schema: pl.Schema, name: str) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """A slice's (bad, lo, hi): whether normalise would refuse a row, its oldest and newest usable stamps
    in seconds. A datetime stamp is checked as it is and only the two extremes converted (seconds are
    monotone in it: the same floats); counts and extremes, not row masks, where they say the same."""
    dtype, tag, q = schema["ts"], pl.col("tag").cast(pl.String), pl.col("quality")
    usable = q != Quality.BAD
    if isinstance(dtype, pl.Datetime):
        stamp = pl.col("ts")
        bad_ts = stamp.null_count() > 0
        lo, hi = _seconds(dtype, name, stamp.min()), _seconds(dtype, name, stamp.filter(usable).max())
    else:
        seconds = _seconds(dtype, name)
        bad_ts = (seconds.is_null() | seconds.is_nan()).any()
        lo, hi = seconds.min(), seconds.filter(usable).max()
    bad_tag = (tag.null_count() > 0) | (tag.str.len_bytes() == 0).any()
    bad_q = (q.null_count() > 0) | (q.min() < 0) | (q.max() > Quality.BAD)
    return (bad_ts | bad_tag | bad_q).alias("bad"), lo.alias("lo"), hi.alias("hi")


def survey_history(path: Path, rows: int = CHUNK_ROWS) -> Checked:
    """The check pass: ts, tag and quality of every row, slice by slice; the InputError of the first bad row.

    A file must be in time order between slices (as historians export); a sample more than LATE_S
    older than an earlier slice's newest is refused: sort the export by ts first. Values and texts
    are not read (their types are checked on the schema); a slice with a bad row is read again whole
    and normalised, so the error quotes the row with every column, as it always did.
    """
    name = str(path)
    lazy = _open(path)
    try:
        total = lazy.select(pl.len()).collect().item()
        schema = lazy.collect_schema()
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise InputError(name, f"cannot read the historian export: {exc}") from exc
    normalise(pl.DataFrame(schema=schema), name)  # missing columns, value and quality types
    probe, ts = _probe(schema, name), _seconds(schema["ts"], name)
    newest, seen = float("-inf"), []
    for offset in range(0, total, rows):
        part = lazy.slice(offset, rows)
        try:
            found, lo, hi = part.select(probe).collect().row(0)
            if found:  # normalise finds it and says it as a whole pass would
                normalise(part.collect(), name, offset)
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise InputError(f"{name}:{offset + 2}", f"cannot read the historian export: {exc}") from exc
        if lo is not None and lo < newest - LATE_S:
            late = part.select(ts.alias("ts")).collect()
            raise InputError(
                f"{name}:{_first_bad_row(late, pl.col('ts') < newest - LATE_S, offset)}",
                f"not in time order: a sample more than {LATE_S:.0f} s older than rows before it",
                "sort the export by ts, e.g. pl.read_parquet(f).sort('ts').write_parquet(f)",
            )
        newest = max(newest, hi if hi is not None else float("-inf"))
        seen.append(newest)
    return Checked(total, rows, tuple(seen))


def _wanted_slices(path: Path, checked: Checked, tags: frozenset[str]) -> Iterator[Slice]:
    """A checked file's slices, only the wanted tags, picked as the file is read.

    The reader filters the rows (a filter of the decoded slice cost as much as reading it) and names
    the tags by number (an Enum: ingest groups them with numpy); the newest usable stamp of each
    slice is the check pass's.
    """
    name, lazy, keep = str(path), _open(path), sorted(tags)
    try:
        schema = lazy.collect_schema()
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise InputError(name, f"cannot read the historian export: {exc}") from exc
    numbered = pl.Enum(keep)
    columns = _columns(schema, name, pl.UInt8, numbered)  # the file's types were checked on its schema
    tag = pl.col("tag") if schema["tag"] == pl.String else pl.col("tag").cast(pl.String)
    wanted = tag.cast(numbered, strict=False).is_not_null()  # a tag not numbered becomes null: cheaper than is_in
    rows = checked.slice_rows
    for offset, newest in zip(range(0, checked.rows, rows), checked.newest, strict=True):
        try:
            chunk = lazy.slice(offset, rows).filter(wanted).select(columns).collect()
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise InputError(f"{name}:{offset + 2}", f"cannot read the historian export: {exc}") from exc
        if not chunk["ts"].is_sorted():  # a historian's file mostly is: sorting every slice was 40 % of a pass
            chunk = chunk.sort("ts", maintain_order=True)
        yield Slice(chunk, min(rows, checked.rows - offset), newest)


def history_line(path: Path) -> str | None:
    """The line a Parquet export says it came from (the simulator writes it), else None."""
    if path.suffix.lower() != ".parquet":
        return None
    try:
        return pl.read_parquet_metadata(path).get(LINE_METADATA) or None
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise InputError(str(path), f"cannot read the Parquet metadata: {exc}") from exc


def check_history(path: Path, rows: int = CHUNK_ROWS) -> int:
    """The check pass (survey_history): the file's row count, or the InputError of its first bad row."""
    return survey_history(path, rows).rows


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
    for part in _wanted_slices(path, checked, engine.numeric_tags | engine.text_tags):
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
    in file order; a polars partition compared the tag texts again, a quarter of the pass), gathered
    once in that order so that each tag's block is a view. The numeric tags enter in the order they
    first appear in the slice, as a partition gave them; the text samples are gathered by row number.
    """
    numeric, text = engine.numeric_tags, engine.text_tags
    tag = chunk["tag"]
    if not isinstance(tag.dtype, pl.Enum):
        tag = tag.cast(pl.Enum(tag.unique(maintain_order=True).to_list()))
    names: list[str] = tag.dtype.categories.to_list()  # type: ignore[attr-defined]
    codes = tag.to_physical().to_numpy()
    order = np.argsort(codes, kind="stable")
    bounds = [0, *np.cumsum(np.bincount(codes, minlength=len(names))).tolist()]
    ts, q = chunk["ts"].to_numpy(), chunk["quality"].to_numpy()
    by_tag = (ts[order], chunk["value"].fill_null(np.nan).to_numpy()[order], q[order])
    groups = [(int(order[lo]), names[c], lo, hi) for c, (lo, hi) in enumerate(pairwise(bounds)) if hi > lo]
    for _, name, lo, hi in sorted(groups):  # by first appearance
        if name in numeric:
            engine.ingest_block(name, *(column[lo:hi] for column in by_tag))
    rows = np.flatnonzero(np.array([name in text for name in names], dtype=bool)[codes])
    if rows.size:  # (a tag both ways is taken both ways)
        picked = pl.Series(rows.tolist(), dtype=pl.Int64)  # (polars reads a numpy index through np.ma)
        engine.ingest_rows(  # plain samples, no Sample built per row
            (names[c], t, x if x is not None else v, _QUALITY[k], None)
            for c, t, v, x, k in zip(
                codes[rows].tolist(),
                ts[rows].tolist(),
                chunk["value"].gather(picked).to_list(),
                chunk["text"].gather(picked).to_list(),
                q[rows].tolist(),
                strict=True,
            )
        )
    bad = q == Quality.BAD  # tags the core does not use still move source time forward
    if ts.size and not bad.all():
        engine.advance(float((ts[~bad] if bad.any() else ts).max()))


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
