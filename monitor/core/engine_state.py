"""The engine's checkpoint codec: its lots in progress as JSON-ready data and back."""

from __future__ import annotations

from collections import deque
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from monitor.core.batches import BatchTracker, FeedWindow
from monitor.core.ledger import StreamLedger
from monitor.core.series import NumericSeries, TextSeries
from monitor.core.spec import LineSpec

if TYPE_CHECKING:
    from monitor.core.engine import Engine

CHECKPOINT_FORMAT = 1


def dump_state(e: Engine) -> dict[str, Any]:
    """Everything needed to resume the lots in progress after a restart (JSON-ready)."""
    return {
        "format": CHECKPOINT_FORMAT,
        "line": e.spec.line,
        "watermark": e._watermark,
        "vouched": e._vouched,
        "server_vouched": e.server_vouched,
        "retimed": list(e._retimed),
        "last_feed_activity": e._last_feed_activity,
        "tracker": e._tracker.dump(),
        "pending": [asdict(w) for w in e._pending],
        "numeric": {tag: series.dump() for tag, series in e._numeric.items()},
        "text": {tag: series.dump() for tag, series in e._text.items()},
        "rejects": list(e._rejects),
        "counted_bags": list(e._counted_bags),
        "gaps": list(e._gaps),
        "accepted": dict(e.stats.accepted),
        "rejected": [[tag, why, n] for (tag, why), n in e.stats.rejected.items()],
        "duplicates": e.stats.duplicates,
        "ledger": e.ledger.dump(),
    }


def check_state(spec: LineSpec, state: dict[str, Any]) -> None:
    """ValueError when the checkpoint is not this line's or not this format."""
    if state.get("format") != CHECKPOINT_FORMAT or state.get("line") != spec.line:
        raise ValueError(
            f"checkpoint of line {state.get('line')!r} format {state.get('format')!r}, "
            f"expected line {spec.line!r} format {CHECKPOINT_FORMAT}"
        )


def restore_state(e: Engine, state: dict[str, Any]) -> None:
    """Put a checked `dump_state()` into a fresh engine of the same line."""
    e._watermark = float(state["watermark"])
    e._vouched = float(state.get("vouched", float("-inf")))
    e.server_vouched = float(state.get("server_vouched", e._vouched))
    e._retimed = deque((float(t), str(tag)) for t, tag in state.get("retimed", []))
    e._last_feed_activity = float(state["last_feed_activity"])
    e._tracker = BatchTracker.load(state["tracker"], resume_within_s=e.spec.resume_within_s)
    e._pending = deque(FeedWindow(**w) for w in state["pending"])
    for tag, data in state["numeric"].items():
        if tag in e._numeric:  # a tag dropped from the config is simply not resumed
            e._numeric[tag] = NumericSeries.load(data)
    for tag, data in state["text"].items():
        if tag in e._text:
            e._text[tag] = TextSeries.load(data)
    e._rejects = deque((float(t), str(tag)) for t, tag in state["rejects"])
    for bag in state["counted_bags"]:
        e._counted_bags.add(str(bag))
    e._gaps = deque((float(a), float(b), bool(r)) for a, b, r in state["gaps"])
    e.stats.accepted.update(state["accepted"])
    for tag, why, n in state["rejected"]:
        e.stats.rejected[(tag, why)] += int(n)
    e.stats.duplicates = int(state["duplicates"])
    e.ledger = StreamLedger.load(state.get("ledger", {}))
    e.resumed_at = e._watermark
