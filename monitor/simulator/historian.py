"""The simulator's own historian: every value it publishes, readable with OPC-UA HistoryRead.

Real PLC gateways and OPC-UA servers keep a short history; the monitor reads it back to fill
gaps after an outage, a server restart or its own restart. This history lives in the
PlantServer, not in the asyncua server, so it survives the `server-restart` fault, and it is
keyed by tag name, so it is unaffected by the namespace index changing on restart.
"""

from __future__ import annotations

import bisect
from collections import deque
from datetime import datetime, timedelta

from asyncua import ua
from asyncua.server.history import HistoryStorageInterface

MAX_RESPONSE = 10_000


class PlantHistory(HistoryStorageInterface):
    """Raw values per tag, kept in source-time order, the last `keep` values of each tag."""

    def __init__(self, keep: int = 20_000) -> None:
        super().__init__(MAX_RESPONSE)
        self.keep = keep
        self._ts: dict[str, deque[float]] = {}
        self._dv: dict[str, deque[ua.DataValue]] = {}

    def record(self, tag: str, dv: ua.DataValue) -> None:
        """Store one written value (called for every write, server up or down)."""
        ts = dv.SourceTimestamp.timestamp() if dv.SourceTimestamp else 0.0
        times = self._ts.setdefault(tag, deque())
        values = self._dv.setdefault(tag, deque())
        if not times or ts >= times[-1]:
            times.append(ts)
            values.append(dv)
        else:  # a late (out-of-order) value: history is kept in source-time order
            i = bisect.bisect_right(times, ts)
            times.insert(i, ts)
            values.insert(i, dv)
        if len(times) > self.keep:
            times.popleft()
            values.popleft()

    def __len__(self) -> int:
        return sum(len(v) for v in self._ts.values())

    # -- HistoryStorageInterface --------------------------------------------------------
    async def init(self) -> None:
        return None

    async def new_historized_node(self, node_id: ua.NodeId, period: timedelta | None, count: int = 0) -> None:
        return None

    async def save_node_value(self, node_id: ua.NodeId, datavalue: ua.DataValue) -> None:
        return None  # values are recorded by the plant server as it writes them

    async def read_node_history(
        self, node_id: ua.NodeId, start: datetime | None, end: datetime | None, nb_values: int
    ) -> tuple[list[ua.DataValue], datetime | None]:
        tag = str(node_id.Identifier)
        times = list(self._ts.get(tag, ()))
        values = list(self._dv.get(tag, ()))
        epoch = ua.get_win_epoch()
        t0 = start.timestamp() if start and start != epoch else float("-inf")
        t1 = end.timestamp() if end and end != epoch else float("inf")
        i, j = bisect.bisect_left(times, t0), bisect.bisect_right(times, t1)
        found = values[i:j]
        if nb_values and len(found) > nb_values:
            found = found[:nb_values]
        cont = None
        if len(found) > MAX_RESPONSE:
            cont = found[MAX_RESPONSE].SourceTimestamp
            found = found[:MAX_RESPONSE]
        return found, cont

    async def new_historized_event(  # type: ignore[override]
        self, source_id: ua.NodeId, evtypes: list[ua.NodeId], period: timedelta | None, count: int = 0
    ) -> None:
        return None

    async def save_event(self, event: object) -> None:
        return None

    async def read_event_history(  # type: ignore[override]
        self, source_id: ua.NodeId, start: datetime | None, end: datetime | None, nb_values: int, evfilter: object
    ) -> tuple[list[object], datetime | None]:
        return [], None

    async def stop(self) -> None:
        return None
