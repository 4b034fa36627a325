"""Karpenter's disruption cost: cheaper-to-disrupt nodes are tried first.

cost = Σ over the node's pods of podCost × lifetimeRemaining, where podCost = clamp(1 + deletionCost/2^27 +
priority/2^25, −10, 10) and lifetimeRemaining = clamp((expireAfter − age)/expireAfter, 0, 1) (1 when the node
never expires). An empty node costs 0.
"""

from __future__ import annotations

from collections.abc import Iterable

from ekstwin.model.pod import PodInfo


def pod_cost(pod: PodInfo) -> float:
    """One pod's eviction cost (its pod-deletion-cost annotation and priority)."""
    return min(10.0, max(-10.0, 1.0 + pod.deletion_cost / 2**27 + pod.priority / 2**25))


def lifetime_remaining(age_s: float, expire_after_s: float | None) -> float:
    """Fraction of the node's lifetime left (1 when it never expires)."""
    if not expire_after_s:
        return 1.0
    return min(1.0, max(0.0, (expire_after_s - age_s) / expire_after_s))


def pods_cost(pods: Iterable[PodInfo]) -> float:
    """Σ pod cost of a node's reschedulable pods (the part of the disruption cost that does not age)."""
    return sum(pod_cost(p) for p in pods)


def disruption_cost(pods_cost_sum: float, age_s: float, expire_after_s: float | None) -> float:
    """Σ pod cost (``pods_cost``) × lifetime remaining."""
    return pods_cost_sum * lifetime_remaining(age_s, expire_after_s)
