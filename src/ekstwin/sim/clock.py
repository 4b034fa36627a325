"""Clocks: where "now" comes from.

Everything outside ``sim/`` receives ``now`` as a number or a ``Clock``; this is the only module allowed
to read the real clock (ruff TID251 enforces it). ``SimClock`` is moved only by the SimDriver's kernel;
``WallClock`` maps real elapsed time onto virtual seconds for the realtime driver and ``ekstwin serve``.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Seconds since scenario start. Never goes backwards."""

    def now(self) -> float: ...


class SimClock:
    """A virtual clock that only moves when told to."""

    def __init__(self, start: float = 0.0) -> None:
        self._t = start

    def now(self) -> float:
        return self._t

    def set(self, t: float) -> None:
        """Jump to ``t``.

        Raises:
            ValueError: ``t`` is earlier than now (virtual time never runs backwards).
        """
        if t < self._t:
            raise ValueError(f"cannot move the clock back from {self._t} to {t}")
        self._t = t

    def advance(self, dt: float) -> None:
        """Move forward by ``dt`` seconds (``dt >= 0``)."""
        self.set(self._t + dt)


class WallClock:
    """Virtual seconds that pass ``speed`` times faster than real ones, from ``start``."""

    def __init__(self, speed: float = 1.0, start: float = 0.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._start = start
        self._origin = time.monotonic()  # monotonic: immune to NTP steps and DST

    def now(self) -> float:
        return self._start + (time.monotonic() - self._origin) * self.speed
