"""TaintToleration score: fewer untolerated ``PreferNoSchedule`` taints is better.

Raw score = number of PreferNoSchedule taints not tolerated by the pod's tolerations whose effect is
empty or PreferNoSchedule; normalized reversed against the maximum (0 taints → 100). This is how
Cluster Autoscaler's ``DeletionCandidateOfClusterAutoscaler`` soft taint steers pods away.
"""

from __future__ import annotations

import numpy as np

from ekstwin.model import taints
from ekstwin.scheduling import framework

NAME = "TaintToleration"
_PREFER = frozenset((taints.PREFER_NO_SCHEDULE,))


def _counts_per_group(snap: framework.Snapshot, tolerations: tuple[taints.Toleration, ...]) -> framework.IntArray:
    usable = tuple(t for t in tolerations if t.effect in ("", taints.PREFER_NO_SCHEDULE))
    return np.fromiter((sum(1 for t in ts if t.effect == taints.PREFER_NO_SCHEDULE
                            and not any(tol.tolerates(t) for tol in usable)) for ts in snap.taint_sets),
                       dtype=np.int64, count=len(snap.taint_sets))


def score(state: framework.CycleState, feasible: framework.IntArray) -> framework.IntArray | None:
    """0–100 per feasible node; 100 for nodes with the fewest untolerated PreferNoSchedule taints."""
    snap, tolerations = state.snapshot, state.pod.tolerations
    per_group = snap.static((NAME, "prefer", tolerations), lambda: _counts_per_group(snap, tolerations))
    return framework.normalize_by_max(per_group[snap.taint_group[feasible]], reverse=True)
