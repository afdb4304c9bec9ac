"""FeedWindow.ended: the hot-path copy with a new end is dataclasses.replace, field for field."""

from __future__ import annotations

from dataclasses import fields, replace

from monitor.core.batches import FeedWindow


def test_ended_is_replace_with_every_field_carried_over() -> None:
    w = FeedWindow("L1-0042.2", 1.8e9, None, start_observed=False, abandoned=True, raw_id="L1-0042", resumed=True)
    done = w.ended(1.8e9 + 3600.0)
    assert done == replace(w, end=1.8e9 + 3600.0)
    assert done.end == 1.8e9 + 3600.0 and done.start == 1.8e9
    # a field added later with a default must be carried by ended() too: every field but end differs from it
    defaults = FeedWindow("", 0.0)
    assert [f.name for f in fields(w) if getattr(w, f.name) == getattr(defaults, f.name)] == ["end"]
