"""Samples Karpenter-named gauges on the simulated clock (a 60 s grid) for ``--json`` and reports.

A sample is taken on the first grid tick after something changed (pods, nodes, NodeClaims), so the series
is a step function: between two samples nothing changed. Long quiet stretches (a simulated month) cost
nothing.

The twin samples cluster-level series that Karpenter also exports: ``karpenter_cluster_state_node_count``,
``karpenter_nodepools_usage{resource_type}``,
``karpenter_cluster_utilization_percent{resource_type}`` (pod requests / allocatable), pods by phase
(``karpenter_pods_state`` summed by phase) and the hourly price of running instances
(``ekstwin_cluster_price_per_hour``, the twin's own).
"""

from __future__ import annotations

import math
from collections import Counter

from ekstwin.controllers import snapshot_cache
from ekstwin.controllers.base import Deps, resources_of
from ekstwin.model import requirements as rq
from ekstwin.model.pod import is_control_plane
from ekstwin.sim import driver
from ekstwin.sim.reconcile import Result
from ekstwin.store.watch import WatchEvent
from ekstwin.units import resources as res

NAME = "metrics"
KEY = "sample"
INTERVAL_S = 60.0


def _changed(deps: Deps) -> driver.KeyFn:
    def key(ev: WatchEvent) -> str:
        deps.state[NAME] = True  # dirty: the next tick samples
        return KEY
    return key


def watches(deps: Deps) -> list[driver.Watch]:
    """Any pod, node or NodeClaim change schedules a sample on the next 60 s tick."""
    return [driver.Watch(kind, _changed(deps)) for kind in ("Pod", "Node", "NodeClaim")]


def reconcile(deps: Deps, key: str, now: float) -> Result:
    """On a grid tick after a change, take one sample of every series."""
    tick = math.ceil(now / INTERVAL_S) * INTERVAL_S
    if now < tick:
        return Result(requeue_after=tick - now)
    if not deps.state.get(NAME, True):
        return Result()
    deps.state[NAME] = False
    _sample(deps)
    return Result(requeue_after=INTERVAL_S)


def _sample(deps: Deps) -> None:
    rec, store = deps.recorder, deps.store
    nodes = store.list("Node")
    rec.sample("karpenter_cluster_state_node_count", len(nodes))
    alloc = res.total(resources_of((n.get("status") or {}).get("allocatable")) for n in nodes)
    phases: Counter[str] = Counter()
    control_plane = set()
    for p in store.list("Pod"):
        if is_control_plane(p):  # the Karpenter controller's own pod stands outside the data plane
            control_plane.add(p["metadata"].get("uid"))
            continue
        phases[(p.get("status") or {}).get("phase") or "Pending"] += 1  # as PodInfo reads it
    # the bound, non-terminal pods' requests: the scheduler cache holds exactly those pods, already parsed
    cache = snapshot_cache.cache(deps)
    cache.snapshot(deps)
    counted = [info.requests for key, info in cache.pods.items() if key not in control_plane]
    requested = {r: sum(q[r] for q in counted) for r in (res.CPU, res.MEMORY)}
    for phase in ("Pending", "Running"):
        rec.sample("karpenter_pods_state", phases.get(phase, 0), phase=phase)
    for r in (res.CPU, res.MEMORY):
        pct = 100.0 * requested[r] / alloc[r] if alloc[r] else 0.0
        rec.sample("karpenter_cluster_utilization_percent", round(pct, 3), resource_type=r)
    usage: dict[str, res.Resources] = {}
    for c in store.list("NodeClaim"):
        pool = (c["metadata"].get("labels") or {}).get(rq.NODEPOOL, "")
        usage[pool] = usage.get(pool, res.EMPTY) + resources_of((c.get("status") or {}).get("capacity"))
    for pool, used in sorted(usage.items()):
        rec.sample("karpenter_nodepools_usage", used[res.CPU] / 1000, nodepool=pool, resource_type=res.CPU)
    # list $/hour of what is live: instances outside reservations, plus every reservation's slots
    rec.sample("ekstwin_cluster_price_per_hour", round(deps.ec2.hourly_rate(), 6))
