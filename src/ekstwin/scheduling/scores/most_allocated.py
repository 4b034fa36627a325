"""NodeResourcesFit score, strategy MostAllocated (bin packing): prefer the fuller node.

Per resource ``requested × 100 / allocatable`` with requested capped at allocatable (non-zero defaults
can push it over), cpu and memory averaged.
"""

from __future__ import annotations

import numpy as np

from ekstwin.scheduling import framework
from ekstwin.scheduling.scores import resources

NAME = "NodeResourcesFit"
STRATEGY = "MostAllocated"


def _most(requested: framework.IntArray, alloc: framework.IntArray) -> framework.IntArray:
    return np.minimum(requested, alloc) * framework.MAX_NODE_SCORE // alloc


def score(state: framework.CycleState, feasible: framework.IntArray) -> framework.IntArray | None:
    """0–100 per feasible node; higher means fuller after placing the pod."""
    return resources.weighted_score(state, feasible, _most)
