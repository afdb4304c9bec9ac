"""PLC habits the simulator can play (--plc-profile), so the monitor is not only tested on itself.

The plant computes true values each step; a `PlcFace` turns them into what a PLC with these
habits puts on the wire: values only when they change, counters once per PLC cycle, integer
counters in 10 kg units that wrap, no source timestamps, unset server timestamps, a skewed
server, PLC clocks off an honest server (one for the lot id, another for the counters), a lot id
written in the same scan as its first feed step, bags of one weight, integer or reused lot ids.
It also reads back, by the wire's own rules, what a correct
monitor can observe of each lot, which goes into ground_truth.csv.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, fields
from typing import Any

PROFILES = {
    "exception": "values are sent only when they change (report-by-exception); idle belts send nothing",
    "slow-cycle": "slow-cycle=SECONDS: counters update once per PLC cycle (default 5 s), off the plant's steps",
    "no-source-ts": "values carry no SourceTimestamp, only the server's",
    "clock-skew": "clock-skew=SECONDS: the PLC's clock (source and server timestamps, CurrentTime) runs off ours",
    "int-counters": "totalizers are UInt16 counts of 10 kg that wrap at 65,536 (start near the wrap)",
    "same-weight-bags": "big bags are filled to one exact net weight; the weight node sends no new value",
    "paused-lot": "paused-lot=SECONDS: the second lot pauses halfway for longer than abandon_after_s, same id",
    "reused-ids": "lot ids are reused: LOT-A, LOT-B, LOT-A, ... (the monitor names the second LOT-A.2)",
    "int-lot-id": "the lot id is an Int32 (1001, 1002, ...); 0 means no lot",
    "null-server-ts": "every value's ServerTimestamp is left unset: DateTime 0 (1601-01-01); source timestamps good",
    "same-scan-edges": "a lot id after an idle gap is written in the same PLC scan, with the same source "
    "timestamp, as the first counter step of its feed (the belt already runs when the id comes)",
    "source-skew": "source-skew=SECONDS: the PLC's source timestamps run off by SECONDS; server timestamps "
    "and CurrentTime are honest",
    "mixed-clocks": "mixed-clocks=SECONDS: the lot-id controller's clock (lot id and attributes) runs SECONDS "
    "off the counters' controller; the server is honest",
    "clock-step": "clock-step=SECONDS: the PLCs' clocks (every source timestamp) are set by hand by SECONDS one "
    "plant hour into the second lot; server timestamps and CurrentTime stay honest",
}
CLOCK_SET_AFTER_S = 3600.0  # clock-step: plant seconds into the second lot the PLCs' clocks are set
LOT_TAGS = ("Feed.LotId", "Feed.Chemistry", "Feed.FeedForm", "Feed.Supplier")  # the lot-id controller's tags
INT_COUNTER_KG = 10.0  # kg per count of an int-counters totalizer
INT_COUNTER_WRAP = 65_536
INT_COUNTER_HEADROOM = 300  # counts below the wrap each counter starts at: every test sees a wrap
SAME_BAG_KG = 750.0


@dataclass(frozen=True, kw_only=True)
class PlcProfile:
    exception: bool = False
    slow_cycle_s: float = 0.0
    no_source_ts: bool = False
    clock_skew_s: float = 0.0
    int_counters: bool = False
    same_weight_bags: bool = False
    paused_s: float = 0.0
    reused_ids: bool = False
    int_lot_id: bool = False
    null_server_ts: bool = False
    same_scan_edges: bool = False
    source_skew_s: float = 0.0
    mixed_clocks_s: float = 0.0
    clock_step_s: float = 0.0

    @property
    def names(self) -> str:
        on = [f.name for f in fields(self) if getattr(self, f.name)]
        return ",".join(on) or "none"


def parse_profile(text: str) -> PlcProfile:
    """'exception,slow-cycle=5,clock-skew=-7200' -> PlcProfile; ValueError naming what is wrong."""
    kw: dict[str, Any] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, _, arg = part.partition("=")
        if name not in PROFILES:
            raise ValueError(f"unknown PLC profile {name!r}; known: {', '.join(PROFILES)}")
        number: float | None = None
        if arg:
            try:
                number = float(arg)
            except ValueError as exc:
                raise ValueError(f"PLC profile {name}: expected a number of seconds after '=', got {arg!r}") from exc
        if name == "slow-cycle":
            kw["slow_cycle_s"] = number if number is not None else 5.0
            if kw["slow_cycle_s"] <= 0:
                raise ValueError(f"slow-cycle: expected a cycle > 0 s, got {arg}")
        elif name in _SECONDS_FIELD:
            if number is None:
                raise ValueError(f"{name}: give the offset in seconds, e.g. {name}=-7200")
            kw[_SECONDS_FIELD[name]] = number
        elif name == "paused-lot":
            kw["paused_s"] = number if number is not None else 5 * 3600.0
        elif number is not None:
            raise ValueError(f"PLC profile {name} takes no '=' argument, got {part!r}")
        else:
            kw[name.replace("-", "_")] = True
    return PlcProfile(**kw)


_SECONDS_FIELD = {
    "clock-skew": "clock_skew_s",
    "source-skew": "source_skew_s",
    "mixed-clocks": "mixed_clocks_s",
    "clock-step": "clock_step_s",
}


@dataclass(frozen=True, slots=True)
class Write:
    """One value on the wire: `ts` is true plant time; the face decides the timestamps sent."""

    tag: str
    ts: float
    value: float | int | str
    vtype: str  # "Double", "String", "UInt16" or "Int32"


class _Reading:
    """A counter as published: (ts, unwrapped kg), read back by the wire's rules."""

    def __init__(self, cycle_s: float) -> None:
        self.cycle_s = cycle_s
        self.ts: list[float] = []
        self.kg: list[float] = []

    def add(self, ts: float, kg: float) -> None:
        if self.kg and kg == self.kg[-1]:
            return  # unchanged: nothing to read back
        self.ts.append(ts)
        self.kg.append(kg)

    def at(self, t: float) -> float:
        """Hold the last value; the next one's increment happened within one cycle before it."""
        i = bisect.bisect_right(self.ts, t)
        if i == 0:
            return self.kg[0] if self.kg else 0.0
        if i == len(self.ts):
            return self.kg[-1]
        t1, v0, v1 = self.ts[i], self.kg[i - 1], self.kg[i]
        ramp_start = max(self.ts[i - 1], t1 - self.cycle_s)
        if t <= ramp_start:
            return v0
        return v0 + (v1 - v0) * (t - ramp_start) / (t1 - ramp_start)

    def trim_before(self, t: float) -> None:
        i = bisect.bisect_left(self.ts, t) - 1
        if i > 0:
            del self.ts[:i]
            del self.kg[:i]


class PlcFace:
    """What a PLC with `profile` writes for the plant's values, step by step."""

    def __init__(self, profile: PlcProfile, counters: tuple[str, ...], step_s: float) -> None:
        self.profile = profile
        self.counters = counters
        self.step_s = step_s
        self._last: dict[str, float | int | str] = {}
        self._prev_kg: dict[str, float] = {}
        cycle = profile.slow_cycle_s or step_s
        self._wire = {t: _Reading(cycle) for t in counters}  # what the monitor can read
        self._exact = {t: _Reading(step_s) for t in counters}  # the scale's own reading, unquantised
        self._offset = {t: float(INT_COUNTER_WRAP - INT_COUNTER_HEADROOM) for t in counters}
        self._held: list[Write] = []  # same-scan-edges: a new lot's id and attributes, waiting for its feed
        # same-scan-edges: (wire lot id, plant time the lot started) -> plant time its id was written
        self.lot_id_at: dict[tuple[float | int | str, float], float] = {}
        self._lots_started = 0
        self._lot: float | str = ""  # the plant's current lot id (clock-step counts lot starts)
        self.clock_set_at: float | None = None  # clock-step: plant time the PLCs' clocks are set by hand

    def stamps(self, tag: str, ts: float) -> tuple[float, float | None]:
        """(source, server) epoch seconds put on a value of plant time ts; server None: left unset."""
        p = self.profile
        server = ts + p.clock_skew_s  # the server's clock (clock-skew moves the whole server)
        source = server + p.source_skew_s + (p.mixed_clocks_s if tag in LOT_TAGS else 0.0)
        if self.clock_set_at is not None and ts >= self.clock_set_at:
            source += p.clock_step_s
        return source, (None if p.null_server_ts else server)

    @property
    def observes_counters_differently(self) -> bool:
        """Counters read on the wire differ from the scales' exact values (quantised or off-step)."""
        return self.profile.int_counters or self.profile.slow_cycle_s > 0

    def vtype(self, tag: str, value: float | int | str) -> str:
        if tag in self.counters and self.profile.int_counters:
            return "UInt16"
        if tag == "Feed.LotId" and self.profile.int_lot_id:
            return "Int32"
        return "String" if isinstance(value, str) else "Double"

    def initial(self, values: dict[str, float | str], ts: float) -> dict[str, Write]:
        out = {}
        for tag, plant_value in values.items():
            v: float | int | str = plant_value
            if tag in self.counters:
                self._prev_kg[tag] = float(plant_value)
                self._exact[tag].add(ts, float(plant_value))
                v = self._counter_value(tag, float(plant_value), ts)
            elif tag == "Feed.LotId" and self.profile.int_lot_id:
                v = 0
            self._last[tag] = v
            out[tag] = Write(tag, ts, v, self.vtype(tag, v))
        return out

    def _counter_value(self, tag: str, kg: float, ts: float) -> float | int:
        if not self.profile.int_counters:
            self._wire[tag].add(ts, kg)
            return kg
        counts = int(kg / INT_COUNTER_KG + self._offset[tag])  # the PLC truncates to whole counts
        self._wire[tag].add(ts, (counts - self._offset[tag]) * INT_COUNTER_KG)
        return counts % INT_COUNTER_WRAP

    def step(self, ts: float, changed: dict[str, float | str]) -> list[Write]:
        """The writes for one plant step ending at ts (counters may write several, off-step)."""
        out: list[Write] = []
        lot = changed.get("Feed.LotId", self._lot)
        if lot != self._lot and lot not in ("", 0):
            self._lots_started += 1
            if self.profile.clock_step_s and self._lots_started == 2:  # noqa: PLR2004 - the second lot
                self.clock_set_at = ts + CLOCK_SET_AFTER_S
        self._lot = lot
        for tag, value in changed.items():
            if tag in self.counters:
                out += self._counter_writes(tag, float(value), ts)
                continue
            wire: float | int | str = value
            if tag == "Feed.LotId" and self.profile.int_lot_id:
                wire = int(value) if value else 0
            out.append(Write(tag, ts, wire, self.vtype(tag, wire)))
        if self.profile.same_scan_edges:
            out = self._same_scan(out)
        if self.profile.exception or self.profile.same_weight_bags:
            out = [w for w in out if self._changed(w)]
        for w in out:
            self._last[w.tag] = w.value
        return out

    def _same_scan(self, out: list[Write]) -> list[Write]:
        """Hold a new lot's id and attributes back to the first feed counter step that changes on the
        wire, and write them in that scan, with its time, just before it."""
        starts = any(w.tag == "Feed.LotId" and w.value not in ("", 0) for w in out)
        if starts:
            self._held = [w for w in out if w.tag in LOT_TAGS]
            out = [w for w in out if w.tag not in LOT_TAGS]
        if not self._held:
            return out
        for i, w in enumerate(out):
            if w.tag == "Feed.Totalizer" and w.value != self._last.get(w.tag):
                held = [Write(h.tag, w.ts, h.value, h.vtype) for h in self._held]
                self.lot_id_at.update(((h.value, h.ts), w.ts) for h in self._held if h.tag == "Feed.LotId")
                self._held = []
                return [*out[:i], *held, *out[i:]]
        return out

    def _changed(self, w: Write) -> bool:
        if w.tag == "BlackMass.BagNetWeight" or self.profile.exception:
            return self._last.get(w.tag) != w.value
        return True

    def _counter_writes(self, tag: str, kg: float, ts: float) -> list[Write]:
        prev = self._prev_kg.get(tag, kg)
        self._prev_kg[tag] = kg
        self._exact[tag].add(ts, kg)
        cycle = self.profile.slow_cycle_s
        if not cycle:
            v = self._counter_value(tag, kg, ts)
            return [Write(tag, ts, v, self.vtype(tag, v))]
        # the PLC publishes on its own cycle, phase-shifted from the plant's steps; the belt runs
        # evenly within a step, so the counter at any instant is known
        t_start = ts - self.step_s
        k = int((t_start - _PHASE * cycle) // cycle) + 1
        out = []
        while (t := _PHASE * cycle + k * cycle) <= ts:
            now_kg = prev + (kg - prev) * (t - t_start) / self.step_s
            v = self._counter_value(tag, now_kg, t)
            out.append(Write(tag, t, v, self.vtype(tag, v)))
            k += 1
        return out

    def observed_kg(self, tag: str, t0: float, t1: float) -> float:
        """What a monitor reads of counter `tag` over (t0, t1] minus what the scale counted exactly."""
        wire, exact = self._wire[tag], self._exact[tag]
        return (wire.at(t1) - wire.at(t0)) - (exact.at(t1) - exact.at(t0))

    def trim_before(self, t: float) -> None:
        for r in (*self._wire.values(), *self._exact.values()):
            r.trim_before(t)


_PHASE = 0.37  # a PLC cycle starts 37 % of a cycle after the plant's step grid
