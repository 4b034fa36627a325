"""Scheduling framework values: status codes, per-cycle state and the plugin signatures.

Called by every filter and score plugin of this package and by ``cycle.schedule_one``. Pure values:
nothing here reads a clock, a store or global randomness.

Plugins work on whole node columns at once (numpy), not one node at a time, because a twin schedules
tens of thousands of pods against a thousand nodes:

- a **filter** gets the ``CycleState`` and the mask of nodes still in play and returns ``None`` (skip:
  every node passes) or ``(status_ids, statuses)``: ``status_ids[i] == 0`` means node ``i`` passes and
  ``k > 0`` means it fails with ``statuses[k - 1]``. Statuses are shared values, so thousands of failing
  nodes cost one array, not thousands of objects.
- a **score** gets the ``CycleState`` and the indices of the feasible nodes and returns ``None`` (skip:
  adds 0 everywhere) or their *normalized* scores (0–100, int64), in the same order.

``NodeInfo`` and ``Snapshot`` live in ``snapshot.py`` (kept apart for size) and are re-exported here.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from ekstwin.model import pod as pod_model
from ekstwin.scheduling.snapshot import NodeInfo, Snapshot

__all__ = [
    "MAX_NODE_SCORE",
    "BoolArray",
    "Code",
    "CycleState",
    "FilterFn",
    "FilterResult",
    "IntArray",
    "NodeInfo",
    "ScoreFn",
    "Snapshot",
    "Status",
    "TieBreaker",
]

MAX_NODE_SCORE = 100  # kube-scheduler framework.MaxNodeScore: every normalized score is in [0, 100]

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

class Code(enum.Enum):
    """Outcome of running a plugin, with what the caller does next (kube-scheduler ``framework.Code``)."""

    SUCCESS = "Success"
    """The node passes; scheduling goes on to the next plugin."""
    UNSCHEDULABLE = "Unschedulable"
    """The node fails now, but preemption or a cluster change (pods leaving) might make it fit."""
    UNSCHEDULABLE_AND_UNRESOLVABLE = "UnschedulableAndUnresolvable"
    """The node fails and preempting pods on it cannot help (labels, taints, node name)."""
    SKIP = "Skip"
    """The plugin has nothing to say about this pod; the caller treats it as a pass (or a 0 score)."""
    ERROR = "Error"
    """A bug or bad input; the cycle is aborted and the pod retried with backoff."""


@dataclass(frozen=True, slots=True)
class Status:
    """A plugin's verdict on one node: a code, the human reasons, and which plugin said it."""

    code: Code
    reasons: tuple[str, ...] = ()
    plugin: str = ""

    @property
    def is_success(self) -> bool:
        """True for Success and Skip (both let the node through)."""
        return self.code in (Code.SUCCESS, Code.SKIP)

    @property
    def is_rejected(self) -> bool:
        """True for the two Unschedulable codes."""
        return self.code in (Code.UNSCHEDULABLE, Code.UNSCHEDULABLE_AND_UNRESOLVABLE)

    def message(self) -> str:
        """The reasons joined as kube-scheduler's ``Status.Message()`` does."""
        return ", ".join(self.reasons)


SUCCESS = Status(Code.SUCCESS)


class CycleState:
    """What one scheduling attempt of one pod hands to every plugin: the pod, the snapshot, and options.

    Plugins keep no state of their own. Data that only depends on node labels/taints and the pod's
    constraints (PreFilter-style results) is cached on the snapshot (``Snapshot.static``), and selector
    counts are maintained incrementally by the snapshot, so nothing needs a per-cycle scratch space.
    """

    __slots__ = ("pod", "redact_taint_values", "snapshot")

    def __init__(self, pod: pod_model.PodInfo, snapshot: Snapshot, *, redact_taint_values: bool = False) -> None:
        self.pod = pod
        self.snapshot = snapshot
        self.redact_taint_values = redact_taint_values


FilterResult = tuple[npt.NDArray[np.int64], tuple[Status, ...]] | None
FilterFn = Callable[[CycleState, BoolArray], FilterResult]
ScoreFn = Callable[[CycleState, IntArray], IntArray | None]


class TieBreaker(Protocol):
    """The part of ``random.Random`` the cycle uses to break score ties (pass a seeded stream)."""

    def randrange(self, start: int, stop: int | None = ..., step: int = ...) -> int:
        """Uniform integer in ``[0, start)`` when called with one argument."""
        ...


def status_ids(n: int, passes: BoolArray) -> npt.NDArray[np.int64]:
    """Status ids for a single-status filter: 0 where the node ``passes``, 1 (its one status) elsewhere."""
    out = np.zeros(n, dtype=np.int64)
    out[~passes] = 1
    return out


def normalize_by_max(raw: IntArray, reverse: bool = False) -> IntArray:
    """kube-scheduler ``helper.DefaultNormalizeScore``: scale so the largest raw score is 100.

    With ``reverse`` the result is ``100 − scaled`` (fewer is better); all-zero input gives all 100
    when reversed and stays 0 otherwise.
    """
    top = int(raw.max()) if len(raw) else 0
    if top == 0:
        return np.full(len(raw), MAX_NODE_SCORE, dtype=np.int64) if reverse else raw
    scaled = MAX_NODE_SCORE * raw // top
    return MAX_NODE_SCORE - scaled if reverse else scaled
