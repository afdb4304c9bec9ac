"""A simulator history export turned into the replay script both second-stack servers play.

The script holds each tag's type and first value and, after that, only the changes
(report-by-exception, as a PLC publishes them), as offsets in seconds from the export's first
row. It stops where the lot after the last wanted one would start, so the line goes quiet after
the wanted lots' products have all left (the test simulator's changeover is longer than its
longest transport delay).
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

import polars as pl


@dataclass(frozen=True, slots=True)
class Script:
    path: Path
    truth: list[dict[str, str]]  # ground-truth rows of the lots the script plays, in order
    events: int
    duration_s: float  # offset of the last change
    first_ts: float  # plant time of the export's first row (offset 0)


def make_script(history: Path, truth_csv: Path, out: Path, *, lots: int, namespace_uri: str, line: str) -> Script:
    frame = pl.read_parquet(history)
    with truth_csv.open(newline="") as fh:
        truth = list(csv.DictReader(fh))[:lots]
    if len(truth) < lots:
        raise ValueError(f"{truth_csv}: {len(truth)} finished lots, wanted {lots}: export more plant-days")
    ids = {r["batch_id"] for r in truth}
    epoch = [ts.timestamp() for ts in frame["ts"]]
    first = epoch[0]
    # the first lot id after the wanted ones: the history is cut where it appears
    cut = math.inf
    for ts, tag, text in zip(epoch, frame["tag"], frame["text"], strict=True):
        if tag.endswith("LotId") and text and text not in ids:
            cut = ts
            break
    last_end = float(truth[-1]["end"])
    if not cut > last_end:
        raise ValueError(f"the lot after {truth[-1]['batch_id']} starts before it ends")
    tags: dict[str, str] = {}
    initial: dict[str, float | str] = {}
    previous: dict[str, tuple[object, int]] = {}
    events: list[list[object]] = []
    for ts, tag, value, text, quality in zip(
        epoch, frame["tag"], frame["value"], frame["text"], frame["quality"], strict=True
    ):
        if ts >= cut:
            break
        kind = "String" if text is not None else "Double"
        if tags.setdefault(tag, kind) != kind:
            raise ValueError(f"{history}: tag {tag} is both {tags[tag]} and {kind}")
        v: float | str = text if text is not None else float(value)
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"{history}: {tag} = {v} at {ts}: JSON cannot carry it (use no fault profile)")
        if ts == first:
            initial[tag] = v
            previous[tag] = (v, quality)
            continue
        if previous.get(tag) == (v, quality):  # report-by-exception: an unchanged value is not sent
            continue
        previous[tag] = (v, quality)
        events.append([round(ts - first, 6), tag, v, int(quality)])
    missing = set(tags) - set(initial)
    if missing:
        raise ValueError(f"{history}: no value at the first timestamp for {', '.join(sorted(missing))}")
    out.write_text(
        json.dumps(
            {
                "namespace_uri": namespace_uri,
                "line": line,
                "tags": tags,
                "initial": initial,
                "events": events,
            }
        )
    )
    return Script(out, truth, len(events), float(events[-1][0]) if events else 0.0, first)  # type: ignore[arg-type]
