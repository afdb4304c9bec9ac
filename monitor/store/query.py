"""One batch query: the filters a person gives the CLI, the API or the web pages, parsed in one place.

`parse_query` turns what was typed (flags, URL parameters, form fields; text by field name) into a
`BatchQuery`, or refuses with an InputError naming the field, what it expects and what arrived.
The store's batch reads and every report take the value; nobody re-spells the filters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from monitor.core.results import BatchState
from monitor.errors import InputError

# the field names, as the API's query parameters spell them (the CLI's flags are the same words)
FIELDS = ("from", "to", "line", "chemistry", "feed_form", "batch", "state", "include_partial")
STATES = tuple(s.value for s in BatchState)
_YES, _NO = ("true", "1", "yes", "on"), ("false", "0", "no", "off", "")

Given = str | Sequence[str] | bool | None


def parse_when(text: str) -> float:
    """A date or datetime (naive = UTC) as epoch seconds; ValueError with the expected form."""
    try:
        dt = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"expected a date or datetime like 2026-11-01 or 2026-11-01T06:00, got {text!r}") from exc
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True, kw_only=True)
class BatchQuery:
    """Which lots: latest version of each, lot start in [start_from, start_to), all filters ANDed.

    lines None: every line (an empty tuple: none); state None: every state but partial unless
    include_partial (a state named is the only one taken, partial included when named).
    """

    start_from: float | None = None
    start_to: float | None = None
    lines: tuple[str, ...] | None = None
    chemistry: str | None = None
    feed_form: str | None = None
    batch_id: str | None = None
    state: BatchState | None = None
    include_partial: bool = False

    @classmethod
    def lot(cls, batch_id: str, line: str | None = None) -> BatchQuery:
        """One lot (on one line, or on whichever holds it), whatever its state."""
        return cls(batch_id=batch_id, lines=None if line is None else (line,), include_partial=True)

    @classmethod
    def line(cls, line: str, *, include_partial: bool = True) -> BatchQuery:
        """Every lot of one line."""
        return cls(lines=(line,), include_partial=include_partial)

    def params(self) -> dict[str, str]:
        """The query as the text fields parse_query reads back (URL parameters of a link that keeps
        the filters); only the fields given, in FIELDS order. lines=() (no line at all) has no text
        form: it is a value for code, never typed."""
        given = {
            "from": None if self.start_from is None else iso(self.start_from),
            "to": None if self.start_to is None else iso(self.start_to),
            "line": None if self.lines is None else ",".join(self.lines),
            "chemistry": self.chemistry,
            "feed_form": self.feed_form,
            "batch": self.batch_id,
            "state": None if self.state is None else self.state.value,
            "include_partial": "true" if self.include_partial else None,
        }
        return {k: v for k, v in given.items() if v is not None}

    def describe(self) -> str:
        """The filters as a person typed them: line=L1, chemistry=NMC, from=..., to=... ("" for none)."""
        p = self.params()
        parts = [f"{k}={p[k]}" for k in ("line", "chemistry", "feed_form", "batch", "state", "from", "to") if k in p]
        return ", ".join(parts + ["include partial lots"] * (self.include_partial and self.state is None))

    def period(self) -> str:
        """The asked-for span of lot starts ("" when neither end is given: the lots' own span)."""
        if self.start_from is None and self.start_to is None:
            return ""
        lo = iso(self.start_from) if self.start_from is not None else "the first lot"
        hi = f"before {iso(self.start_to)}" if self.start_to is not None else "the last lot"
        return f"lots starting {lo} – {hi}"


EVERY = BatchQuery(include_partial=True)  # every lot's latest version (the store's default)


def parse_query(given: Mapping[str, Given], label: Callable[[str], str] = str) -> BatchQuery:
    """The query of the fields given (FIELDS; an empty or absent one is no filter).

    A field arrives as text, a list of texts (line: repeated, each may hold comma-separated names)
    or a bool (include_partial from a flag). `label(field)` names the field in an error the way its
    caller spells it (`--from`, `query 'from'`).
    """
    unknown = sorted(set(given) - set(FIELDS))
    if unknown:
        raise InputError(", ".join(map(label, unknown)), "unknown filter", f"filters: {', '.join(map(label, FIELDS))}")
    text = {k: _one(given.get(k), label(k)) for k in FIELDS if k != "line"}
    start_from = _when(text["from"], label("from"))
    start_to = _when(text["to"], label("to"))
    if start_from is not None and start_to is not None and start_to <= start_from:
        raise InputError(label("to"), f"expected a time after from ({iso(start_from)}), got {iso(start_to)}")
    state = text["state"] or None
    if state is not None and state not in STATES:
        raise InputError(label("state"), f"expected one of {', '.join(STATES)}, got {state!r}")
    return BatchQuery(
        start_from=start_from,
        start_to=start_to,
        lines=_lines(given.get("line")),
        chemistry=text["chemistry"] or None,
        feed_form=text["feed_form"] or None,
        batch_id=text["batch"] or None,
        state=None if state is None else BatchState(state),
        include_partial=_flag(given.get("include_partial"), label("include_partial")),
    )


def _one(value: Given, where: str) -> str:
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, str):
        return value.strip()
    if len(value) > 1:
        raise InputError(where, f"expected one value, got {len(value)}: {', '.join(value)}")
    return value[0].strip() if value else ""


def _lines(value: Given) -> tuple[str, ...] | None:
    if value is None or isinstance(value, bool):
        return None
    texts = [value] if isinstance(value, str) else list(value)
    names = tuple(dict.fromkeys(x.strip() for t in texts for x in t.split(",") if x.strip()))
    return names or None


def _when(text: str, where: str) -> float | None:
    if not text:
        return None
    try:
        return parse_when(text)
    except ValueError as exc:
        raise InputError(where, str(exc)) from exc


def _flag(value: Given, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = _one(value, where).lower()
    if text not in _YES + _NO:
        raise InputError(where, f"expected true or false, got {text!r}")
    return text in _YES
