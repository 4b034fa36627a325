"""Emptiness and drift (spec 7.5, 7.6), and the method order per Karpenter version (spec 0, 7.1)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from ekstwin.autoscaling.karpenter.disruption.simulate import ClusterState, simulate
from ekstwin.autoscaling.karpenter.disruption.types import DRIFTED, EMPTY, Candidate, Command, Verdict

EMPTINESS, DRIFT, MULTI, SINGLE = "emptiness", "drift", "multi", "single"
ORDER_V1BETA1 = (DRIFT, EMPTINESS, MULTI, SINGLE)  # expiration was graceful then; see docs/scenarios.md
ORDER_V1_0 = (DRIFT, EMPTINESS, MULTI, SINGLE)
ORDER_V1_5 = (EMPTINESS, DRIFT, MULTI, SINGLE)


def method_order(version: str) -> tuple[str, ...]:
    """Disruption methods in the order the given Karpenter version tries them."""
    major_minor = version_tuple(version)
    if major_minor < (1, 0):
        return ORDER_V1BETA1
    if major_minor < (1, 5):
        return ORDER_V1_0
    return ORDER_V1_5


def version_tuple(version: str) -> tuple[int, int]:
    """(major, minor) of ``v1.4``-style text; unparsable text means the current release."""
    parts = version.lstrip("v").split(".")
    try:
        return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        return (1, 14)


def emptiness(candidates: Sequence[Candidate], budget: Mapping[str, int]) -> Command | None:
    """Delete every empty, consolidatable candidate whose NodePool still has Empty budget, in one command."""
    allowed = dict(budget)
    chosen = []
    for c in candidates:
        if not c.empty or not c.consolidatable or allowed.get(c.nodepool, 0) <= 0:
            continue
        allowed[c.nodepool] -= 1
        chosen.append(c)
    if not chosen:
        return None
    return Command(EMPTINESS, EMPTY, chosen, message=f"{len(chosen)} empty node(s)")


def drift(state: ClusterState, candidates: Sequence[Candidate], budget: Mapping[str, int],
          verdict: Callable[[Verdict], None]) -> Command | None:
    """Empty drifted nodes go together; otherwise the oldest drifted node whose pods fit elsewhere is
    replaced by whatever NodeClaims the simulation asks for (no price check, no validation wait)."""
    drifted = sorted((c for c in candidates if c.drifted_at is not None), key=lambda c: (c.drifted_at, c.node))
    allowed = dict(budget)
    empty = []
    for c in drifted:
        if c.empty and allowed.get(c.nodepool, 0) > 0:
            allowed[c.nodepool] -= 1
            empty.append(c)
    if empty:
        return Command(DRIFT, DRIFTED, empty, message=f"{len(empty)} empty drifted node(s)")
    for c in drifted:
        if budget.get(c.nodepool, 0) <= 0:
            continue
        sim = simulate(state, [c])
        if sim.error is not None:
            verdict(Verdict(c.node, DRIFT, "DisruptionBlocked", sim.error[0].upper() + sim.error[1:]))
            continue
        return Command(DRIFT, DRIFTED, [c], list(sim.result.new_claims),
                       message=f"drifted; {len(sim.result.new_claims)} replacement(s)")
    return None
