"""Property: scheduling random pods one by one with ``assume`` never overcommits a node."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ekstwin.model.pod import PodInfo
from ekstwin.scheduling import cycle, registry
from ekstwin.scheduling.snapshot import Snapshot
from ekstwin.units.resources import Resources

GPU = "example.com/gpu"
ZONE = "topology.kubernetes.io/zone"


@st.composite
def node_dicts(draw: st.DrawFn) -> list[dict[str, Any]]:
    out = []
    for i in range(draw(st.integers(1, 6))):
        alloc = {"cpu": f"{draw(st.integers(0, 4000))}m", "memory": f"{draw(st.integers(0, 8192))}Mi",
                 "pods": str(draw(st.integers(0, 8)))}
        if draw(st.booleans()):
            alloc[GPU] = str(draw(st.integers(0, 2)))
        taints = [{"key": "t", "effect": "NoSchedule"}] if draw(st.integers(0, 4)) == 0 else []
        out.append({"metadata": {"name": f"n{i}", "labels": {ZONE: draw(st.sampled_from("ab")),
                                                             "kubernetes.io/hostname": f"n{i}"}},
                    "spec": {"taints": taints, "unschedulable": draw(st.integers(0, 6)) == 0},
                    "status": {"allocatable": alloc}})
    return out


@st.composite
def pod_infos(draw: st.DrawFn) -> list[PodInfo]:
    out = []
    for i in range(draw(st.integers(1, 30))):
        requests: dict[str, str] = {}
        if draw(st.booleans()):
            requests["cpu"] = f"{draw(st.integers(0, 2000))}m"
        if draw(st.booleans()):
            requests["memory"] = f"{draw(st.integers(0, 4096))}Mi"
        if draw(st.integers(0, 3)) == 0:
            requests[GPU] = "1"
        spec: dict[str, Any] = {"containers": [{"name": "c", "resources": {"requests": requests}}]}
        if draw(st.integers(0, 3)) == 0:
            spec["topologySpreadConstraints"] = [{"maxSkew": 1, "topologyKey": ZONE,
                                                  "whenUnsatisfiable": draw(st.sampled_from(
                                                      ["DoNotSchedule", "ScheduleAnyway"])),
                                                  "labelSelector": {"matchLabels": {"app": "x"}}}]
        if draw(st.integers(0, 3)) == 0:
            spec["tolerations"] = [{"operator": "Exists"}]
        out.append(PodInfo.parse({"metadata": {"name": f"p{i}", "uid": f"u{i}", "labels": {"app": "x"}},
                                  "spec": spec}))
    return out


@settings(max_examples=150, deadline=None)
@given(node_dicts(), pod_infos(), st.sampled_from(["LeastAllocated", "MostAllocated"]), st.integers(0, 2**32))
def test_scheduling_one_by_one_never_overcommits_a_node(nodes: list[dict[str, Any]], pods: list[PodInfo],
                                                        strategy: str, seed: int) -> None:
    snap = Snapshot.build(nodes)
    profile = registry.Profile(scoring_strategy=strategy)
    rng = random.Random(seed)
    for p in pods:
        decision = cycle.schedule_one(p, snap, profile, rng)
        if decision.node is None:
            assert decision.message  # every unplaced pod gets a reason
        else:
            snap.assume(p, decision.node)
    snap.check_valid()
    for n in snap.nodes:
        used: Resources = n.requested
        for name, amount in used.items():
            if name != "pods":
                assert amount <= n.allocatable[name], (n.name, name, amount, n.allocatable)
        assert n.pod_count <= n.allocatable["pods"], n.name
