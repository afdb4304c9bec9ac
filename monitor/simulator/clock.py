"""Plant time: wall time scaled by the simulation speed, started on demand."""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class PlantClock:
    """Plant epoch seconds = t0 + speed × (wall seconds since start()). Before start() time stands."""

    def __init__(self, t0: float, speed: float, wall: Callable[[], float] = time.monotonic) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self.t0, self.speed, self._wall = t0, speed, wall
        self._wall0: float | None = None
        # the plant time of the last step published and how far the clock may lead it: a machine too
        # busy to keep up slows plant time down instead of leaving the devices' stamps behind it (a
        # Modbus value is stamped on our clock when read, a bag with the step's time: they must agree)
        self.published: float | None = None
        self.lead_s = math.inf

    def start(self) -> None:
        if self._wall0 is None:
            self._wall0 = self._wall()

    @property
    def started(self) -> bool:
        return self._wall0 is not None

    def now(self) -> float:
        if self._wall0 is None:
            return self.t0
        t = self.t0 + (self._wall() - self._wall0) * self.speed
        return t if self.published is None else min(t, self.published + self.lead_s)

    def wall_delay(self, plant_seconds: float) -> float:
        return plant_seconds / self.speed
