"""Karpenter's scheduling simulation for a set of disruption candidates (spec 7.4).

The candidates' reschedulable pods, plus the pods already pending, are scheduled against every other node
(in-flight NodeClaims included) and the NodePools' templates. The result is usable only when every pod
that was *not* pending found a place and none of them landed on an uninitialized node.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ekstwin.autoscaling.karpenter.disruption.types import Candidate
from ekstwin.autoscaling.karpenter.instancetypes import TypeTable
from ekstwin.autoscaling.karpenter.scheduler import ExistingNode, NodeClaimTemplate, SolveResult, solve
from ekstwin.model.pod import PodInfo


@dataclass(frozen=True)
class ClusterState:
    """What a disruption pass sees: the catalog table, NodePool templates, nodes and pending pods."""

    table: TypeTable
    templates: tuple[NodeClaimTemplate, ...]
    nodes: tuple[ExistingNode, ...]
    pending: tuple[PodInfo, ...]
    domains: Mapping[str, frozenset[str]]
    reservations: Mapping[str, int] | None = None
    """Free slots per capacity reservation as Karpenter sees them (None: no reservation to track)."""
    strict_reservations: bool = False
    """Karpenter simulates disruption in reserved-offering fallback mode, and validates in strict mode."""


@dataclass(frozen=True)
class Simulation:
    """A simulation's result and, when it cannot be used, Karpenter's reason (lower-case first word)."""

    result: SolveResult
    error: str | None


def _templates_with_freed_capacity(templates: Iterable[NodeClaimTemplate],
                                   candidates: Sequence[Candidate]) -> list[NodeClaimTemplate]:
    """Candidates' capacity no longer counts against their NodePool's limits."""
    out = []
    for tpl in templates:
        if tpl.limits is None:
            out.append(tpl)
            continue
        limits = dict(tpl.limits)
        for c in candidates:
            if c.nodepool == tpl.nodepool:
                for k in limits:
                    limits[k] += c.capacity[k]
        out.append(dataclasses.replace(tpl, limits=limits))
    return out


def simulate(state: ClusterState, candidates: Sequence[Candidate]) -> Simulation:
    """Reschedule the candidates' pods elsewhere (see the module docstring)."""
    gone = {c.node for c in candidates}
    nodes = [n.fresh() for n in state.nodes if n.name not in gone]  # the scheduler records placements on them
    moving = [p for c in candidates for p in c.pods]
    result = solve([*state.pending, *moving], state.table,
                   _templates_with_freed_capacity(state.templates, candidates), nodes,
                   domains={k: set(v) for k, v in state.domains.items()}, reservations=state.reservations,
                   strict_reservations=state.strict_reservations)
    for pod in moving:
        err = result.errors.get(pod.key)
        if err is not None:
            return Simulation(result, f"not all pods would schedule, {pod.key} => {err}")
    uninitialized = {n.name for n in nodes if not n.initialized}
    moving_keys = {p.key for p in moving}
    for name, pods in result.existing.items():
        if name in uninitialized and any(p.key in moving_keys for p in pods):
            return Simulation(result, f"would schedule against uninitialized nodeclaim/{name}")
    return Simulation(result, None)
