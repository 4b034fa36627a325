"""NodeResourcesFit score, strategy LeastAllocated (the default): prefer the emptier node.

Per resource ``(allocatable − requested) × 100 / allocatable`` (0 when over), cpu and memory averaged.
"""

from __future__ import annotations

import numpy as np

from ekstwin.scheduling import framework
from ekstwin.scheduling.scores import resources

NAME = "NodeResourcesFit"
STRATEGY = "LeastAllocated"


def _least(requested: framework.IntArray, alloc: framework.IntArray) -> framework.IntArray:
    return np.where(requested > alloc, 0, (alloc - requested) * framework.MAX_NODE_SCORE // alloc)


def score(state: framework.CycleState, feasible: framework.IntArray) -> framework.IntArray | None:
    """0–100 per feasible node; higher means more room left after placing the pod."""
    return resources.weighted_score(state, feasible, _least)
