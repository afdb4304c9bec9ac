"""What each lot flag means and what to do about it: the short label a table shows, the sentence
its hover and the lot page show. The same table as docs/timestamps.md ("Flags a lot can carry");
the /flags page renders this one, so the page and the hover never disagree."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FlagMeaning:
    name: str
    label: str  # a few letters for a table cell
    means: str
    action: str


_TABLE = (
    (
        "start_not_observed",
        "start?",
        "the start was not observed (the monitor, or the counter, joined late)",
        "nothing for a lot; for a stream, check the tag was subscribed from the start",
    ),
    (
        "end_not_observed",
        "end?",
        "no reading after the window's end and nothing vouched it held",
        "check the server's CurrentTime (frozen?) and the collector",
    ),
    (
        "boundary_split",
        "split",
        "a lot edge fell inside a counter's update cycle; that mass was apportioned by time",
        "nothing; a slow counter against short lots",
    ),
    (
        "mass_unattributed_before",
        "unattr",
        "the counter rose since the previous lot with no lot open",
        "see the StreamMassUnattributed runbook",
    ),
    ("reset", "reset", "the counter was reset inside the window; counted through", "nothing"),
    (
        "rollover",
        "wrap",
        "the counter wrapped inside the window; counted through",
        "check the wrap if masses look wrong",
    ),
    (
        "counter_anomaly",
        "anom",
        "the counter dropped by more than jitter and less than a reset: counted as 0",
        "check the PLC's totalizer",
    ),
    ("estimated", "est", "a flow meter had gaps: the mass is estimated", "check the flow meter's tag"),
    ("window_not_covered", "cover", "a flow meter did not cover the lot's window", "check the flow meter's tag"),
    (
        "duplicate_bags",
        "dup bag",
        "a bag id was weighed twice within its scope: counted once",
        "check the bagging station",
    ),
    (
        "timestamps_replaced",
        "ts",
        "some source times were absent or implausible; another clock stood in",
        "fix the PLC's clock or the server's timestamp settings",
    ),
    (
        "timestamp_replaced",
        "ts",
        "some source times of this stream were absent or implausible",
        "fix the PLC's clock or the server's timestamp settings",
    ),
    (
        "rejected_samples",
        "rej",
        "samples were kept out of the sums (bad quality, implausible values)",
        "see blackmass_samples_rejected_total",
    ),
    (
        "collector_gap",
        "gap",
        "the collector had no live data for part of the lot",
        "check the network and the server's history",
    ),
    ("collector_gap_backfilled", "gap-bf", "a collector gap was filled from the server's history", "nothing"),
    ("resumed_from_checkpoint", "ckpt", "the monitor restarted while the lot ran", "nothing"),
    (
        "closed_on_our_clock",
        "our clk",
        "the server's CurrentTime stood still; our clock vouched the lot's end",
        "fix the server's time service",
    ),
    ("abandoned", "aband", "no feed for abandon_after_s: the lot was closed", "nothing"),
    ("resumed", "resumed", "fed again under the same id and stored whole", "nothing"),
    ("origin_unknown", "origin?", "the feed's origin class is not known", "declare the feed form's origin"),
)
MEANINGS = {name: FlagMeaning(name, label, means, action) for name, label, means, action in _TABLE}
DOCS = "docs/timestamps.md (Flags a lot can carry)"


@dataclass(frozen=True, slots=True)
class ShownFlag:
    flag: str  # as stored: "abandoned" or "feed:reset"
    label: str
    means: str
    anchor: str  # the /flags page's id for its meaning


def explain(flag: str) -> ShownFlag:
    """A stored flag as a table shows it; an unknown flag keeps its own name and says so."""
    stream, _, name = flag.rpartition(":")
    m = MEANINGS.get(name)
    if m is None:
        return ShownFlag(flag, flag[:12], f"{flag}: not described here yet", "unknown")
    where = f"{stream}: " if stream else ""
    return ShownFlag(flag, f"{stream[:4]}:{m.label}" if stream else m.label, where + m.means, m.name)


def split_flags(text: str | None) -> list[ShownFlag]:
    """The report row's flags column ("a;b" or "a, b") as shown flags."""
    if not text:
        return []
    parts = text.replace(",", ";").split(";")
    return [explain(p.strip()) for p in parts if p.strip()]
