"""Modbus TCP polling → Samples, with its own supervisor (reconnect with capped backoff).

A register carries no timestamp: a value's time is the receive time of the poll that read it,
on our clock (docs/timestamps.md), unless the point names a time register the device stamps
(a scale terminal's "weighed at"). A value is sent when it changes (report by exception); a
point with a `trigger` is sent only when its trigger tag changes (a bag counter rising). A
device's exception code makes the tags of that read Bad with the code and the others go on; a
grouped read answered with an exception is split into one read per point. Timeouts and lost
connections end the session, which is retried with doubling delays; the span without polls is
a gap the engine flags (a Modbus device cannot replay what was missed).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Unpack

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from monitor.collectors.cancelling import honour_cancel
from monitor.collectors.health import CollectorHealth, ConnState, Gap
from monitor.collectors.modbus_decode import (
    BIT_TABLES,
    Point,
    Read,
    decode,
    decode_read,
    engineering,
    exception_text,
    make_read,
    plan_reads,
    slice_of,
)
from monitor.collectors.source_settings import ModbusSettings
from monitor.collectors.wiring import SampleSink, Wiring, WiringArgs, health_of
from monitor.core.samples import SOURCE_CLOCK, Quality, Sample
from monitor.errors import CollectorError

log = logging.getLogger(__name__)

_NONE = object()  # no value yet
STATUS_BAD = 0x80000000  # OPC-UA's Bad severity; the low bits keep the device's exception code
_READERS = {
    "holding": "read_holding_registers",
    "input": "read_input_registers",
    "coil": "read_coils",
    "discrete": "read_discrete_inputs",
}


class ModbusCollector:
    """Polls one device's points every poll interval and hands changed values to `sink`."""

    def __init__(
        self,
        settings: ModbusSettings,
        sink: SampleSink,
        *,
        on_types: Callable[[Mapping[str, float]], None] | None = None,
        **wiring: Unpack[WiringArgs],
    ) -> None:
        self.settings = settings
        self.wiring = Wiring.of(sink, wiring, "modbus")
        self.source = self.wiring.source
        self.on_types = on_types
        self.reads = plan_reads(settings.points, settings.max_registers, settings.max_bits)
        self.state = ConnState.DISCONNECTED
        self.reconnects = 0
        self.samples: Counter[str] = Counter()
        self.last_sample_wall: float | None = None
        self.last_error: str | None = None
        self.bad: dict[str, str] = {}  # tag -> the device's answer, while its reads fail
        self.polls = 0
        self.gap_count = 0
        self._last: dict[str, float | str] = {}
        self._last_poll: float | None = None  # our clock: the latest complete poll (a gap starts here)
        self._fresh = False  # a new session has not polled yet
        self._gap_to = float("-inf")  # the end of the outage reported so far
        self._device_clock = any(p.time_address is not None for p in settings.points)  # it stamps values itself
        self._device_ts = float("-inf")  # the newest time the device stamped a value with
        self.connected = asyncio.Event()

    def health(self) -> CollectorHealth:
        return health_of(self, len(self.bad), len(self.settings.points) - len(self.bad), self.bad)

    async def run(self) -> None:
        """Run forever: connect, poll; on any loss back off (capped) and retry."""
        s = self.settings
        delay = s.reconnect_min_s
        if self.on_types is not None:
            self.on_types({p.tag: w for p in s.points if (w := p.wrap) is not None})
        while True:
            honour_cancel()
            self.state = ConnState.CONNECTING
            client = AsyncModbusTcpClient(s.host, port=s.port, timeout=s.timeout_s, retries=0, reconnect_delay=0)
            try:
                if not await client.connect():
                    raise CollectorError(
                        f"modbus source {self.source}: no connection to {s.host}:{s.port} "
                        f"(hint: is the device on, is port {s.port} open to us?)"
                    )
                self.state = ConnState.CONNECTED
                self._fresh = True
                self.connected.set()
                delay = s.reconnect_min_s
                await self._poll_forever(client)
            except (CollectorError, ModbusException, OSError, TimeoutError) as exc:
                self.last_error = str(exc)
                log.warning("modbus source %s: %s; retrying in %.1f s", self.source, exc, delay)
            finally:
                client.close()
                self.connected.clear()
            self.state = ConnState.BACKOFF
            self.reconnects += 1
            self.note_outage(self.wiring.now())
            await asyncio.sleep(delay)
            delay = min(delay * 2, s.reconnect_max_s)

    async def _poll_forever(self, client: AsyncModbusTcpClient) -> None:
        loop = asyncio.get_running_loop()
        every = self.settings.poll_interval_ms / 1000.0
        reads = list(self.reads)
        while True:
            started = loop.time()
            reads = await self.poll_once(client, reads)
            honour_cancel()  # pymodbus' wait_for may have swallowed the app's cancel (Python 3.11)
            await asyncio.sleep(max(0.0, every - (loop.time() - started)))

    async def poll_once(self, client: AsyncModbusTcpClient, reads: list[Read]) -> list[Read]:
        """One poll of every read; returns the reads to use next time (a failing group split)."""
        raw: dict[str, float | str] = {}
        bad: dict[str, str] = {}
        stamps: dict[str, float] = {}
        now = self.wiring.now()
        kept: list[Read] = []
        for read in reads:
            answer = await self._read(client, read)
            now = self.wiring.now()
            if isinstance(answer, int):
                if len(read.points) > 1:  # find the one point the device refuses: read them one by one
                    singles = [_single(p) for p in read.points]
                    kept.extend(singles)
                    for single in singles:
                        got = await self._read(client, single)
                        self._take(single, got, raw, bad, stamps)
                    continue
                kept.append(read)
            else:
                kept.append(read)
            self._take(read, answer, raw, bad, stamps)
        await self._emit(raw, bad, stamps, now)
        return kept

    async def _read(self, client: AsyncModbusTcpClient, read: Read) -> list[int] | int:
        """The registers (or bits) of one read, or the device's exception code."""
        method = getattr(client, _READERS[read.table])
        rr = await method(read.address, count=read.count, device_id=self.settings.unit)
        if rr.isError():
            return int(getattr(rr, "exception_code", 0) or 0)
        if read.table in BIT_TABLES:
            return [int(b) for b in rr.bits[: read.count]]
        return list(rr.registers)

    def _take(
        self,
        read: Read,
        answer: list[int] | int,
        raw: dict[str, float | str],
        bad: dict[str, str],
        stamps: dict[str, float],
    ) -> None:
        if isinstance(answer, int):
            bad.update({p.tag: exception_text(answer) for p in read.points})
            return
        numbers = decode_read(read, answer)
        raw.update(numbers)
        for p in read.points:
            try:
                if p.tag not in numbers:
                    raw[p.tag] = _value(p, read, answer)
                if p.time_address is not None:
                    t = decode(slice_of(read, answer, p.time_address, 2), "uint32", p.time_order)
                    if isinstance(t, float) and t > 0:
                        stamps[p.tag] = t
            except ValueError as exc:
                bad[p.tag] = f"not decodable: {exc}"

    async def _emit(
        self, raw: dict[str, float | str], bad: dict[str, str], stamps: dict[str, float], now: float
    ) -> None:
        changed = {tag for tag, v in raw.items() if _differs(self._last.get(tag, _NONE), v)}
        out: list[Sample] = []
        for p in self.settings.points:
            if p.tag in bad:
                if self.bad.get(p.tag) != bad[p.tag]:  # the change to Bad is sent once
                    out.append(Sample(p.tag, now, None, Quality.BAD, STATUS_BAD | _code(bad[p.tag])))
                    log.warning("modbus source %s: tag %s: %s", self.source, p.tag, bad[p.tag])
                continue
            if p.tag not in raw:
                continue
            recovered = p.tag in self.bad
            send = (p.trigger in changed) if p.trigger is not None else (p.tag in changed or recovered)
            if p.trigger is not None and p.tag not in self._last:
                send = True  # the first poll sends the current value, as an OPC-UA subscription does
            if send:
                out.append(Sample(p.tag, stamps.get(p.tag, now), engineering(p, raw[p.tag])))
        self._last.update(raw)
        self.bad = bad
        self._gap_closed(now)
        self.polls += 1
        if out:
            self.samples["good"] += sum(1 for s in out if s.quality is Quality.GOOD)
            self.samples["bad"] += sum(1 for s in out if s.quality is Quality.BAD)
            self.last_sample_wall = self.wiring.wall()
        self._device_ts = max(self._device_ts, *stamps.values()) if stamps else self._device_ts
        tick = self._device_ts if self._device_clock else now  # nothing stamped up to tick can come later
        if math.isfinite(tick):  # (a device's own clock leads: our receive time says nothing of its stamps)
            out.append(Sample(SOURCE_CLOCK, tick, None))
        await self.wiring.deliver(out)

    def _gap_closed(self, now: float) -> None:
        """The first poll of a session after a lost one ends the gap the device cannot fill."""
        if self._fresh:
            self._fresh = False
            self.note_outage(now)
        self._last_poll = now

    def note_outage(self, now: float) -> None:
        """Report the span since the last poll (or since what was reported already) as an unrecovered
        gap: at each failed retry and when the device is back, so that lots closing meanwhile on the
        other sources' time are flagged even if the device never returns."""
        if self._last_poll is None:
            return
        start = max(self._last_poll, self._gap_to)
        if now <= start:
            return
        if self._gap_to < self._last_poll:  # a new outage
            self.gap_count += 1
            log.warning(
                "modbus source %s: no polls since %.1f s (a gap: nothing to read back)", self.source, now - start
            )
        self._gap_to = now
        self.wiring.gap(Gap(start, now, recovered=False, samples=0))


def _single(p: Point) -> Read:
    lo = min(p.address, p.time_address if p.time_address is not None else p.address)
    hi = max(p.address + p.registers, (p.time_address or 0) + 2 if p.time_address is not None else 0)
    return make_read(p.table, lo, hi - lo, (p,))


def _value(p: Point, read: Read, answer: list[int]) -> float | str:
    regs = slice_of(read, answer, p.address, p.registers)
    if p.table in BIT_TABLES or p.dtype == "bool":
        return float(regs[0] & 1) if p.table in BIT_TABLES else float(bool(regs[0]))
    return decode(regs, p.dtype, p.order)


def _differs(old: object, new: float | str) -> bool:
    """A new value (NaN twice is no change: a device showing NaN does not flood the engine)."""
    if isinstance(old, float) and isinstance(new, float) and math.isnan(old) and math.isnan(new):
        return False
    return old != new


def _code(text: str) -> int:
    """The exception code back out of its text (0 when it was a decoding problem)."""
    if text.startswith("exception "):
        return int(text.split()[1]) & 0xFF
    return 0
