"""The server's clock as the collector sees it: its offset from ours, the alignment, the ticks.

CurrentTime is read (offset against the midpoint of the read's round trip) on the first session
to decide the alignment, and every `clock_check_s` after to show the offset; the subscribed
CurrentTime becomes `@server-clock` samples that move the core's time when no tag changes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from asyncua import Client, ua

from monitor.collectors.settings import OpcuaSettings
from monitor.collectors.timestamps import OffsetReading, TimestampJudge, decide_alignment
from monitor.core.samples import SERVER_CLOCK, Sample

log = logging.getLogger(__name__)


def safe_epoch(dt: datetime | None) -> float | None:
    """Epoch seconds; None for a missing or unrepresentable time (1601 comes as datetime.min)."""
    if dt is None:
        return None
    try:
        return dt.timestamp() if dt.tzinfo else dt.replace(tzinfo=UTC).timestamp()
    except (OverflowError, OSError, ValueError):
        return None


class ServerClock:
    """One server's clock against ours (`clock`); `judge.offset` is what gets subtracted."""

    def __init__(self, settings: OpcuaSettings, source: str, clock: Callable[[], float], judge: TimestampJudge) -> None:
        self.settings = settings
        self.source = source
        self._clock = clock
        self.judge = judge
        self.aligned: float | None = None  # decided on the first session (or restored from a checkpoint)
        self.offset: float | None = None  # the server's clock minus ours, last measured
        self._server_now: float | None = None  # the server's clock, aligned to ours, at its last reading
        self._best_rtt = float("inf")

    def now(self) -> float:
        """The server's clock aligned to ours, as last read (our clock before any reading)."""
        return self._server_now if self._server_now is not None else self._clock()

    async def _read_offset(self, client: Client) -> OffsetReading | None:
        node = client.get_node(ua.NodeId(ua.Int32(ua.ObjectIds.Server_ServerStatus_CurrentTime)))
        sent = self._clock()
        try:
            value = await node.read_value()
        except (ua.UaError, TimeoutError, OSError) as exc:
            log.warning("%s: cannot read the server's CurrentTime (%s): its clock offset is unknown", self.source, exc)
            return None
        back = self._clock()
        server = safe_epoch(value) if isinstance(value, datetime) else None
        if server is None:
            return None
        return OffsetReading(server - 0.5 * (sent + back), back - sent)

    async def align(self, client: Client) -> None:
        """On the first session: measure the server clock twice and decide what to align (kept for life)."""
        first = await self._read_offset(client)
        if first is None:
            return
        self._record_offset(first)
        if self.aligned is not None:
            self.judge.offset = self.aligned
            return
        await asyncio.sleep(0.2)
        second = await self._read_offset(client) or first
        self._record_offset(second)
        self.aligned, why = decide_alignment(first, second, self.settings.clock)
        self.judge.offset = self.aligned
        log.info("%s: %s", self.source, why)

    async def read(self, client: Client) -> None:
        reading = await self._read_offset(client)
        if reading is not None:
            self._record_offset(reading)

    def _record_offset(self, r: OffsetReading) -> None:
        # a read that waited (a busy server, a busy us) says little about the clock: only reads whose
        # round trip is near the best seen count
        self._best_rtt = min(self._best_rtt, r.round_trip)
        if r.round_trip > 4 * self._best_rtt + 0.5:
            return
        warn = self.settings.clock.warn_s
        if (self.offset is None or abs(self.offset) <= warn) and abs(r.offset) > warn:
            log.warning(
                "%s: the server's clock is %+.1f s off ours (warning above %g s); hint: set the PLC's time "
                "source (NTP); timestamps are %s",
                self.source,
                r.offset,
                warn,
                f"aligned by {self.judge.offset:+.1f} s" if self.judge.offset else "taken as they are",
            )
        self.offset = r.offset
        self._server_now = self._clock() + r.offset - self.judge.offset  # plausibility checks before the first tick

    def tick(self, dv: ua.DataValue) -> Sample | None:
        """CurrentTime from the subscription: everything stamped up to it has been delivered."""
        raw = dv.Value.Value if dv.Value is not None else None
        server = safe_epoch(raw) if isinstance(raw, datetime) else None
        if server is None:
            return None
        now = server - self.judge.offset
        self._server_now = now
        return Sample(SERVER_CLOCK, now - self.settings.clock_margin_s, None)
