"""TaintToleration: every NoSchedule/NoExecute taint on the node must be tolerated by the pod.

PreferNoSchedule never filters (it only lowers the score, see ``scores.taint_toleration``). The reason
names the first untolerated taint, ``node(s) had untolerated taint {key: value}``, as kube-scheduler
1.29–1.34 print it; patch releases from late 2025 on (kubernetes#134740) hide key and value and say
``node(s) had untolerated taint(s)`` instead, chosen by ``Profile.redact_taint_values``.
"""

from __future__ import annotations

import numpy as np

from ekstwin.model import taints
from ekstwin.scheduling import framework

NAME = "TaintToleration"
REASON_TEMPLATE = "node(s) had untolerated taint {{{key}: {value}}}"
REASON_REDACTED = "node(s) had untolerated taint(s)"


def reason(taint: taints.Taint, redact: bool = False) -> str:
    """The filter reason for an untolerated ``taint``."""
    return REASON_REDACTED if redact else REASON_TEMPLATE.format(key=taint.key, value=taint.value)


def filter(state: framework.CycleState, candidates: framework.BoolArray) -> framework.FilterResult:
    """Fail nodes with an untolerated NoSchedule/NoExecute taint (status names the first one)."""
    snap, pod, redact = state.snapshot, state.pod, state.redact_taint_values

    def build() -> framework.FilterResult:
        first = snap.first_untolerated(pod.tolerations)
        if all(t is None for t in first):
            return None
        statuses: dict[str, framework.Status] = {}
        group_ids = np.zeros(len(first), dtype=np.int64)
        for g, taint in enumerate(first):
            if taint is not None:
                text = reason(taint, redact)
                if text not in statuses:
                    statuses[text] = framework.Status(framework.Code.UNSCHEDULABLE_AND_UNRESOLVABLE, (text,), NAME)
                group_ids[g] = list(statuses).index(text) + 1
        return group_ids[snap.taint_group], tuple(statuses.values())

    # depends only on the tolerations and the node taints, so it is cached for the snapshot's life
    return snap.static((NAME, pod.tolerations, redact), build)
