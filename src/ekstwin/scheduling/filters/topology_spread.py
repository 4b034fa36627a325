"""PodTopologySpread (filter): ``whenUnsatisfiable: DoNotSchedule`` constraints.

For each hard constraint, pods are counted per domain over *eligible* nodes: nodes carrying every hard
constraint's topology key and, per the constraint's policies, matching the pod's node affinity
(``nodeAffinityPolicy: Honor``, the default) and tolerating its NoSchedule/NoExecute taints
(``nodeTaintsPolicy: Honor``; the default ``Ignore`` keeps tainted nodes — e.g. a failed zone's
NotReady nodes — as domains). Only pods in the pod's namespace matching the selector count, and
terminating pods do not. ``globalMin`` is the smallest domain count, or 0 when there are fewer domains
than ``minDomains``. A node passes when ``count(its domain) + selfMatch − globalMin ≤ maxSkew``; a node
without the key fails as unresolvable. Constraints are AND-ed and checked in order.
"""

from __future__ import annotations

import numpy as np

from ekstwin.model import pod as pod_model
from ekstwin.scheduling import framework, topology

NAME = "PodTopologySpread"
REASON_CONSTRAINTS = "node(s) didn't match pod topology spread constraints"
REASON_MISSING_LABEL = "node(s) didn't match pod topology spread constraints (missing required label)"
MISSING_LABEL = framework.Status(framework.Code.UNSCHEDULABLE_AND_UNRESOLVABLE, (REASON_MISSING_LABEL,), NAME)
SKEW = framework.Status(framework.Code.UNSCHEDULABLE, (REASON_CONSTRAINTS,), NAME)


def _skew_ok(state: framework.CycleState, c: pod_model.SpreadConstraint, eligible: framework.BoolArray,
             codes: framework.IntArray, size: int) -> framework.BoolArray:
    snap, pod = state.snapshot, state.pod
    include = eligible & topology.inclusion_mask(state, c)
    per_node = topology.spread_counts(snap, pod.namespace, c.selector)
    totals = topology.domain_totals(codes, size, per_node, include)
    present = topology.domains_present(codes, size, include)
    n_domains = int(present.sum())
    global_min = int(totals[present].min()) if n_domains >= max(c.min_domains, 1) else 0
    self_match = 1 if c.selector.matches(pod.labels) else 0
    # a node whose domain has no eligible node reads count 0, like a missing map entry in Go
    node_count = np.where(codes >= 0, totals[codes], 0)
    return node_count + self_match - global_min <= c.max_skew


def filter(state: framework.CycleState, candidates: framework.BoolArray) -> framework.FilterResult:
    """Fail nodes missing a constraint's key (unresolvable) or whose domain would exceed maxSkew."""
    hard = tuple(c for c in state.pod.spread if c.hard)
    if not hard:
        return None
    snap = state.snapshot
    eligible = topology.has_keys(snap, tuple(c.topology_key for c in hard))
    ids = np.zeros(len(snap), dtype=np.int64)
    for c in hard:
        codes, vocab = snap.codes(c.topology_key)
        undecided = ids == 0
        ids[undecided & (codes < 0)] = 1
        ids[undecided & (codes >= 0) & ~_skew_ok(state, c, eligible, codes, len(vocab))] = 2
    return ids, (MISSING_LABEL, SKEW)
