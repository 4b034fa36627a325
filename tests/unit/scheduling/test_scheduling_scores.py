"""Score plugins: kube-scheduler's formulas and normalizations, pinned to hand-computed numbers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sched_factories import ZONE, node, pod, pod_dict

from ekstwin.model.pod import PodInfo
from ekstwin.scheduling import framework
from ekstwin.scheduling.framework import CycleState, ScoreFn
from ekstwin.scheduling.scores import (
    balanced,
    least_allocated,
    most_allocated,
    node_affinity,
    pod_affinity,
    taint_toleration,
    topology_spread,
)
from ekstwin.scheduling.snapshot import Snapshot


def scores(fn: ScoreFn, nodes: list[dict[str, Any]], incoming: PodInfo,
           bound: list[dict[str, Any]] | None = None) -> dict[str, int] | None:
    snap = Snapshot.build(nodes, bound or [])
    out = fn(CycleState(incoming, snap), np.arange(len(snap), dtype=np.int64))
    return None if out is None else dict(zip(snap.names.tolist(), out.tolist(), strict=True))


TWO = [node("empty"), node("busy")]
BUSY = [pod_dict("q", cpu="2", memory="8Gi", node_name="busy")]


def test_least_allocated_prefers_the_emptier_node() -> None:
    # empty: cpu (4000−100)·100/4000 = 97, memory (16384−128)·100/16384 = 99 → (97+99)//2 = 98
    # busy:  cpu (4000−2100)·100/4000 = 47, memory (16384−8320)·100/16384 = 49 → 48
    assert scores(least_allocated.score, TWO, pod("p"), BUSY) == {"empty": 98, "busy": 48}


def test_most_allocated_prefers_the_fuller_node() -> None:
    # empty: cpu 100·100/4000 = 2, memory 128·100/16384 = 0 → 1; busy: 52, 50 → 51
    assert scores(most_allocated.score, TWO, pod("p"), BUSY) == {"empty": 1, "busy": 51}


def test_resource_scores_count_missing_requests_as_100m_and_200mi() -> None:
    # best effort: cpu (4000−100)·100/4000 = 97, memory (16384−200)·100/16384 = 98 → 97
    assert scores(least_allocated.score, [node("n")], pod("p", cpu=None, memory=None)) == {"n": 97}


def test_balanced_allocation_scores_the_gap_between_cpu_and_memory_fractions() -> None:
    # after the pod: cpu 2/4 = 0.5, memory 4/16 = 0.25 → std 0.125 → 87
    incoming = pod("p", cpu="2", memory="4Gi")
    assert scores(balanced.score, [node("n")], incoming) == {"n": 87}
    assert scores(balanced.score, [node("n")], pod("p", cpu="2", memory="8Gi")) == {"n": 100}


def test_balanced_allocation_is_skipped_for_best_effort_pods() -> None:
    assert scores(balanced.score, [node("n")], pod("p", cpu=None, memory=None)) is None


def soft_taint(key: str) -> dict[str, str]:
    return {"key": key, "value": "", "effect": "PreferNoSchedule"}


@pytest.mark.parametrize(("case", "tolerations", "expected"), [
    ("fewer untolerated PreferNoSchedule taints score higher",
     [], {"clean": 100, "one": 50, "two": 0}),
    ("tolerated taints do not count", [{"key": "x", "operator": "Exists", "effect": "PreferNoSchedule"}],
     {"clean": 100, "one": 100, "two": 0}),
    ("all tolerated gives everyone 100", [{"operator": "Exists"}], {"clean": 100, "one": 100, "two": 100}),
])
def test_taint_toleration_score(case: str, tolerations: list[dict[str, str]], expected: dict[str, int]) -> None:
    nodes = [node("clean"), node("one", taints=[soft_taint("x")]),
             node("two", taints=[soft_taint("x"), soft_taint("y")])]
    assert scores(taint_toleration.score, nodes, pod("p", tolerations=tolerations)) == expected, case


def test_node_affinity_score_sums_matching_weights_scaled_to_the_best_node() -> None:
    preferred = [{"weight": 30, "preference": {"matchExpressions": [
                     {"key": "disk", "operator": "In", "values": ["ssd"]}]}},
                 {"weight": 10, "preference": {"matchExpressions": [
                     {"key": "zone", "operator": "Exists"}]}}]
    incoming = pod("p", affinity={"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": preferred}})
    nodes = [node("both", labels={"disk": "ssd", "zone": "z"}), node("ssd", labels={"disk": "ssd"}),
             node("none")]
    assert scores(node_affinity.score, nodes, incoming) == {"both": 100, "ssd": 75, "none": 0}
    assert scores(node_affinity.score, nodes, pod("q")) is None


def test_topology_spread_score_prefers_the_emptier_zone() -> None:
    constraint = {"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "ScheduleAnyway",
                  "labelSelector": {"matchLabels": {"app": "web"}}}
    spec: dict[str, Any] = {"topologySpreadConstraints": [constraint]}
    nodes = [node("a1", zone="a"), node("b1", zone="b")]
    bound = [pod_dict(f"w{i}", labels={"app": "web"}, node_name="a1") for i in range(2)]
    # raw a1 = 2·ln(4) = 2.77 → 3, b1 = 0 → normalized 100·(3+0−s)/3
    assert scores(topology_spread.score, nodes, pod("p", labels={"app": "web"}, **spec), bound) == {
        "a1": 0, "b1": 100}


def test_system_default_spreading_applies_to_replicaset_pods_without_constraints() -> None:
    nodes = [node("a1", zone="a"), node("b1", zone="b")]
    bound = [pod_dict("w0", labels={"app": "web"}, node_name="a1", owner="web")]
    owned = pod("p", labels={"app": "web"}, owner="web")
    # a1: hostname 1·ln(4)+2 + zone 1·ln(4)+4 = 8.77 → 9; b1: 2 + 4 = 6 → 100·(9+6−s)/9
    assert scores(topology_spread.score, nodes, owned, bound) == {"a1": 66, "b1": 100}
    assert scores(topology_spread.score, nodes, pod("p", labels={"app": "web"}), bound) is None


def test_inter_pod_affinity_score_adds_preferred_weights_per_domain() -> None:
    term = {"weight": 50, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": ZONE}}
    anti = {"weight": 20, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "web"}},
                                              "topologyKey": ZONE}}
    incoming = pod("p", affinity={"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [term]},
                                  "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [anti]}})
    nodes = [node("a1", zone="a"), node("b1", zone="b"), node("c1", zone="c")]
    bound = [pod_dict("db", labels={"app": "db"}, node_name="a1"),
             pod_dict("web", labels={"app": "web"}, node_name="b1")]
    # raw a = +50, b = −20, c = 0 → (s − min)·100/(max − min)
    assert scores(pod_affinity.score, nodes, incoming, bound) == {"a1": 100, "b1": 0, "c1": 28}


def test_inter_pod_affinity_score_counts_existing_pods_required_affinity_with_weight_1() -> None:
    required = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": ZONE}]}}
    nodes = [node("a1", zone="a"), node("b1", zone="b")]
    bound = [pod_dict("cache", labels={"app": "cache"}, node_name="b1", affinity=required)]
    assert scores(pod_affinity.score, nodes, pod("p", labels={"app": "web"}), bound) == {"a1": 0, "b1": 100}
    assert scores(pod_affinity.score, nodes, pod("p", labels={"app": "api"}), bound) is None


def test_normalize_by_max_matches_default_normalize_score() -> None:
    raw = np.array([0, 1, 3], dtype=np.int64)
    assert framework.normalize_by_max(raw).tolist() == [0, 33, 100]
    assert framework.normalize_by_max(raw, reverse=True).tolist() == [100, 67, 0]
    assert framework.normalize_by_max(np.zeros(2, dtype=np.int64), reverse=True).tolist() == [100, 100]
