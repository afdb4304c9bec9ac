"""Historian export files: opened, checked whole, and read slice by slice for a replay.

The file format (Parquet or CSV): `ts` (UTC; a datetime, an ISO 8601 text or epoch seconds),
`tag`, `value` (float or null), `text` (string or null), `quality` (0 good, 1 uncertain, 2 bad).
A replay checks the whole file (`survey_history`) before it reads it again for its tags
(`wanted_slices`): a bad file changes nothing (docs/performance.md, Replay, says why two passes).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from monitor.core.samples import Quality
from monitor.errors import InputError

COLUMNS = ("ts", "tag", "value", "text", "quality")
CHUNK_ROWS = 262_144  # polars writes Parquet row groups of this size: slices decode each group once
LATE_S = 3600.0  # how far a sample may trail the rows before it in a streamed file
LINE_METADATA = "blackmass.line"  # Parquet key-value metadata: the line the export came from (simulator/export.py
# writes the same key: a file-format contract stated on both sides, as the simulator shares no code with us)


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
    for col, ok, want in (
        ("value", lambda t: t.is_numeric() or t == pl.Null, "a float"),
        ("quality", lambda t: t.is_integer(), "0, 1 or 2"),
        # bytes would be decoded as UTF-8 mid-replay, after lots were stored: text must be text
        ("text", lambda t: t in (pl.String, pl.Null, pl.Categorical) or isinstance(t, pl.Enum), "text (UTF-8)"),
    ):
        if not ok(frame.schema[col]):
            raise InputError(name, f"column {col!r}: expected {want}, got {frame.schema[col]}")
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


def _refused(schema: pl.Schema, path: Path) -> pl.Expr | None:
    """A row normalise would refuse, for a Parquet file with datetime stamps and text tags (else None).

    Counted over the whole file with a filter, which polars answers from the row groups' statistics
    (null counts, min and max: ~1 ms for 365 days) where the file has them, else by reading the three
    columns; the slices' probes then read no tag at all (their text was a third of the pass)."""
    if path.suffix.lower() != ".parquet" or not isinstance(schema["ts"], pl.Datetime) or schema["tag"] != pl.String:
        return None
    tag, q = pl.col("tag"), pl.col("quality")
    return pl.col("ts").is_null() | tag.is_null() | (tag == "") | q.is_null() | ~q.is_between(0, Quality.BAD)


def _probe(schema: pl.Schema, name: str, *, rows_checked: bool = False) -> tuple[pl.Expr, ...]:
    """A slice's (bad, lo, hi): whether normalise would refuse a row (False when `rows_checked`: _refused
    counted them for the whole file), its oldest and newest usable stamps in seconds. A datetime stamp is
    checked as it is and only the two extremes converted (seconds are monotone in it: the same floats);
    counts and extremes, not row masks, where they say the same."""
    dtype, tag, q = schema["ts"], pl.col("tag").cast(pl.String), pl.col("quality")
    usable = q != Quality.BAD
    if isinstance(dtype, pl.Datetime):
        stamp = pl.col("ts")
        bad_ts = stamp.null_count() > 0
        lo, hi = _seconds(dtype, name, stamp.min()), _seconds(dtype, name, stamp.filter(usable).max())
        if rows_checked:
            return pl.lit(False).alias("bad"), lo.alias("lo"), hi.alias("hi")
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
    probe, ts, refused = _probe(schema, name), _seconds(schema["ts"], name), _refused(schema, path)
    if path.suffix.lower() == ".csv":  # a CSV's values are text until parsed: a bad one fails here, not mid-replay
        probe = (*probe, pl.col("value").null_count().alias("values"))
    offsets = range(0, total, rows)
    fast = probe if refused is None else _probe(schema, name, rows_checked=True)
    gate = [] if refused is None else [lazy.filter(refused).select(pl.len())]
    probes: list[tuple[Any, ...] | None] = [None] * len(offsets)  # None: probed below, slice by slice, so
    try:  # that an error names its slice; else every slice's probe at once: polars runs them side by side
        frames = pl.collect_all([*(lazy.slice(o, rows).select(fast) for o in offsets), *gate])
        if not (gate and frames[-1].item()):  # a row _refused counted is found below with every check
            probes = [frame.row(0) for frame in frames[: len(offsets)]]
    except (OSError, pl.exceptions.PolarsError):
        pass
    newest, seen = float("-inf"), []
    for offset, probed in zip(offsets, probes, strict=True):
        part = lazy.slice(offset, rows)
        try:
            found, lo, hi, *_ = probed or part.select(probe).collect().row(0)
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


def wanted_slices(path: Path, checked: Checked, tags: frozenset[str]) -> Iterator[Slice]:
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
    queries = [
        (offset, newest, lazy.slice(offset, rows).filter(wanted).select(columns))
        for offset, newest in zip(range(0, checked.rows, rows), checked.newest, strict=True)
    ]
    # one slice read ahead on a thread while the caller works on this one: polars decodes without the
    # GIL, so the read overlaps the engine on a second core (the floor's read uses every core too)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="replay-read") as reader:
        ahead = [reader.submit(query.collect) for *_, query in queries[:1]]
        for i, (offset, newest, _) in enumerate(queries):
            ahead += [reader.submit(query.collect) for *_, query in queries[i + 1 : i + 2]]  # starts when this ends
            try:
                chunk = ahead.pop(0).result()
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
