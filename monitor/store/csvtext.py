"""CSV text as the csv module writes it (excel dialect, "\\n" line ends), in one join per row.

The report projection is written for every stored batch version, three parts each: csv.writer's
per-call set-up and per-field dispatch were a tenth of a replay. The same text, to the byte
(tests/test_csvtext.py checks it against csv.writer), for the cells the projection holds:
None, str, int, bool and float.
"""

from __future__ import annotations

from collections.abc import Iterable

_SPECIAL = frozenset(',"\n')  # the delimiter, the quote and the line terminator's characters


def cell(v: object) -> str:
    """One field: None empty, a float by its repr (as str() gives it), text quoted where it must be."""
    if v is None:
        return ""
    if v.__class__ is float:
        return repr(v)
    s = str(v)
    if _SPECIAL.isdisjoint(s):
        return s
    return '"' + s.replace('"', '""') + '"'


def csv_text(rows: Iterable[Iterable[object]]) -> str:
    """Rows as csv.writer(buf, lineterminator="\\n").writerows(rows) writes them."""
    out = []
    for row in rows:
        cells = [cell(v) for v in row]
        # a row of one empty field is written quoted, else it would read back as no field at all
        out.append('""\n' if len(cells) == 1 and not cells[0] else ",".join(cells) + "\n")
    return "".join(out)
