"""LIMS assay files (CSV) → validated Assay records; all-or-nothing per file.

Format: batch_id, stream, element, value_pct, status (preliminary|final); optional sample_id,
bag_id, lab, method, moisture_pct. Values are wt % on a dry basis.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from monitor.core.assays import ELEMENTS, Assay
from monitor.core.spec import STREAM_NAMES
from monitor.errors import InputError

log = logging.getLogger(__name__)

REQUIRED = ("batch_id", "stream", "element", "value_pct", "status")
OPTIONAL = ("sample_id", "bag_id", "lab", "method", "moisture_pct", "line")
MAX_BYTES = 20 * 1024 * 1024


def _pct(text: str, where: str, field: str, *, below_100: bool = False) -> float:
    try:
        v = float(text)
    except ValueError as exc:
        raise InputError(where, f"field '{field}': expected a number in % (0–100), got {text!r}") from exc
    if not math.isfinite(v) or v < 0 or v > 100 or (below_100 and v >= 100):  # noqa: PLR2004 - percentages
        raise InputError(where, f"field '{field}': expected a number in % (0–100), got {text!r}")
    return v


def parse_assays(data: bytes, name: str) -> list[Assay]:  # noqa: PLR0912 - one check per field, each with its own message
    """Every row valid, or InputError naming file:line and the field; nothing partial."""
    if len(data) > MAX_BYTES:
        raise InputError(name, f"file is {len(data)} bytes, more than the {MAX_BYTES} allowed")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(name, f"not UTF-8 text (byte {exc.start})", "export the LIMS file as UTF-8 CSV") from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader, [])]
        rows = [(reader.line_num, row) for row in reader]  # line_num: a quoted field may span lines
    except csv.Error as exc:
        raise InputError(
            f"{name}:{reader.line_num}", f"not valid CSV: {exc}", "quote fields holding commas, quotes or line breaks"
        ) from exc
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise InputError(
            f"{name}:1",
            f"header lacks {', '.join(missing)}; got {','.join(header)!r}",
            f"required: {','.join(REQUIRED)}",
        )
    unknown = [c for c in header if c not in REQUIRED + OPTIONAL]
    if unknown:
        raise InputError(f"{name}:1", f"unknown column(s) {', '.join(unknown)}", f"optional: {','.join(OPTIONAL)}")
    out: list[Assay] = []
    seen: dict[tuple[str, ...], tuple[int, Assay]] = {}
    for n, row in rows:
        if not any(c.strip() for c in row):
            continue
        where = f"{name}:{n}"
        if len(row) != len(header):
            raise InputError(where, f"expected {len(header)} fields, got {len(row)}")
        r = {k: v.strip() for k, v in zip(header, row, strict=True)}
        if not r["batch_id"]:
            raise InputError(where, "field 'batch_id': expected a batch id, got ''")
        if r["stream"] not in STREAM_NAMES or r["stream"] == "loss":
            raise InputError(
                where, f"field 'stream': expected one of {', '.join(STREAM_NAMES[:-1])}, got {r['stream']!r}"
            )
        el = r["element"].lower()
        if el not in ELEMENTS:
            raise InputError(where, f"field 'element': expected one of {', '.join(ELEMENTS)}, got {r['element']!r}")
        if r["status"] not in ("preliminary", "final"):
            raise InputError(where, f"field 'status': expected 'preliminary' or 'final', got {r['status']!r}")
        value = _pct(r["value_pct"], where, "value_pct")
        moisture = _pct(r["moisture_pct"], where, "moisture_pct", below_100=True) if r.get("moisture_pct") else None
        a = Assay(
            r["batch_id"],
            r["stream"],
            el,
            value,
            r["status"],
            r.get("sample_id", ""),
            r.get("bag_id", ""),
            r.get("lab", ""),
            r.get("method", ""),
            moisture,
            r.get("line", ""),
        )
        key = (a.batch_id, a.stream, a.element, a.status, a.sample_id, a.bag_id)
        if key in seen:
            first, earlier = seen[key]
            what = "a repeat of" if earlier == a else "another value for the same assay as"
            raise InputError(where, f"{what} line {first} (batch, stream, element, status, sample, bag)")
        seen[key] = (n, a)
        out.append(a)
    if not out:
        raise InputError(name, "no assay rows after the header")
    return out


def read_assay_file(path: Path) -> tuple[list[Assay], str]:
    """(records, sha256 of the bytes)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(str(path), f"cannot read: {exc.strerror or exc}") from exc
    return parse_assays(data, str(path)), hashlib.sha256(data).hexdigest()


T = TypeVar("T")


def inbox_once(inbox: Path, importer: Callable[[Path], T]) -> list[T]:
    """Import every finished file in the inbox; move it to done/ or rejected/ (with a reason file).

    Writers should write a temporary name (a leading '.' or not ending in .csv) and rename.
    """
    results: list[T] = []
    files = sorted(
        (p for p in inbox.glob("*.csv") if p.is_file() and not p.name.startswith(".")),
        key=lambda p: (p.stat().st_mtime, p.name),
    )
    for path in files:
        try:
            results.append(importer(path))
        except InputError as exc:
            target = inbox / "rejected"
            target.mkdir(exist_ok=True)
            path.replace(target / path.name)
            (target / f"{path.name}.reason.txt").write_text(f"{exc}\n", encoding="utf-8")
            log.warning("assay file rejected: %s", exc)
        else:
            target = inbox / "done"
            target.mkdir(exist_ok=True)
            path.replace(target / path.name)
    return results


async def watch_inbox(
    inbox: Path, importer: Callable[[Path], T], on_results: Callable[[list[T]], None], every_s: float = 1.0
) -> None:
    """Poll the inbox folder forever; imports run in a thread, results come back on the loop."""
    await asyncio.to_thread(inbox.mkdir, parents=True, exist_ok=True)
    while True:
        results = await asyncio.to_thread(inbox_once, inbox, importer)
        if results:
            on_results(results)
        await asyncio.sleep(every_s)
