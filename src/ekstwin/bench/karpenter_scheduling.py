"""Karpenter's scheduling benchmark workload, reproduced on the twin's ``solve``.

Karpenter's own benchmark (``scheduling_benchmark_test.go``) schedules N pods split evenly over five
shapes: generic, zonal topology spread, hostname topology spread, zonal pod self-affinity and hostname
pod anti-affinity, with CPU from {100m, 250m, 500m, 1000m, 1500m} and memory from {100Mi … 4Gi}. We build
the same mix (seeded) and run one solve against one NodePool over many instance types (us-east-1, whose
prices are Karpenter's own static table), then check that every pod was placed and that no NodeClaim is
over-committed, and compare the cost of the cheapest option of each NodeClaim with an LP lower bound.
"""

from __future__ import annotations

import resource
import time
from typing import Any

import numpy as np

from ekstwin.autoscaling.karpenter.instancetypes import TypeTable
from ekstwin.autoscaling.karpenter.scheduler import NodeClaimTemplate, SolveResult, solve, template_domains
from ekstwin.catalog.catalog import load_catalog
from ekstwin.model import requirements as rq
from ekstwin.model.pod import PodInfo
from ekstwin.rng import stable_random
from ekstwin.units.resources import Resources

CPUS = ("100m", "250m", "500m", "1000m", "1500m")
MEMORIES = ("100Mi", "250Mi", "500Mi", "1000Mi", "1500Mi", "2Gi", "4Gi")
SHAPES = ("generic", "zone-spread", "hostname-spread", "zone-affinity", "hostname-anti-affinity")
LABEL_VALUES = 10  # each shape's pods are split over this many apps (selectors)


def make_pods(n: int, seed: int = 42, shapes: tuple[str, ...] = SHAPES) -> list[PodInfo]:
    """The five-shape workload (or a subset of its shapes), n pods in all."""
    r = stable_random(seed, "bench.karpenter-scheduling")
    pods = []
    for i in range(n):
        shape = shapes[i % len(shapes)]
        app = f"{shape}-{r.randrange(LABEL_VALUES)}"
        spec: dict[str, Any] = {"containers": [{"name": "app", "resources": {"requests": {
            "cpu": r.choice(CPUS), "memory": r.choice(MEMORIES)}}}]}
        sel = {"matchLabels": {"app": app}}
        if shape == "zone-spread":
            spec["topologySpreadConstraints"] = [{"maxSkew": 1, "topologyKey": rq.ZONE,
                                                  "whenUnsatisfiable": "DoNotSchedule", "labelSelector": sel}]
        elif shape == "hostname-spread":
            spec["topologySpreadConstraints"] = [{"maxSkew": 1, "topologyKey": rq.HOSTNAME,
                                                  "whenUnsatisfiable": "DoNotSchedule", "labelSelector": sel}]
        elif shape == "zone-affinity":
            spec["affinity"] = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": sel, "topologyKey": rq.ZONE}]}}
        elif shape == "hostname-anti-affinity":
            spec["affinity"] = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": sel, "topologyKey": rq.HOSTNAME}]}}
        pods.append(PodInfo.parse({"metadata": {"name": f"pod-{i:06d}", "namespace": "default",
                                                "uid": f"uid-{i:06d}", "labels": {"app": app},
                                                "creationTimestamp": "2024-01-01T00:00:00Z"},
                                   "spec": spec}))
    return pods


def _table(max_vcpu: int | None = None) -> tuple[TypeTable, NodeClaimTemplate, list[str]]:
    """us-east-1 on-demand c/m/r generation > 4, optionally only types with at most ``max_vcpu`` vCPUs."""
    cat = load_catalog("us-east-1", seed=42)
    table = TypeTable.from_catalog(cat)
    terms = [
        {"key": rq.CAPACITY_TYPE, "operator": "In", "values": ["on-demand"]},
        {"key": "karpenter.k8s.aws/instance-category", "operator": "In", "values": ["c", "m", "r"]},
        {"key": "karpenter.k8s.aws/instance-generation", "operator": "Gt", "values": ["4"]},
    ]
    if max_vcpu is not None:
        terms.append({"key": "karpenter.k8s.aws/instance-cpu", "operator": "Lt", "values": [str(max_vcpu + 1)]})
    pool = rq.Requirements.from_node_selector_terms(terms).add(
        rq.Requirement(rq.NODEPOOL, False, frozenset(("default",))))
    idx = np.flatnonzero(table.requirements_mask(pool))
    tpl = NodeClaimTemplate("default", 0, pool, (), (), {}, Resources(), idx)
    return table, tpl, list(cat.zones)


def lower_bound(table: TypeTable, tpl: NodeClaimTemplate, pods: list[PodInfo]) -> float:
    """LP relaxation of the cheapest fleet covering total CPU and memory (exact over pairs of types)."""
    _, price = table.offering_mask(tpl.requirements)
    idx = tpl.type_idx[np.isfinite(price[tpl.type_idx])]
    p = price[idx]
    cpu = table.alloc[idx, table.resources.index("cpu")].astype(float)
    mem = table.alloc[idx, table.resources.index("memory")].astype(float)
    need_c = float(sum(x.requests["cpu"] for x in pods))
    need_m = float(sum(x.requests["memory"] for x in pods))
    # one type alone
    best = float(np.min(p * np.maximum(need_c / cpu, need_m / mem)))
    # two types: solve x_i*c_i + x_j*c_j = C, x_i*m_i + x_j*m_j = M with x ≥ 0
    det = np.outer(cpu, mem) - np.outer(mem, cpu)
    with np.errstate(divide="ignore", invalid="ignore"):
        xi = (need_c * mem[None, :] - need_m * cpu[None, :]) / det
        xj = (need_m * cpu[:, None] - need_c * mem[:, None]) / det
        cost = xi * p[:, None] + xj * p[None, :]
    ok = (xi >= 0) & (xj >= 0) & np.isfinite(cost)
    if ok.any():
        best = min(best, float(cost[ok].min()))
    return best


def check(result: SolveResult, table: TypeTable, pods: list[PodInfo]) -> None:
    """Raise unless every pod is placed, no NodeClaim is over-committed and hostname rules hold.

    Hostname anti-affinity and hostname spread (maxSkew 1, so at most one pod of an app per new node while
    other new nodes can be made) both mean no NodeClaim holds two pods of the same such app.
    """
    if result.placed != len(pods) or result.errors:
        raise AssertionError(f"{len(pods) - result.placed} pods were not placed: {sorted(result.errors)[:3]}")
    for c in result.new_claims:
        vec = table.request_vector(c.requests)
        if vec is None or not (table.alloc[c.options[0]] >= vec).all():
            raise AssertionError(f"NodeClaim {c.hostname} is over-committed")
        apps = [p.labels["app"] for p in c.pods if p.labels["app"].startswith(("hostname-", "hostname-anti"))]
        if len(apps) != len(set(apps)):
            raise AssertionError(f"NodeClaim {c.hostname} holds two pods of one hostname-constrained app")


def run(n: int, seed: int = 42, shapes: tuple[str, ...] = SHAPES, max_vcpu: int | None = None) -> dict[str, Any]:
    """Run the benchmark once and return the metrics ``ekstwin bench`` prints."""
    table, tpl, _ = _table(max_vcpu)
    pods = make_pods(n, seed, shapes)
    start = time.perf_counter()
    result = solve(pods, table, [tpl], domains=template_domains(table, [tpl]))
    seconds = time.perf_counter() - start
    check(result, table, pods)
    _, price = table.offering_mask(tpl.requirements)
    cost = float(sum(price[c.options[0]] for c in result.new_claims))
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"pods": n, "placed": result.placed, "nodes": len(result.new_claims), "seconds": round(seconds, 3),
            "pods_per_second": round(n / seconds, 1) if seconds else None,
            "price_per_hour": round(cost, 4), "lower_bound_per_hour": round(lower_bound(table, tpl, pods), 4),
            "peak_rss_mib": round(rss_mib, 1), "unplaced_reasons": sorted(set(result.errors.values()))[:5]}
