"""RealtimeDriver: the SimDriver's schedule paced against a wall clock, for ``ekstwin serve``.

It is a SimDriver (same kernel, work queues, same-instant FIFO and retry rules) whose time is moved by
someone pumping it instead of by ``run_until(horizon)``: ``advance_to_wall()`` runs every entry due up
to the virtual time that matches the wall clock, ``virtual = start + (wall - wall0) × speed``, and leaves
the virtual clock there. Between pumps the virtual clock stands still, so an API write is stamped and
reconciled at the time of the last pump; ``wake()`` runs the work such a write enqueued without waiting
for the next pump. ``speed=None`` ("max") ignores the wall clock and runs whatever is scheduled, in
slices, so a server sharing the thread still answers requests.

Virtual time never runs ahead of the wall mapping; when the work due takes longer than the wall time it
covers, the driver falls behind, logs how far (rate-limited) and carries on: serving has no strict mode.
"""

from __future__ import annotations

import logging
import math

from ekstwin.sim import clock as clock_mod
from ekstwin.sim import sim_driver
from ekstwin.store import store as store_mod

log = logging.getLogger(__name__)

DEFAULT_MAX_STEPS_PER_PUMP = 20_000
"""In max mode, a pump stops after this many kernel entries (periodic requeues never run dry)."""
DEFAULT_SLICE_S = 0.05
"""In max mode, a pump also stops after this much wall time, so requests are not starved."""
DEFAULT_BEHIND_WARN_S = 1.0
"""Wall seconds of lateness before the driver says it is behind (a pump interval of lag is normal)."""
BEHIND_LOG_EVERY_S = 10.0
"""At most one "behind" line per this many wall seconds, so an overloaded twin does not flood the log."""


class RealtimeDriver(sim_driver.SimDriver):
    """A ``driver.Driver`` whose virtual clock follows ``wall`` scaled by ``speed`` (None: as fast as possible)."""

    def __init__(self, store: store_mod.Store, clock: clock_mod.SimClock, *, speed: float | None,
                 wall: clock_mod.Clock | None = None,
                 max_steps_per_pump: int = DEFAULT_MAX_STEPS_PER_PUMP, slice_s: float = DEFAULT_SLICE_S,
                 behind_warn_s: float = DEFAULT_BEHIND_WARN_S, record_trace: bool = False,
                 horizon: float | None = None) -> None:
        """``clock`` is the virtual clock the store reads; ``wall`` gives real seconds (default: monotonic).

        ``horizon`` stops max mode from running past that virtual time (controllers requeue themselves, so
        "as fast as possible" would otherwise never stop; API writes are still served at the horizon).

        Raises:
            ValueError: ``speed`` is not positive and finite.
        """
        if speed is not None and not (speed > 0 and math.isfinite(speed)):
            raise ValueError(f"speed must be a positive number or None (max), not {speed}")
        super().__init__(store, clock, record_trace=record_trace)
        self.speed = speed
        self.wall: clock_mod.Clock = wall if wall is not None else clock_mod.WallClock()
        self.max_steps_per_pump = max_steps_per_pump
        self.slice_s = slice_s
        self.behind_warn_s = behind_warn_s
        self.lag_s = 0.0
        """Wall seconds the earliest entry of the last pump was overdue (0 when on time)."""
        self.horizon = horizon
        self._origin: tuple[float, float] | None = None  # (wall0, virtual start), set by start()
        self._last_warning = -math.inf

    def start(self) -> None:
        """Pin wall "now" to the current virtual time; later pumps measure from here.

        Call it when serving begins, not at build time, or the build's own duration counts as lag.
        """
        self._origin = (self.wall.now(), self.clock.now())

    def virtual_at(self, wall_now: float) -> float:
        """The virtual time matching wall time ``wall_now`` (never before the virtual clock)."""
        if self._origin is None:
            self.start()
        assert self._origin is not None
        wall0, start = self._origin
        speed = 1.0 if self.speed is None else self.speed
        return max(self.clock.now(), start + (wall_now - wall0) * speed)

    def advance_to_wall(self, wall_now: float | None = None) -> float:
        """Run everything due up to the virtual time of ``wall_now`` (default: the wall clock's now).

        In max mode, run scheduled entries until none are left or the pump's budget is spent.
        Returns the virtual time reached.
        """
        now = self.wall.now() if wall_now is None else wall_now
        if self.speed is None:
            self._run_slice(now)
            return self.clock.now()
        target = self.virtual_at(now)
        self._note_lag(now)
        self.kernel.run_until(target)
        return self.clock.now()

    def wake(self) -> float:
        """Run what a write just enqueued, at the current virtual time; call it after each API write.

        Time itself only moves in pumps (``advance_to_wall``), so a burst of writes cannot race the clock.
        """
        self.kernel.run_until(self.clock.now())
        return self.clock.now()

    def idle(self) -> bool:
        """True when nothing at all is scheduled (a max-mode pump loop can then sleep)."""
        return self.kernel.peek() == math.inf

    # ---- internals ---------------------------------------------------------------------------------

    def _run_slice(self, started: float) -> None:
        # Check the wall clock between entries, not in them: a single reconcile is never interrupted.
        for _ in range(self.max_steps_per_pump):
            if self.horizon is not None and self.kernel.peek() > self.horizon:
                return
            if not self.kernel.step():
                return
            if self.wall.now() - started >= self.slice_s:
                return

    def _note_lag(self, wall_now: float) -> None:
        assert self._origin is not None and self.speed is not None
        due = self.kernel.peek()
        if due == math.inf or due > self.virtual_at(wall_now):
            self.lag_s = 0.0
            return
        wall0, start = self._origin
        self.lag_s = max(0.0, wall_now - (wall0 + (due - start) / self.speed))
        if self.lag_s >= self.behind_warn_s and wall_now - self._last_warning >= BEHIND_LOG_EVERY_S:
            self._last_warning = wall_now
            log.warning("realtime driver is %.1fs behind the wall clock (%.0fs of virtual time at speed %g); "
                        "continuing", self.lag_s, self.lag_s * self.speed, self.speed)
