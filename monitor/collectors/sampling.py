"""Per-tag sampling: how often the server samples a node and the deadband it reports changes by.

Kept free of asyncua at import time: the config loader uses it, and `report` or `replay` must
not pay for the OPC-UA stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DEADBAND_TYPES = ("none", "absolute", "percent")


@dataclass(frozen=True, kw_only=True)
class TagSampling:
    interval_ms: float = 0.0
    deadband: float = 0.0
    deadband_type: str = "none"  # "absolute" (engineering units) or "percent" (of the node's EURange)

    def data_filter(self) -> Any:
        """The OPC-UA DataChangeFilter for a monitored item of this tag."""
        from asyncua import ua  # noqa: PLC0415 - see the module docstring

        kind = {"none": ua.DeadbandType.None_, "absolute": ua.DeadbandType.Absolute, "percent": ua.DeadbandType.Percent}
        return ua.DataChangeFilter(
            Trigger=ua.DataChangeTrigger.StatusValueTimestamp,
            DeadbandType=kind[self.deadband_type].value,
            DeadbandValue=self.deadband,
        )
