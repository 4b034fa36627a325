"""Shared arithmetic of the NodeResourcesFit strategies (kube-scheduler ``resource_allocation.go``).

Called by ``least_allocated`` and ``most_allocated``. Both use the *non-zero* requests (a container
without a cpu/memory request counts as 100m / 200Mi) of the node's pods plus the incoming pod, with
cpu and memory weighted 1:1 (the default ``NodeResourcesFitArgs``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ekstwin.scheduling import framework

RESOURCE_WEIGHTS = (1, 1)  # cpu, memory

PerResource = Callable[[framework.IntArray, framework.IntArray], framework.IntArray]


def weighted_score(state: framework.CycleState, feasible: framework.IntArray,
                   per_resource: PerResource) -> framework.IntArray:
    """Weighted average (integer division) of ``per_resource(requested, allocatable)`` over cpu and
    memory; a resource with zero allocatable is left out of the average."""
    snap, pod = state.snapshot, state.pod
    columns = ((snap.alloc_cpu[feasible], snap.nonzero_cpu[feasible] + pod.nonzero_cpu_m),
               (snap.alloc_memory[feasible], snap.nonzero_memory[feasible] + pod.nonzero_memory_b))
    total = np.zeros(len(feasible), dtype=np.int64)
    weights = np.zeros(len(feasible), dtype=np.int64)
    for weight, (alloc, requested) in zip(RESOURCE_WEIGHTS, columns, strict=True):
        valid = alloc > 0
        total += np.where(valid, per_resource(requested, np.where(valid, alloc, 1)), 0) * weight
        weights += valid * weight
    return np.where(weights > 0, total // np.maximum(weights, 1), 0)
