"""NodeClaim templates from NodePools: requirements, taints, daemonset overhead, candidate types, limits.

Karpenter builds one template per ready NodePool, ordered by weight (desc) then name (desc). The
template's requirements are the pool's requirements, its template labels (each as ``In [value]``) and
``karpenter.sh/nodepool In [name]``. A DaemonSet counts towards a pool's overhead when its pod tolerates
the pool's taints (PreferNoSchedule counts as tolerated) and one of its required node-selector terms is
compatible with the pool's requirements.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ekstwin.autoscaling.karpenter.instancetypes import TypeTable
from ekstwin.autoscaling.karpenter.scheduler import NodeClaimTemplate
from ekstwin.model import requirements as rq
from ekstwin.model import taints as tn
from ekstwin.model.pod import FIELD_PREFIX, PodInfo
from ekstwin.units import resources as res

NO_COMPATIBLE_TYPES = "NodePool requirements filtered out all compatible available instance types"
NODEPOOL_HASH = "karpenter.sh/nodepool-hash"
NODEPOOL_HASH_VERSION = "karpenter.sh/nodepool-hash-version"
HASH_VERSION = "v3"
# Template fields whose change does not drift nodes: requirements drift on their own (RequirementsDrifted).
_HASH_IGNORED = ("requirements",)


@dataclass(frozen=True)
class PoolProblem:
    """A NodePool that cannot provide capacity, with the event Karpenter emits for it."""

    nodepool: str
    reason: str
    message: str


def nodepool_hash(nodepool: Mapping[str, Any]) -> str:
    """Stable hash of the NodePool's template (labels, annotations, taints, nodeClassRef, expireAfter, ...);
    NodeClaims remember it at creation and drift when the pool's hash moves on."""
    template = dict(nodepool["spec"].get("template") or {})
    template["spec"] = {k: v for k, v in (template.get("spec") or {}).items() if k not in _HASH_IGNORED}
    raw = json.dumps(template, sort_keys=True)
    return str(int(hashlib.sha256(raw.encode()).hexdigest()[:15], 16))


def pool_requirements(nodepool: Mapping[str, Any]) -> rq.Requirements:
    """Requirements of a v1 NodePool's template, including its labels and the nodepool label."""
    spec = nodepool["spec"]["template"].get("spec") or {}
    labels = (nodepool["spec"]["template"].get("metadata") or {}).get("labels") or {}
    reqs = rq.Requirements.from_node_selector_terms(spec.get("requirements") or [])
    reqs = reqs.merge(rq.Requirements.from_labels(labels))
    return reqs.add(rq.Requirement(rq.NODEPOOL, False, frozenset((nodepool["metadata"]["name"],))))


def order_nodepools(nodepools: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Weight descending, then name descending (Karpenter's OrderByWeight)."""
    by_name = sorted(nodepools, key=lambda p: p["metadata"]["name"], reverse=True)
    return sorted(by_name, key=lambda p: -int(p["spec"].get("weight") or 0))


def daemonset_tolerates(ds: PodInfo, taints: Sequence[tn.Taint]) -> bool:
    """DaemonSet pods are checked against NoSchedule/NoExecute taints only (PreferNoSchedule tolerated)."""
    return tn.tolerates_all(ds.tolerations, taints) is None


def daemonset_compatible(ds: PodInfo, reqs: rq.Requirements) -> bool:
    """One of the pod's required terms (or its nodeSelector alone) is compatible with ``reqs``."""
    base = rq.Requirements.from_labels(ds.node_selector)
    terms = ds.required_terms or (rq.EMPTY,)
    for term in terms:
        pod_reqs = rq.Requirements(r for k, r in base.merge(term).items() if not k.startswith(FIELD_PREFIX))
        if reqs.compatible(pod_reqs) is None:
            return True
    return False


def daemon_overhead(daemonsets: Sequence[PodInfo], reqs: rq.Requirements,
                    taints: Sequence[tn.Taint]) -> res.Resources:
    """Summed requests of the DaemonSet pods that would run on a node of this template."""
    return res.total(d.requests for d in daemonsets if daemonset_tolerates(d, taints)
                     and daemonset_compatible(d, reqs))


def limits_remaining(nodepool: Mapping[str, Any], usage: res.Resources) -> dict[str, int] | None:
    """``spec.limits`` minus the capacity of the pool's nodes (None when the pool has no limits)."""
    raw = nodepool["spec"].get("limits")
    if not raw:
        return None
    return {k: res.to_canonical(k, v) - usage[k] for k, v in raw.items()}


def build_templates(nodepools: Sequence[Mapping[str, Any]], table: TypeTable, daemonsets: Sequence[PodInfo],
                    usage: Mapping[str, res.Resources],
                    excluded_reservations: Mapping[str, frozenset[str]] | None = None,
                    ) -> tuple[list[NodeClaimTemplate], list[PoolProblem]]:
    """One template per usable NodePool, in Karpenter's order, plus the pools that offer nothing.

    ``excluded_reservations``: per NodePool, capacity reservations its EC2NodeClass does not select; its template
    rules them out with ``karpenter.k8s.aws/capacity-reservation-id NotIn [...]`` (which offerings without a
    reservation satisfy).
    """
    templates: list[NodeClaimTemplate] = []
    problems: list[PoolProblem] = []
    for np_obj in order_nodepools(nodepools):
        name = np_obj["metadata"]["name"]
        if np_obj["metadata"].get("deletionTimestamp"):
            continue
        spec = np_obj["spec"]["template"].get("spec") or {}
        reqs = pool_requirements(np_obj)
        excluded = (excluded_reservations or {}).get(name)
        if excluded:
            reqs = reqs.add(rq.Requirement(rq.CAPACITY_RESERVATION_ID, True, excluded))
        taints = tn.parse_taints(spec.get("taints"))
        startup = tn.parse_taints(spec.get("startupTaints"))
        overhead = daemon_overhead(daemonsets, reqs, taints)
        mask = table.requirements_mask(reqs) & (table.alloc >= 0).all(axis=1)
        idx = np.flatnonzero(mask).astype(np.int64)
        if len(idx) == 0:
            problems.append(PoolProblem(name, "NoCompatibleInstanceTypes", NO_COMPATIBLE_TYPES))
            continue
        labels = (np_obj["spec"]["template"].get("metadata") or {}).get("labels") or {}
        templates.append(NodeClaimTemplate(
            nodepool=name, weight=int(np_obj["spec"].get("weight") or 0), requirements=reqs, taints=taints,
            startup_taints=startup, labels=dict(labels), daemon_overhead=overhead, type_idx=idx,
            limits=limits_remaining(np_obj, usage.get(name, res.EMPTY))))
    return templates, problems
