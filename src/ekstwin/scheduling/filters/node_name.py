"""NodeName: a pod with ``spec.nodeName`` set may only go to that node."""

from __future__ import annotations

import numpy as np

from ekstwin.scheduling import framework

NAME = "NodeName"
REASON = "node(s) didn't match the requested node name"
FAILED = framework.Status(framework.Code.UNSCHEDULABLE_AND_UNRESOLVABLE, (REASON,), NAME)


def filter(state: framework.CycleState, candidates: framework.BoolArray) -> framework.FilterResult:
    """Fail every node but ``spec.nodeName`` (skip when the pod names no node)."""
    wanted = state.pod.node_name
    if wanted is None:
        return None
    snap = state.snapshot
    mask = np.zeros(len(snap), dtype=np.bool_)
    if snap.has_node(wanted):
        mask[snap.index(wanted)] = True
    return framework.status_ids(len(snap), mask), (FAILED,)
