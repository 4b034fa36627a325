"""The discrete-event kernel: a heap of callbacks ordered by (time, priority, sequence).

``SimDriver`` owns one kernel and puts reconciles and timeline actions on it. Lower priority numbers
run first at equal times; at equal (time, priority) entries run in the order they were scheduled (the
sequence number), which is what makes runs reproducible. Cancelling only flags the handle; flagged
entries are skipped when they reach the top, so a cancel is O(1).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass

from ekstwin.sim import clock as clock_mod


@dataclass(eq=False, slots=True)
class Handle:
    """A scheduled callback; pass it to ``Kernel.cancel``."""

    time: float
    priority: int
    seq: int
    fn: Callable[[], None]
    cancelled: bool = False
    done: bool = False


class Kernel:
    """Runs callbacks in virtual time, setting ``clock`` to each one's time before calling it."""

    def __init__(self, clock: clock_mod.SimClock) -> None:
        self.clock = clock
        self._heap: list[tuple[float, int, int, Handle]] = []
        self._seq = 0
        self._live = 0

    def __len__(self) -> int:
        """Number of scheduled, uncancelled, not yet run callbacks."""
        return self._live

    def schedule_at(self, t: float, fn: Callable[[], None], priority: int = 0) -> Handle:
        """Run ``fn`` at virtual time ``t``.

        Raises:
            ValueError: ``t`` is in the past or not finite.
        """
        if not t >= self.clock.now() or math.isinf(t):  # `not >=` also rejects NaN
            raise ValueError(f"cannot schedule at {t}: now is {self.clock.now()}")
        self._seq += 1
        handle = Handle(t, priority, self._seq, fn)
        heapq.heappush(self._heap, (t, priority, self._seq, handle))
        self._live += 1
        return handle

    def schedule_after(self, delay: float, fn: Callable[[], None], priority: int = 0) -> Handle:
        """Run ``fn`` ``delay`` seconds from now."""
        return self.schedule_at(self.clock.now() + delay, fn, priority)

    def cancel(self, handle: Handle) -> None:
        """Make sure ``handle`` never runs (no effect if it already ran or was cancelled)."""
        if not handle.cancelled and not handle.done:
            handle.cancelled = True
            self._live -= 1

    def peek(self) -> float:
        """Time of the next live callback, or +inf when there is none."""
        heap = self._heap
        while heap and heap[0][3].cancelled:
            heapq.heappop(heap)
        return heap[0][0] if heap else math.inf

    def step(self) -> bool:
        """Run the next live callback; False when nothing is scheduled."""
        if self.peek() == math.inf:
            return False
        t, _, _, handle = heapq.heappop(self._heap)
        handle.done = True
        self._live -= 1
        self.clock.set(t)
        handle.fn()
        return True

    def run_until(self, t: float) -> None:
        """Run every callback due at or before ``t``, then leave the clock at ``t`` (if finite)."""
        while self.peek() <= t:
            self.step()
        if math.isfinite(t) and t > self.clock.now():
            self.clock.set(t)
