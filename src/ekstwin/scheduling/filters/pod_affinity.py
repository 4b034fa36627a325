"""InterPodAffinity (filter): required pod affinity, required anti-affinity, and their symmetry.

Checked in this order, first failure wins:

1. **Affinity**: for every term the node must carry the topology key and its domain must hold a pod
   matching *all* the pod's affinity terms. Bootstrap: when no such pod exists anywhere (on a node with
   one of the keys) and the pod matches its own terms, any node with all the keys passes, so the first
   replica of a self-affine group can land.
2. **Anti-affinity**: no pod matching a term may be in the node's domain of that term's key (nodes
   without the key are in no domain and pass).
3. **Existing pods' anti-affinity**: the node fails if a bound pod in the same domain has a required
   anti-affinity term matching this pod.

Terminating pods still count here (unlike PodTopologySpread, InterPodAffinity does not skip them).
"""

from __future__ import annotations

import numpy as np

from ekstwin.scheduling import framework, snapshot, topology

NAME = "InterPodAffinity"
REASON_AFFINITY = "node(s) didn't match pod affinity rules"
REASON_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
REASON_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"
STATUSES = (framework.Status(framework.Code.UNSCHEDULABLE_AND_UNRESOLVABLE, (REASON_AFFINITY,), NAME),
            framework.Status(framework.Code.UNSCHEDULABLE, (REASON_ANTI_AFFINITY,), NAME),
            framework.Status(framework.Code.UNSCHEDULABLE, (REASON_EXISTING_ANTI_AFFINITY,), NAME))


def _affinity_ok(state: framework.CycleState) -> framework.BoolArray:
    snap, pod = state.snapshot, state.pod
    terms = pod.affinity
    per_node = topology.term_counts(snap, terms)
    everywhere = np.ones(len(snap), dtype=np.bool_)
    has_all = np.ones(len(snap), dtype=np.bool_)
    pods_exist = np.ones(len(snap), dtype=np.bool_)
    any_match = False
    for t in terms:
        codes, vocab = snap.codes(t.topology_key)
        totals = topology.domain_totals(codes, len(vocab), per_node, everywhere)
        any_match = any_match or bool(totals.any())
        has_all &= codes >= 0
        pods_exist &= np.where(codes >= 0, totals[codes], 0) > 0
    ns_labels = snap.namespace_labels
    if not any_match and all(t.matches(pod.namespace, pod.labels, ns_labels) for t in terms):
        return has_all
    return has_all & pods_exist


def _blocked_domains(snap: framework.Snapshot, key: str, per_node: framework.IntArray) -> framework.BoolArray:
    """Nodes in a domain of ``key`` where ``per_node`` counts something."""
    codes, vocab = snap.codes(key)
    occupied = topology.domain_totals(codes, len(vocab), per_node, per_node > 0) > 0
    return (codes >= 0) & np.where(codes >= 0, occupied[codes], False)


def _anti_ok(state: framework.CycleState) -> framework.BoolArray:
    snap = state.snapshot
    blocked = np.zeros(len(snap), dtype=np.bool_)
    for t in state.pod.anti_affinity:
        blocked |= _blocked_domains(snap, t.topology_key, topology.term_counts(snap, (t,)))
    return ~blocked


def _existing_anti_ok(state: framework.CycleState) -> framework.BoolArray:
    snap, pod = state.snapshot, state.pod
    blocked = np.zeros(len(snap), dtype=np.bool_)
    for term, counts in snap.term_counts(snapshot.REQUIRED_ANTI):
        if term.matches(pod.namespace, pod.labels, snap.namespace_labels) and counts.any():
            blocked |= _blocked_domains(snap, term.topology_key, counts)
    return ~blocked


def filter(state: framework.CycleState, candidates: framework.BoolArray) -> framework.FilterResult:
    """Fail nodes breaking the pod's required (anti-)affinity or an existing pod's required anti-affinity."""
    pod, snap = state.pod, state.snapshot
    existing = any(counts.any() for _, counts in snap.term_counts(snapshot.REQUIRED_ANTI))
    if not pod.affinity and not pod.anti_affinity and not existing:
        return None
    ids = np.zeros(len(snap), dtype=np.int64)
    if pod.affinity:
        ids[~_affinity_ok(state)] = 1
    if pod.anti_affinity:
        ids[(ids == 0) & ~_anti_ok(state)] = 2
    if existing:
        ids[(ids == 0) & ~_existing_anti_ok(state)] = 3
    return ids, STATUSES
