"""LIMS assay files (CSV) → validated Assay records; all-or-nothing per file.

Format: batch_id, stream, element, value_pct, status (preliminary|final); optional sample_id,
bag_id, lab, method, moisture_pct, line (the line whose lot it is). Values are wt % on a dry basis.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from monitor.collectors.inbox import inbox_once, open_regular, watch_inbox
from monitor.core.assays import ASSAY_ELEMENTS, Assay
from monitor.core.spec import STREAM_NAMES
from monitor.errors import InputError

log = logging.getLogger(__name__)

REQUIRED = ("batch_id", "stream", "element", "value_pct", "status")
OPTIONAL = ("sample_id", "bag_id", "lab", "method", "moisture_pct", "line")
MAX_BYTES = 20 * 1024 * 1024


_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
# C0/C1 controls, line/paragraph separators and bidi overrides: never part of an id or a lab name
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_COLUMN = re.compile(r"[a-z0-9_ %.-]{1,40}", re.ASCII)
MAX_TEXT = 128  # characters of an id, a lab or a method name


def excerpt(text: str, limit: int = 40) -> str:
    """A bounded, escaped quote of a field for a message: control characters shown as escapes."""
    cut = text[:limit]
    return repr(cut) + (f" (+{len(text) - limit} more characters)" if len(text) > limit else "")


def _pct(text: str, where: str, field: str, *, below_100: bool = False) -> float:
    wrong = f"field '{field}': expected a number in % (0–100), got {excerpt(text)}"
    if not _NUMBER.fullmatch(text):  # float() would also take '1_0', ' 1', 'nan' and non-ASCII digits
        raise InputError(where, wrong)
    v = float(text)
    if not math.isfinite(v) or v < 0 or v > 100 or (below_100 and v >= 100):  # noqa: PLR2004 - percentages
        raise InputError(where, wrong)
    return v


def _text(r: dict[str, str], field: str, where: str) -> str:
    v = r.get(field, "")
    at = _CONTROL.search(v)
    if at:
        raise InputError(
            where,
            f"field '{field}': expected printable text, got a control character at position {at.start() + 1}",
            "ids and names hold no line breaks, tabs or NULs",
        )
    if len(v) > MAX_TEXT:
        raise InputError(where, f"field '{field}': expected at most {MAX_TEXT} characters, got {len(v)}")
    return v


def _header(reader: Iterator[list[str]], name: str) -> list[str]:
    """The header row; a first line that is not an assay header is refused without quoting it."""
    header = [h.strip().lower() for h in next(reader, [])]
    if not any(c in header for c in REQUIRED):
        raise InputError(
            f"{name}:1",
            f"the first line is not an assay header (none of {', '.join(REQUIRED)} among its {len(header)} fields)",
            f"required: {','.join(REQUIRED)}",
        )
    missing = [c for c in REQUIRED if c not in header]
    shown = ",".join(h if _COLUMN.fullmatch(h) else "?" for h in header[:20]) + (",…" if len(header) > 20 else "")  # noqa: PLR2004
    if missing:
        raise InputError(
            f"{name}:1", f"header lacks {', '.join(missing)}; got {shown!r}", f"required: {','.join(REQUIRED)}"
        )
    unknown = [c for c in header if c not in REQUIRED + OPTIONAL]
    if unknown:
        raise InputError(
            f"{name}:1",
            f"unknown column(s) {', '.join(excerpt(c, 20) for c in unknown[:5])}",
            f"optional: {','.join(OPTIONAL)}",
        )
    return header


def _assay(r: dict[str, str], where: str) -> Assay:
    batch_id = _text(r, "batch_id", where)
    if not batch_id:
        raise InputError(where, "field 'batch_id': expected a batch id, got ''")
    if r["stream"] not in STREAM_NAMES or r["stream"] == "loss":
        raise InputError(
            where, f"field 'stream': expected one of {', '.join(STREAM_NAMES[:-1])}, got {excerpt(r['stream'])}"
        )
    el = r["element"].lower()
    if el not in ASSAY_ELEMENTS:
        raise InputError(
            where, f"field 'element': expected one of {', '.join(ASSAY_ELEMENTS)}, got {excerpt(r['element'])}"
        )
    if r["status"] not in ("preliminary", "final"):
        raise InputError(where, f"field 'status': expected 'preliminary' or 'final', got {excerpt(r['status'])}")
    value = _pct(r["value_pct"], where, "value_pct")
    moisture = _pct(r["moisture_pct"], where, "moisture_pct", below_100=True) if r.get("moisture_pct") else None
    sample, bag, lab, method, line = (_text(r, f, where) for f in ("sample_id", "bag_id", "lab", "method", "line"))
    return Assay(batch_id, r["stream"], el, value, r["status"], sample, bag, lab, method, moisture, line)


class _Hashed(io.RawIOBase):
    """Reads a binary file, hashing what passes and refusing more than `limit` bytes."""

    def __init__(self, raw: BinaryIO, limit: int, name: str) -> None:
        self.raw, self.limit, self.name = raw, limit, name
        self.sha = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        n = len(data)
        self.size += n
        if self.size > self.limit:
            raise InputError(self.name, f"more than the {self.limit} bytes allowed", "split the export")
        buffer[:n] = data
        self.sha.update(data)
        return n


def parse_stream(raw: BinaryIO, name: str, limit: int = MAX_BYTES) -> tuple[list[Assay], str]:
    """Every row valid, or InputError naming file:line and the field; nothing partial. Read as a
    stream: memory grows with the assays, not with the file (blank lines, one huge field)."""
    hashed = _Hashed(raw, limit, name)
    text = io.TextIOWrapper(io.BufferedReader(hashed, 64 * 1024), encoding="utf-8-sig", newline="")
    reader = csv.reader(text)
    out: list[Assay] = []
    seen: dict[tuple[str, ...], tuple[int, Assay]] = {}
    try:
        header = _header(reader, name)
        n = reader.line_num + 1
        for row in reader:
            n, start = reader.line_num + 1, n  # the line a row starts on: a quoted field may span lines
            if not any(c.strip() for c in row):
                continue
            where = f"{name}:{start}"
            if len(row) != len(header):
                raise InputError(where, f"expected {len(header)} fields, got {len(row)}")
            a = _assay({k: v.strip() for k, v in zip(header, row, strict=True)}, where)
            key = (a.batch_id, a.stream, a.element, a.status, a.sample_id, a.bag_id)
            if key in seen:
                first, earlier = seen[key]
                what = "a repeat of" if earlier == a else "another value for the same assay as"
                raise InputError(where, f"{what} line {first} (batch, stream, element, status, sample, bag)")
            seen[key] = (start, a)
            out.append(a)
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{name}:{reader.line_num + 1}", "not UTF-8 text", "export the LIMS file as UTF-8 CSV"
        ) from exc
    except csv.Error as exc:
        raise InputError(
            f"{name}:{reader.line_num}", f"not valid CSV: {exc}", "quote fields holding commas, quotes or line breaks"
        ) from exc
    if not out:
        raise InputError(name, "no assay rows after the header")
    return out, hashed.sha.hexdigest()


def parse_assays(data: bytes, name: str) -> list[Assay]:
    """parse_stream() of bytes in memory (an upload)."""
    if len(data) > MAX_BYTES:
        raise InputError(name, f"file is {len(data)} bytes, more than the {MAX_BYTES} allowed")
    return parse_stream(io.BytesIO(data), name)[0]


def read_assay_file(path: Path) -> tuple[list[Assay], str]:
    """(records, sha256 of the bytes); only a regular file is opened (inbox.open_regular)."""
    with open_regular(path, MAX_BYTES) as fh:
        try:
            return parse_stream(fh, str(path))
        except OSError as exc:
            raise InputError(str(path), f"cannot read: {exc.strerror or exc}") from exc


__all__ = ["inbox_once", "parse_assays", "parse_stream", "read_assay_file", "watch_inbox"]
