"""Topology-domain arithmetic shared by PodTopologySpread and InterPodAffinity (filters and scores).

Called only by plugins of this package. A *domain* is one value of a topology label (a zone, a
hostname); per-node pod counts come from ``Snapshot.match_counts`` and are summed per domain with
``np.bincount`` over the label's value codes, so no plugin loops over pods or nodes in Python.
"""

from __future__ import annotations

import numpy as np

from ekstwin.model import pod as pod_model
from ekstwin.model import requirements as req
from ekstwin.model import selectors
from ekstwin.scheduling import framework

HOSTNAME = req.HOSTNAME
ZONE = req.ZONE
HONOR = "Honor"
# Owners whose pods get the system default spreading (kube-scheduler DefaultSelector looks up Services,
# ReplicationControllers, ReplicaSets and StatefulSets selecting the pod).
DEFAULT_SPREAD_OWNERS = frozenset(("ReplicaSet", "StatefulSet", "ReplicationController"))
# PodTopologySpread's built-in defaults (defaultingType: System), both soft.
SYSTEM_DEFAULT_CONSTRAINTS = ((3, HOSTNAME), (5, ZONE))


def domain_totals(codes: framework.IntArray, size: int, per_node: framework.IntArray,
                  include: framework.BoolArray) -> framework.IntArray:
    """Σ ``per_node`` over the ``include``d nodes, grouped by domain code (nodes without the label skipped)."""
    sel = include & (codes >= 0)
    return np.bincount(codes[sel], weights=per_node[sel], minlength=size).astype(np.int64)


def domains_present(codes: framework.IntArray, size: int, include: framework.BoolArray) -> framework.BoolArray:
    """Which domain codes have at least one ``include``d node."""
    sel = include & (codes >= 0)
    return np.bincount(codes[sel], minlength=size) > 0


def is_empty_selector(sel: selectors.LabelSelector) -> bool:
    """kube-scheduler's ``selector.Empty()``: no terms at all (it counts no pods for spreading)."""
    return not sel.match_labels and not sel.expressions and not sel.matches_nothing


def spread_counts(snapshot: framework.Snapshot, namespace: str,
                  selector: selectors.LabelSelector) -> framework.IntArray:
    """Per node: pods in ``namespace`` matching ``selector``, skipping terminating pods (countPodsMatchSelector)."""
    if is_empty_selector(selector) or selector.matches_nothing:
        return snapshot.static(("zeros",), lambda: np.zeros(len(snapshot), dtype=np.int64))

    def matches(p: pod_model.PodInfo) -> bool:
        return not p.deleting and p.namespace == namespace and selector.matches(p.labels)

    return snapshot.match_counts(("spread", namespace, selector), matches, frozenset((namespace,)))


def inclusion_mask(state: framework.CycleState, c: pod_model.SpreadConstraint) -> framework.BoolArray:
    """Nodes whose pods count for constraint ``c`` under its nodeAffinityPolicy / nodeTaintsPolicy."""
    snap, pod = state.snapshot, state.pod
    mask = np.ones(len(snap), dtype=np.bool_)
    if c.node_affinity_policy == HONOR:
        mask &= snap.required_affinity_mask(pod)
    if c.node_taints_policy == HONOR:
        mask &= snap.tolerated_mask(pod.tolerations)
    return mask


def has_keys(snapshot: framework.Snapshot, keys: tuple[str, ...]) -> framework.BoolArray:
    """Nodes carrying every label key in ``keys``."""
    mask = np.ones(len(snapshot), dtype=np.bool_)
    for k in keys:
        mask &= snapshot.codes(k)[0] >= 0
    return mask


def default_constraints(pod: pod_model.PodInfo) -> tuple[pod_model.SpreadConstraint, ...]:
    """The system default soft constraints for a pod that declares none.

    kube-scheduler builds their selector from the Services/RCs/RSs/StatefulSets selecting the pod. The
    snapshot holds no workload objects, so the pod's own labels stand in: they equal its ReplicaSet's
    template labels (including pod-template-hash), i.e. they select exactly its sibling replicas.
    """
    if pod.spread or pod.owner_kind not in DEFAULT_SPREAD_OWNERS or not pod.labels:
        return ()
    sel = selectors.LabelSelector(tuple(sorted(pod.labels.items())))
    return tuple(pod_model.SpreadConstraint(skew, key, "ScheduleAnyway", sel)
                 for skew, key in SYSTEM_DEFAULT_CONSTRAINTS)


def term_counts(snapshot: framework.Snapshot, terms: tuple[pod_model.AffinityTerm, ...]) -> framework.IntArray:
    """Per node: bound pods matching *all* ``terms`` (namespace + selector), terminating pods included.

    The weight is not part of the cache key: it does not change which pods match.
    """
    ns_labels = snapshot.namespace_labels
    key = ("terms", tuple((t.selector, t.namespaces, t.namespace_selector) for t in terms))
    namespaces: frozenset[str] | None = None
    if all(t.namespace_selector is None for t in terms):
        namespaces = frozenset.intersection(*(t.namespaces for t in terms))

    def matches(p: pod_model.PodInfo) -> bool:
        return all(t.matches(p.namespace, p.labels, ns_labels) for t in terms)

    return snapshot.match_counts(key, matches, namespaces)
