"""A discrete-time black-mass line: lots in, product totalizers and big bags out, plus truth.

Each step covers (ts - step_s, ts]. Product stream s at step k carries the feed of step
k - delay_s/step_s, so every lot boundary and delayed boundary falls on a step: the truth of a
lot is exactly what its feed produced, and a correct monitor can reproduce it.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from monitor.simulator.composition import (
    SPLITS,
    STREAMS,
    Seeds,
    element_split,
    lot_components,
    stream_assays,
    stream_fractions,
    torn_sieve,
)
from monitor.simulator.lots import Lot, LotType
from monitor.simulator.process import FAULT_FROM_LOT, ProcessModel
from monitor.simulator.settings import SimConfig

MEASURED = ("ferrous", "aluminium", "copper", "light_fraction", "condensate", "fines")
TOTALIZER_TAG = {
    "ferrous": "Magnet.FerrousTotalizer",
    "aluminium": "EddyCurrent.AluminiumTotalizer",
    "copper": "EddyCurrent.CopperTotalizer",
    "light_fraction": "Classifier.LightTotalizer",
    "condensate": "Dryer.CondensateTotalizer",
    "fines": "Baghouse.FinesTotalizer",
}
# Faults the simulator can play (--fault NAME), each from the third lot on:
FAULTS = {
    "yield-drop": "torn sieve: 35 % of the black mass rides the oversize to the eddy-current products",
    "n2-leak": "nitrogen leak: shredder O2 ramps 2.5 vol %/h (to 6.8 %) while the N2 flow sags",
    "dryer-overheat": "dryer product temperature climbs 40 K/h to 230 degC",
    "server-restart": "the OPC-UA server stops halfway through the lot for 20 plant minutes and comes back "
    "with its namespace at another index",
    "network-outage": "halfway through the lot the monitor's connection is cut and refused for 20 plant minutes",
    "totalizer-reset": "halfway through the lot the feed and aluminium totalizers reset to 0 (PLC restart) "
    "and count on",
    "bad-quality": "Bad and Uncertain status codes, NaN, a frozen totalizer, late (out-of-order) and repeated samples",
}
REUSED_LOT_IDS = ("LOT-A", "LOT-B")
OUTAGE_S = 1200.0  # plant seconds the server-restart and network-outage faults last
STATUS_BAD = 0x80000000
STATUS_UNCERTAIN = 0x40000000


@dataclass(frozen=True, slots=True)
class Glitch:
    """An extra value the server publishes after a step's regular ones (the bad-quality fault)."""

    tag: str
    ts: float
    value: float | str
    status: int = 0


class Plant:
    """Steps the line; `values` are the tag values at the step's end, `truth` finished lots."""

    def __init__(
        self,
        cfg: SimConfig,
        seeds: Seeds,
        schedule: list[LotType],
        *,
        t0: float,
        seed: int = 1,
        noise: bool = True,
        faults: frozenset[str] = frozenset(),
    ) -> None:
        unknown = set(faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown fault(s) {', '.join(sorted(unknown))}; known: {', '.join(FAULTS)}")
        self.cfg, self.seeds, self.schedule = cfg, seeds, schedule
        self.faults = faults
        self.rng = np.random.default_rng(seed)
        self.noise = noise
        self.t0 = t0
        self.k = 0
        self.lot: Lot | None = None
        self.lots_started = 0
        self.idle_until = t0 + cfg.initial_idle_s
        self.lags = {s: round(cfg.delays_s.get(s, 0.0) / cfg.step_s) for s in STREAMS if s != "loss"}
        self.max_lag = max(self.lags.values())
        self.history: deque[tuple[Lot | None, float]] = deque(maxlen=self.max_lag + 1)
        self.tot_meas = dict.fromkeys(("feed", *MEASURED), 0.0)
        self.bags: dict[str, tuple[str, float, float]] = {}  # lot id -> (bag id, true kg, target kg)
        self.bag_seq = 0
        self.rate_dev = 0.0
        self.process = ProcessModel(self.rng, step_s=cfg.step_s, feed_rate_kg_h=cfg.feed_rate_kg_h, noise=noise)
        self.unfinished: list[Lot] = []
        self.values: dict[str, float | str] = self._initial_values()
        self.events: list[str] = []  # "mid-lot": the faulty lot is half fed (server faults start here)
        self.glitches: list[Glitch] = []
        self._mid_lot_done = False
        self._frozen: dict[str, float] = {}  # tag -> value it is stuck at
        self._held: list[Glitch] = []  # values published one step late

    @property
    def ts(self) -> float:
        return self.t0 + self.k * self.cfg.step_s

    def _initial_values(self) -> dict[str, float | str]:
        v: dict[str, float | str] = {
            "Feed.LotId": "",
            "Feed.Chemistry": "",
            "Feed.FeedForm": "",
            "Feed.Supplier": "",
            "BlackMass.BagId": "",
            "BlackMass.BagNetWeight": 0.0,
        }
        v["Feed.Totalizer"] = 0.0
        for s in MEASURED:
            v[TOTALIZER_TAG[s]] = 0.0
        v.update(self.process.values(0.0))
        return v

    def _new_lot(self, ts: float) -> Lot:
        weights = np.array([t.weight for t in self.schedule])
        lt = self.schedule[int(self.rng.choice(len(self.schedule), p=weights / weights.sum()))]
        target = float(self.rng.uniform(lt.min_t, lt.max_t)) * 1000.0
        comp = lot_components(self.seeds, lt.chemistry, lt.cell_format, lt.feed_form)
        if self.noise:  # lot-to-lot variation of what the scrap really is
            comp = {c: f * (1 + 0.03 * self.rng.standard_normal()) for c, f in comp.items()}
            total = sum(comp.values())
            comp = {c: f / total for c, f in comp.items()}
        # a fault that starts "from the third lot on" hits lots 3, 4, ...
        faulty = self.lots_started + 1 >= FAULT_FROM_LOT
        splits = torn_sieve(SPLITS) if faulty and "yield-drop" in self.faults else SPLITS
        feed_el, stream_el = element_split(self.seeds, lt.chemistry, comp, splits)
        bias = {s: (float(self.rng.normal(0.0, sd)) if self.noise else 0.0) for s, sd in self.cfg.accuracy.items()}
        self.lots_started += 1
        name, wire = self._lot_id(self.lots_started)
        return Lot(
            name,
            lt.supplier,
            lt.chemistry,
            lt.cell_format,
            lt.feed_form,
            target,
            ts,
            stream_fractions(comp, splits),
            feed_el,
            stream_el,
            bias,
            stream_assays(self.seeds, lt.chemistry, comp, splits),
            wire_id=wire,
        )

    def _lot_id(self, n: int) -> tuple[str, str | int]:
        """(the monitor's name, the id on the wire) of the n-th lot."""
        if self.cfg.lot_ids in ("reused", "reused-int"):
            k = (n - 1) % len(REUSED_LOT_IDS)
            wire: str | int = REUSED_LOT_IDS[k] if self.cfg.lot_ids == "reused" else 1001 + k
            use = (n - 1) // len(REUSED_LOT_IDS) + 1
            return (str(wire) if use == 1 else f"{wire}.{use}"), wire
        if self.cfg.lot_ids == "int":
            return str(1000 + n), 1000 + n
        name = f"{self.cfg.line}-{n:05d}"
        return name, name

    @property
    def stopped(self) -> bool:
        """The line has played its lots: no feed, counters frozen (the server stays up)."""
        return 0 < self.cfg.lots <= self.lots_started and self.lot is None

    def step(self) -> tuple[float, dict[str, float | str], list[Lot]]:  # noqa: PLR0912, PLR0915 - one step of the whole line reads best in order
        """Advance one step; returns (ts, changed tag values, lots whose outputs all left)."""
        cfg = self.cfg
        self.k += 1
        ts = self.ts
        changed: dict[str, float | str] = {}
        lot = self.lot
        feed = 0.0
        if lot is not None and self._paused(lot, ts):
            lot = None  # the belt stands; the id stays on the tag
        if lot is not None:
            if self.noise:
                self.rate_dev = 0.9 * self.rate_dev + 0.02 * float(self.rng.standard_normal())
            feed = cfg.feed_rate_kg_h * (1 + self.rate_dev) * cfg.step_s / 3600.0
            lot.fed_kg += feed
            self.tot_meas["feed"] += feed * (1 + lot.bias["feed"])
        self.history.append((lot, feed))
        for s, lag in self.lags.items():
            if lag >= len(self.history):
                continue
            src, f = self.history[-1 - lag]
            if src is None or f == 0.0:
                continue
            inc = f * src.stream_frac[s]
            src.out_kg[s] += inc
            if s == "black_mass":
                self._fill_bag(src, inc, ts, changed)
            else:
                self.tot_meas[s] += inc * (1 + src.bias.get(s, 0.0))
        # a lot's last black mass closes its last bag
        src_bm = self.history[-1 - self.lags["black_mass"]][0] if self.lags["black_mass"] < len(self.history) else None
        if src_bm is not None and src_bm.last_step == self.k - self.lags["black_mass"]:
            self._close_bag(src_bm, ts, changed)
        # lot transitions happen at the step's end
        lot = self.lot
        if lot is not None and lot.fed_kg >= lot.target_kg:
            lot.end_ts, lot.last_step = ts, self.k
            self.unfinished.append(lot)
            self.lot = None
            self.idle_until = ts + cfg.changeover_s
            changed["Feed.LotId"] = ""
        elif lot is None and ts >= self.idle_until and not (0 < cfg.lots <= self.lots_started):
            self.lot = self._new_lot(ts)
            changed.update(
                {
                    "Feed.LotId": self.lot.wire_id,
                    "Feed.Chemistry": self.lot.chemistry,
                    "Feed.FeedForm": self.lot.feed_form,
                    "Feed.Supplier": self.lot.supplier,
                }
            )
        self.events, self.glitches = [], []
        if self._at_mid_lot():
            self.events.append("mid-lot")
            if "totalizer-reset" in self.faults:
                # the PLC restarted just after its last published reading: its counters hold only this step
                self.tot_meas["feed"] = feed * (1 + self.lot.bias["feed"]) if self.lot else 0.0
                self.tot_meas["aluminium"] = 0.0
        changed["Feed.Totalizer"] = self.tot_meas["feed"]
        for s in MEASURED:
            changed[TOTALIZER_TAG[s]] = self.tot_meas[s]
        changed.update(self._process_values(feed))
        if "bad-quality" in self.faults and self.lots_started >= FAULT_FROM_LOT:
            self._bad_quality(ts, changed)
        finished = [x for x in self.unfinished if x.last_step is not None and self.k >= x.last_step + self.max_lag]
        self.unfinished = [x for x in self.unfinished if x not in finished]
        self.values.update(changed)
        return ts, changed, finished

    def _process_values(self, fed_kg: float) -> dict[str, float]:
        """The process tags after a step that fed `fed_kg`: the process faults play from the third lot on."""
        lot = self.lot
        if self.lots_started < FAULT_FROM_LOT or lot is None:
            return self.process.values(fed_kg)
        return self.process.values(fed_kg, faults=self.faults, into_h=(self.ts - lot.start_ts) / 3600.0)

    def _paused(self, lot: Lot, ts: float) -> bool:
        """The second lot stops feeding halfway for paused_s, then goes on under the same id."""
        if not self.cfg.paused_s or self.lots_started != 2:  # noqa: PLR2004 - the second lot pauses (SimConfig.paused_s)
            return False
        if lot.paused_until is None and not lot.pause_done and lot.fed_kg >= 0.5 * lot.target_kg:
            lot.paused_until = ts - self.cfg.step_s + self.cfg.paused_s
        if lot.paused_until is not None and ts <= lot.paused_until:
            return True
        if lot.paused_until is not None:
            lot.paused_until, lot.pause_done = None, True
        return False

    def _at_mid_lot(self) -> bool:
        lot = self.lot
        if self._mid_lot_done or lot is None or self.lots_started != FAULT_FROM_LOT:
            return False
        if lot.fed_kg < 0.5 * lot.target_kg:
            return False
        self._mid_lot_done = True
        return True

    def _bad_quality(self, ts: float, changed: dict[str, float | str]) -> None:
        """Every kind of bad sample a field bus produces, on a fixed rota of steps."""
        k = self.k % 12
        step = self.cfg.step_s
        if k == 1:  # a Bad reading between two good ones (sensor fault): value garbage
            self.glitches.append(Glitch("Magnet.FerrousTotalizer", ts + step / 3, 0.0, STATUS_BAD))
        elif k == 3:  # noqa: PLR2004 - Uncertain (e.g. last usable value) and NaN with good status
            self.glitches.append(Glitch("EddyCurrent.CopperTotalizer", ts + step / 3, 1e9, STATUS_UNCERTAIN))
            self.glitches.append(Glitch("Classifier.LightTotalizer", ts + step / 3, math.nan))
        elif k in (5, 6, 7):  # a frozen totalizer: the same value with fresh timestamps, then it catches up
            tag = "Baghouse.FinesTotalizer"
            self._frozen.setdefault(tag, float(self.values[tag]))
            changed[tag] = self._frozen[tag]
        elif k == 8:  # noqa: PLR2004 - the fault cycle's steps
            self._frozen.clear()
        if k == 9:  # noqa: PLR2004 - a value that arrives late: held back now, published after the next step's value
            tag = "Feed.Totalizer"
            self._held.append(Glitch(tag, ts, changed.pop(tag)))
        elif self._held:
            late = self._held.pop()
            self.glitches.append(late)
            self.glitches.append(Glitch(late.tag, ts, changed[late.tag]))  # the current value again: a repeat
        if k == 11 and "Shredder.O2" in changed:  # noqa: PLR2004 - an out-of-range process value flagged Bad
            self.glitches.append(Glitch("Shredder.O2", ts + step / 3, -1.0, STATUS_BAD))

    def _fill_bag(self, src: Lot, inc: float, ts: float, changed: dict[str, float | str]) -> None:
        bag_id, kg, target = self.bags.get(src.batch_id) or self._open_bag()
        kg += inc
        self.bags[src.batch_id] = (bag_id, kg, target)
        exact = self.cfg.same_weight_bags_kg
        if exact and kg >= exact:
            # a dosing filler stops at the set weight: full bags weigh the same, the rest starts the next
            # bag (at most one full bag per step: a step carries far less than a bag)
            self.bags[src.batch_id] = (bag_id, exact, target)
            self._close_bag(src, ts, changed)
            nxt = self._open_bag()
            self.bags[src.batch_id] = (nxt[0], kg - exact, nxt[2])
        elif not exact and kg >= target:
            self._close_bag(src, ts, changed)

    def _open_bag(self) -> tuple[str, float, float]:
        self.bag_seq += 1
        target = float(self.rng.uniform(self.cfg.bag_min_kg, self.cfg.bag_max_kg))
        return f"BB-{self.cfg.line}-{self.bag_seq:06d}", 0.0, target

    def _close_bag(self, src: Lot, ts: float, changed: dict[str, float | str]) -> None:
        bag = self.bags.pop(src.batch_id, None)
        if bag is None or bag[1] <= 0:
            return
        exact = self.cfg.same_weight_bags_kg > 0  # a dosing filler: the set weight, no scatter
        err = float(self.rng.normal(0.0, self.cfg.bag_sigma)) if self.noise and not exact else 0.0
        changed["BlackMass.BagId"] = bag[0]
        changed["BlackMass.BagNetWeight"] = bag[1] * (1 + err)
        src.bags.append((bag[0], bag[1] * (1 + err)))
