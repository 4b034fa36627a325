"""InterPodAffinity score: preferred (anti-)affinity of the pod, and the symmetric terms of bound pods.

Every matching pair adds its weight to the *domain* (topology key value) of the bound pod's node:
``+w`` for each of the pod's preferred affinity terms a bound pod matches, ``−w`` for preferred
anti-affinity; and for bound pods' terms that the incoming pod matches, ``+1`` per required affinity
term (``hardPodAffinityWeight`` = 1), ``+w`` per preferred affinity and ``−w`` per preferred
anti-affinity term. A node scores the sum over its domains, then scores are min-max scaled to 0–100
(float64, truncated, as in Go). Skipped when no term matched anywhere.
"""

from __future__ import annotations

import numpy as np

from ekstwin.model import pod as pod_model
from ekstwin.scheduling import framework, snapshot, topology

NAME = "InterPodAffinity"
HARD_POD_AFFINITY_WEIGHT = 1  # InterPodAffinityArgs default


def _domain_scores(state: framework.CycleState) -> dict[str, framework.IntArray]:
    snap, pod = state.snapshot, state.pod
    acc: dict[str, framework.IntArray] = {}

    def add(term: pod_model.AffinityTerm, per_node: framework.IntArray, weight: int) -> None:
        codes, vocab = snap.codes(term.topology_key)
        holders = per_node != 0
        if not topology.domains_present(codes, len(vocab), holders).any():
            return
        totals = topology.domain_totals(codes, len(vocab), per_node, holders) * weight
        prev = acc.get(term.topology_key)
        acc[term.topology_key] = totals if prev is None else prev + totals

    for t in pod.preferred_affinity:
        add(t, topology.term_counts(snap, (t,)), t.weight)
    for t in pod.preferred_anti_affinity:
        add(t, topology.term_counts(snap, (t,)), -t.weight)
    for kind, sign in ((snapshot.REQUIRED_AFFINITY, 1), (snapshot.PREFERRED_AFFINITY, 1),
                       (snapshot.PREFERRED_ANTI, -1)):
        for term, counts in snap.term_counts(kind):
            if counts.any() and term.matches(pod.namespace, pod.labels, snap.namespace_labels):
                weight = HARD_POD_AFFINITY_WEIGHT if kind == snapshot.REQUIRED_AFFINITY else term.weight
                add(term, counts, sign * weight)
    return acc


def score(state: framework.CycleState, feasible: framework.IntArray) -> framework.IntArray | None:
    """0–100 per feasible node (skipped when no affinity term applies)."""
    acc = _domain_scores(state)
    if not acc:
        return None
    raw = np.zeros(len(feasible), dtype=np.int64)
    for key, per_domain in acc.items():
        codes = state.snapshot.codes(key)[0][feasible]
        raw += np.where(codes >= 0, per_domain[codes], 0)
    low, high = int(raw.min()), int(raw.max())
    if high == low:
        return np.zeros(len(feasible), dtype=np.int64)
    scaled = float(framework.MAX_NODE_SCORE) * ((raw - low).astype(np.float64) / float(high - low))
    return scaled.astype(np.int64)
