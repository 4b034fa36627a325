"""NodeAffinity score: Σ weights of the matching ``preferredDuringScheduling…`` terms, scaled to 100.

A term with weight 0 or without expressions matches nothing; normalization divides by the best node.
"""

from __future__ import annotations

import numpy as np

from ekstwin.scheduling import framework

NAME = "NodeAffinity"


def score(state: framework.CycleState, feasible: framework.IntArray) -> framework.IntArray | None:
    """0–100 per feasible node (skipped when the pod has no preferred node-affinity terms)."""
    snap, terms = state.snapshot, state.pod.preferred_terms
    if not terms:
        return None
    raw = np.zeros(len(feasible), dtype=np.int64)
    for weight, term in terms:
        if weight == 0 or not len(term):
            continue
        match = np.ones(len(feasible), dtype=np.bool_)
        for r in term.values():
            match &= snap.requirement_mask(r)[feasible]
        raw += match * weight
    return framework.normalize_by_max(raw)
