"""Micro-benchmark (not a test): 1,000 m5.xlarge-like nodes in 3 zones, 20,000 small pods one by one.

Run: ``.venv/bin/python tests/unit/scheduling/bench_scheduling.py [--constraints] [--profile]``. Pods come from 20
Deployments (owned by ReplicaSets, so the system default topology spreading is active), with the
default profile (adaptive percentageOfNodesToScore → 420 feasible nodes per cycle). ``--constraints``
adds a zone DoNotSchedule spread and a preferred hostname anti-affinity to every pod.
"""

from __future__ import annotations

import cProfile
import pstats
import random
import sys
import time

from ekstwin.model.pod import PodInfo
from ekstwin.scheduling import cycle, registry
from ekstwin.scheduling.snapshot import Snapshot

NODES, PODS, DEPLOYMENTS = 1000, 20_000, 20


def nodes() -> list[dict[str, object]]:
    return [{"metadata": {"name": f"ip-10-0-{i // 250}-{i % 250}",
                          "labels": {"kubernetes.io/hostname": f"ip-10-0-{i // 250}-{i % 250}",
                                     "topology.kubernetes.io/zone": f"eu-west-1{'abc'[i % 3]}",
                                     "node.kubernetes.io/instance-type": "m5.xlarge"}},
             "status": {"allocatable": {"cpu": "3920m", "memory": "14Gi", "pods": "58"}}} for i in range(NODES)]


def pods(constrained: bool) -> list[PodInfo]:
    out = []
    for i in range(PODS):
        d = i % DEPLOYMENTS
        spec: dict[str, object] = {
            "containers": [{"name": "c", "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}}}]}
        if constrained:  # zone DoNotSchedule spread + preferred hostname anti-affinity
            selector = {"matchLabels": {"app": f"app{d}"}}
            spec["topologySpreadConstraints"] = [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                                  "whenUnsatisfiable": "DoNotSchedule", "labelSelector": selector}]
            spec["affinity"] = {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 100, "podAffinityTerm": {"labelSelector": selector,
                                                    "topologyKey": "kubernetes.io/hostname"}}]}}
        out.append(PodInfo.parse({
            "metadata": {"name": f"app{d}-{i}", "namespace": "default", "uid": f"u{i}",
                         "labels": {"app": f"app{d}", "pod-template-hash": f"h{d}"},
                         "ownerReferences": [{"kind": "ReplicaSet", "name": f"app{d}-h{d}", "controller": True}]},
            "spec": spec}))
    return out


def run(constrained: bool = False) -> tuple[int, float]:
    snap = Snapshot.build(nodes())
    work = pods(constrained)
    profile = registry.default_profile()
    rng = random.Random(7)
    placed = 0
    start = time.perf_counter()
    for p in work:
        d = cycle.schedule_one(p, snap, profile, rng)
        if d.node is not None:
            snap.assume(p, d.node)
            placed += 1
    return placed, time.perf_counter() - start


if __name__ == "__main__":
    if "--profile" in sys.argv:
        cProfile.run("run()", "/tmp/sched.prof")
        pstats.Stats("/tmp/sched.prof").sort_stats("cumulative").print_stats(30)
    else:
        placed, seconds = run("--constraints" in sys.argv)
        print(f"placed {placed}/{PODS} pods on {NODES} nodes in {seconds:.2f}s: {PODS / seconds:,.0f} pods/s")
