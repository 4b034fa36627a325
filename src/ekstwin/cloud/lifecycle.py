"""Timed instance transitions, declared as data and planned the moment an instance launches or terminates.

A launched instance is ``pending`` and then passes three milestones, each a sampled delay after the one
before it: ``running`` (EC2 state), ``registered`` (the kubelet has created the Node object) and
``ready`` (the Node's Ready condition, CNI up). A terminated instance is ``shutting-down`` and then
``terminated``. All of a chain's times are sampled together, in step order, from the caller's RNG, so the
numbers a seed produces do not depend on when anybody looks.

``Lifecycle`` only keeps the timetable: ``due(now)`` pops what is due (in time order, ties in
scheduling order) and ``next_due()`` says when to look again, so a controller can requeue for exactly
that moment. Applying a transition to an instance is the emulator's job (``EC2.due``).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ekstwin.cloud.settings import CloudSettings, Distribution, Rng

PENDING = "pending"
RUNNING = "running"
SHUTTING_DOWN = "shutting-down"
TERMINATED = "terminated"
STATES = (PENDING, RUNNING, SHUTTING_DOWN, TERMINATED)

# Milestones that are not EC2 states: the node side of an instance.
REGISTERED = "registered"
READY = "ready"


@dataclass(frozen=True, slots=True)
class Step:
    """``what`` happens a delay (drawn from ``delay(settings)``) after milestone ``after``."""

    what: str
    after: str
    delay: Callable[[CloudSettings], Distribution]


LAUNCH_STEPS = (
    Step(RUNNING, PENDING, lambda s: s.pending_to_running),
    Step(REGISTERED, RUNNING, lambda s: s.running_to_registered),
    Step(READY, REGISTERED, lambda s: s.registered_to_ready),
)
TERMINATION_STEPS = (
    Step(TERMINATED, SHUTTING_DOWN, lambda s: s.shutting_down_to_terminated),
)


@dataclass(frozen=True, slots=True)
class Transition:
    """Instance ``instance_id`` reaches milestone ``what`` at virtual time ``at`` (seconds)."""

    instance_id: str
    what: str
    at: float


def plan(steps: Iterable[Step], start: str, at: float, settings: CloudSettings,
         rng: Rng) -> dict[str, float]:
    """Times of every step of a chain that starts with milestone ``start`` at ``at``."""
    times = {start: at}
    for step in steps:
        times[step.what] = times[step.after] + step.delay(settings).sample(rng)
    del times[start]
    return times


class Lifecycle:
    """A timetable of future transitions; cancelled entries are dropped lazily."""

    __slots__ = ("_heap", "_live", "_seq")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, str, str]] = []
        # (instance id, milestone) → sequence number of the live entry; a missing key means cancelled.
        self._live: dict[tuple[str, str], int] = {}
        self._seq = 0

    def __len__(self) -> int:
        return len(self._live)

    def schedule(self, instance_id: str, times: dict[str, float]) -> None:
        """Add one transition per (milestone, time); insertion order breaks ties in time."""
        for what, at in times.items():
            self._seq += 1
            self._live[(instance_id, what)] = self._seq
            heapq.heappush(self._heap, (at, self._seq, instance_id, what))

    def cancel(self, instance_id: str, whats: Iterable[str]) -> None:
        """Forget the instance's pending transitions named in ``whats`` (e.g. boot steps on terminate)."""
        for what in whats:
            self._live.pop((instance_id, what), None)

    def scheduled(self, instance_id: str, what: str) -> bool:
        return (instance_id, what) in self._live

    def next_due(self) -> float | None:
        """Time of the earliest live transition, or None when nothing is scheduled."""
        self._drop_cancelled()
        return self._heap[0][0] if self._heap else None

    def due(self, now: float) -> list[Transition]:
        """Pop and return every live transition with ``at <= now``, earliest first."""
        out: list[Transition] = []
        while True:
            self._drop_cancelled()
            if not self._heap or self._heap[0][0] > now:
                return out
            at, _, instance_id, what = heapq.heappop(self._heap)
            del self._live[(instance_id, what)]
            out.append(Transition(instance_id, what, at))

    def _drop_cancelled(self) -> None:
        heap = self._heap
        while heap and self._live.get((heap[0][2], heap[0][3])) != heap[0][1]:
            heapq.heappop(heap)
