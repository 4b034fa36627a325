"""NodeResourcesBalancedAllocation: prefer nodes whose cpu and memory fractions stay close.

Uses *real* requests (not the non-zero defaults): ``f_r = min(1, (requested + pod) / allocatable)``;
with two resources ``std = |f_cpu − f_mem| / 2`` and the score is ``int((1 − std) × 100)`` in float64 as
in Go. BestEffort pods (no cpu or memory request) are skipped so they do not all pile onto one node
(kubernetes#129138).
"""

from __future__ import annotations

import numpy as np

from ekstwin.scheduling import framework
from ekstwin.units import resources as res

NAME = "NodeResourcesBalancedAllocation"


def score(state: framework.CycleState, feasible: framework.IntArray) -> framework.IntArray | None:
    """0–100 per feasible node; 100 when cpu and memory would be equally used."""
    snap, pod = state.snapshot, state.pod
    if pod.best_effort:
        return None
    fractions = []
    valid = []
    for alloc, requested in ((snap.alloc_cpu[feasible], snap.req_cpu[feasible] + pod.requests[res.CPU]),
                             (snap.alloc_memory[feasible], snap.req_memory[feasible] + pod.requests[res.MEMORY])):
        ok = alloc > 0
        fraction = np.minimum(requested.astype(np.float64) / np.where(ok, alloc, 1).astype(np.float64), 1.0)
        fractions.append(fraction)
        valid.append(ok)
    # only when both resources have allocatable is there a deviation; one resource alone scores 100
    both = valid[0] & valid[1]
    std = np.where(both, np.abs((fractions[0] - fractions[1]) / 2), 0.0)
    return ((1 - std) * float(framework.MAX_NODE_SCORE)).astype(np.int64)
