"""NodeUnschedulable: cordoned nodes (``spec.unschedulable``) take only pods tolerating the cordon taint."""

from __future__ import annotations

from ekstwin.model import taints
from ekstwin.scheduling import framework

NAME = "NodeUnschedulable"
REASON = "node(s) were unschedulable"
# kube-scheduler checks the pod's tolerations against this taint, even though cordon does not add it to
# the node (the node lifecycle controller does); DaemonSet pods carry the toleration.
UNSCHEDULABLE_TAINT = taints.Taint(taints.UNSCHEDULABLE, "", taints.NO_SCHEDULE)
FAILED = framework.Status(framework.Code.UNSCHEDULABLE_AND_UNRESOLVABLE, (REASON,), NAME)


def filter(state: framework.CycleState, candidates: framework.BoolArray) -> framework.FilterResult:
    """Fail unschedulable nodes unless the pod tolerates ``node.kubernetes.io/unschedulable:NoSchedule``."""
    snap = state.snapshot
    if not snap.unschedulable.any() or any(t.tolerates(UNSCHEDULABLE_TAINT) for t in state.pod.tolerations):
        return None
    return framework.status_ids(len(snap), ~snap.unschedulable), (FAILED,)
