"""Consolidation at scale: a 500-node, 10,000-pod cluster scales down 30%; how fast does it consolidate?

The cluster is built by the twin itself (10 Deployments × 1,000 pods of 750m / 1.5Gi on a NodePool of
16-vCPU on-demand c/m/r types, so about 20 pods per node and 500 nodes), left to settle, then every
Deployment is scaled to 700 replicas. Reported: the simulated time until the cluster stops changing
(no disruption command for 10 minutes), node counts and hourly price before and after, and the wall time
of every disruption pass that computed consolidation (multi-node + single-node), timed around the pass.
"""

from __future__ import annotations

import resource
import time
from typing import Any

from ekstwin.autoscaling.karpenter.disruption.types import Command
from ekstwin.bench import objects
from ekstwin.controllers import disruption
from ekstwin.controllers.base import Deps
from ekstwin.model import manifests
from ekstwin.scenario.config import ClusterConfig, Scenario
from ekstwin.scenario.world import World, build

APPS, REPLICAS, SCALED = 10, 1000, 700
SETTLE_S, QUIET_S, HORIZON_S = 900.0, 600.0, 4 * 3600.0


def _objects(apps: int, replicas: int) -> list[dict[str, Any]]:
    pool = objects.nodepool([
        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]},
        {"key": "karpenter.k8s.aws/instance-category", "operator": "In", "values": ["c", "m", "r"]},
        {"key": "karpenter.k8s.aws/instance-cpu", "operator": "In", "values": ["16"]}],
        {"consolidationPolicy": "WhenEmptyOrUnderutilized", "consolidateAfter": "0s", "budgets": [{"nodes": "10%"}]})
    return [pool, objects.nodeclass(),
            *(objects.deployment(f"app-{i}", replicas, "750m", "1536Mi") for i in range(apps))]


def _world(apps: int, replicas: int, seed: int) -> World:
    docs = [manifests.Document(o, "<bench>", i) for i, o in enumerate(_objects(apps, replicas))]
    objects, _ = manifests.load_documents(docs)
    scenario = Scenario(name="consolidation-bench", file="<bench>", seed=seed,
                        cluster=ClusterConfig(region="us-east-1", zones=("us-east-1a", "us-east-1b", "us-east-1c")),
                        objects=tuple(objects), timeline=(), stop_s=None, report={})
    return build(scenario)


def _price(w: World) -> float:
    return sum(i.price for i in w.deps.ec2.instances(states=("pending", "running")))


def run(apps: int = APPS, replicas: int = REPLICAS, scaled: int = SCALED, seed: int = 42) -> dict[str, Any]:
    """Build, settle, scale down, consolidate; return the metrics ``ekstwin bench consolidation`` prints."""
    passes: list[float] = []
    original = disruption._compute

    def timed(deps: Deps, st: disruption.State, now: float) -> Command | None:
        start = time.perf_counter()
        try:
            return original(deps, st, now)
        finally:
            passes.append(time.perf_counter() - start)

    disruption._compute = timed  # time each pass from outside; the controller never reads the wall clock
    try:
        return _run(apps, replicas, scaled, seed, passes)
    finally:
        disruption._compute = original


def _run(apps: int, replicas: int, scaled: int, seed: int, passes: list[float]) -> dict[str, Any]:
    wall = time.perf_counter()
    w = _world(apps, replicas, seed)
    w.driver.run_until(SETTLE_S)
    build_s = time.perf_counter() - wall
    before_nodes, before_price, before_pods = len(w.store.list("Node")), _price(w), len(w.store.list("Pod"))
    passes.clear()
    for i in range(apps):
        w.store.patch("Deployment", f"app-{i}", "default", {"spec": {"replicas": scaled}})
    t, last_change, decisions = SETTLE_S, SETTLE_S, 0
    consolidate_wall = time.perf_counter()
    while t < HORIZON_S:
        t += 60.0
        w.driver.run_until(t)
        n = sum(1 for d in w.deps.recorder.decisions if d["kind"] == "disruption" and "command_id" in d)
        if n != decisions:
            decisions, last_change = n, t
        elif t - last_change >= QUIET_S:
            break
    pending = sum(1 for p in w.store.list("Pod") if (p.get("status") or {}).get("phase") == "Pending")
    return {"nodes_before": before_nodes, "pods_before": before_pods, "price_before": round(before_price, 4),
            "nodes_after": len(w.store.list("Node")), "price_after": round(_price(w), 4),
            "pods_pending_after": pending, "disruption_commands": decisions,
            "steady_state_after_s": last_change - SETTLE_S, "build_wall_s": round(build_s, 2),
            "consolidation_wall_s": round(time.perf_counter() - consolidate_wall, 2),
            "passes": len(passes), "pass_wall_max_s": round(max(passes, default=0.0), 3),
            "pass_wall_mean_s": round(sum(passes) / len(passes), 3) if passes else 0.0,
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
