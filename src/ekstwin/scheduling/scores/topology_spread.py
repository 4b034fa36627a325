"""PodTopologySpread score: ``ScheduleAnyway`` constraints, or the system defaults.

Pods without constraints that belong to a ReplicaSet/StatefulSet/ReplicationController get
``{maxSkew 3, hostname}`` and ``{maxSkew 5, zone}`` (see ``topology.default_constraints``).
Per constraint a node earns ``count × ln(#domains + 2) + (maxSkew − 1)`` where ``count`` is the number of
matching pods in its domain (for hostname: on the node itself) and ``#domains`` counts the domains of the
candidate nodes (for hostname: the candidate nodes). The sum is rounded half away from zero, then
normalized as ``100 × (max + min − s) / max`` so the emptier domain wins. With explicit constraints,
candidates missing a key are ignored and score 0; with the system defaults they are kept and a missing
label counts as the value ``""`` (kube-scheduler's map lookup does the same).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from ekstwin.scheduling import framework, topology

NAME = "PodTopologySpread"


def _domain_codes(snap: framework.Snapshot, key: str, absent_as_empty: bool) -> tuple[framework.IntArray, int]:
    codes, vocab = snap.codes(key)
    if not absent_as_empty:
        return codes, len(vocab)
    empty = snap.value_id(key, "")
    return np.where(codes >= 0, codes, empty if empty >= 0 else len(vocab)), len(vocab) + 1


def _go_round(x: npt.NDArray[np.float64]) -> framework.IntArray:
    floor = np.floor(x)
    return (floor + ((x - floor) >= 0.5)).astype(np.int64)  # math.Round: halves away from zero (x ≥ 0)


def score(state: framework.CycleState, feasible: framework.IntArray) -> framework.IntArray | None:
    """0–100 per feasible node (skipped without soft constraints)."""
    snap, pod = state.snapshot, state.pod
    explicit = bool(pod.spread)
    cons = tuple(c for c in pod.spread if not c.hard) if explicit else topology.default_constraints(pod)
    if not cons:
        return None
    all_keys = topology.has_keys(snap, tuple(c.topology_key for c in cons))
    counted = all_keys if explicit else np.ones(len(snap), dtype=np.bool_)
    scored = counted[feasible]
    raw = np.zeros(len(feasible), dtype=np.float64)
    for c in cons:
        per_node = topology.spread_counts(snap, pod.namespace, c.selector)
        if c.topology_key == topology.HOSTNAME:
            size = int(scored.sum())
            count = per_node[feasible]
        else:
            codes, n_codes = _domain_codes(snap, c.topology_key, not explicit)
            candidate_codes = codes[feasible][scored]
            size = int((np.bincount(candidate_codes[candidate_codes >= 0], minlength=n_codes) > 0).sum())
            include = counted & topology.inclusion_mask(state, c)
            totals = topology.domain_totals(codes, n_codes, per_node, include)
            count = np.where(codes[feasible] >= 0, totals[codes[feasible]], 0)
        weight = math.log(size + 2)
        has_label = snap.codes(c.topology_key)[0][feasible] >= 0
        raw += np.where(has_label, count.astype(np.float64) * weight + float(c.max_skew - 1), 0.0)
    rounded = _go_round(raw)
    out = np.zeros(len(feasible), dtype=np.int64)
    if scored.any():
        low, high = int(rounded[scored].min()), int(rounded[scored].max())
        if high == 0:
            out[scored] = framework.MAX_NODE_SCORE
        else:
            out[scored] = framework.MAX_NODE_SCORE * (high + low - rounded[scored]) // high
    return out
