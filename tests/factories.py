"""Object factories for tests: small dicts with keyword overrides (Karpenter pkg/test style)."""

from __future__ import annotations

import functools
import itertools
from typing import Any

import numpy as np

from ekstwin.autoscaling.karpenter.instancetypes import TypeTable
from ekstwin.autoscaling.karpenter.scheduler import NodeClaimTemplate
from ekstwin.catalog.catalog import Catalog, load_catalog
from ekstwin.model import requirements as rq
from ekstwin.model import taints as tn
from ekstwin.model.pod import PodInfo
from ekstwin.units.resources import Resources

_ids = itertools.count()


def pod(cpu: str = "1", memory: str = "1Gi", *, name: str | None = None, namespace: str = "default",
        labels: dict[str, str] | None = None, created: str = "2024-01-01T00:00:00Z", **spec: Any) -> PodInfo:
    """A PodInfo with one container requesting cpu/memory; extra keyword args go into the pod spec."""
    n = next(_ids)
    body = {"containers": [{"name": "app", "resources": {"requests": {"cpu": cpu, "memory": memory}}}], **spec}
    return PodInfo.parse({"metadata": {"name": name or f"pod-{n:05d}", "namespace": namespace, "uid": f"uid-{n:05d}",
                                       "labels": labels or {}, "creationTimestamp": created}, "spec": body})


@functools.cache
def catalog(region: str = "us-east-1") -> Catalog:
    """The bundled catalog for a region (cached per test session)."""
    return load_catalog(region, seed=7)


@functools.cache
def table(region: str = "us-east-1") -> TypeTable:
    """The vectorised type table of ``catalog(region)``."""
    c = catalog(region)
    return TypeTable.from_catalog(c)


def template(name: str = "default", requirements: list[dict[str, Any]] | None = None, *, weight: int = 0,
             taints: tuple[tn.Taint, ...] = (), overhead: Resources | None = None,
             limits: dict[str, int] | None = None, labels: dict[str, str] | None = None,
             region: str = "us-east-1") -> NodeClaimTemplate:
    """A NodeClaim template like one built from a NodePool with these requirements."""
    t = table(region)
    reqs = rq.Requirements.from_node_selector_terms(requirements or [])
    reqs = reqs.merge(rq.Requirements.from_labels(labels or {}))
    reqs = reqs.add(rq.Requirement(rq.NODEPOOL, False, frozenset((name,))))
    idx = np.flatnonzero(t.requirements_mask(reqs)).astype(np.int64)
    return NodeClaimTemplate(name, weight, reqs, taints, (), labels or {}, overhead or Resources(), idx, limits)


ON_DEMAND_CMR = [{"key": rq.CAPACITY_TYPE, "operator": "In", "values": ["on-demand"]},
                 {"key": "karpenter.k8s.aws/instance-category", "operator": "In", "values": ["c", "m", "r"]},
                 {"key": "karpenter.k8s.aws/instance-generation", "operator": "Gt", "values": ["4"]}]
