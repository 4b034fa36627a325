"""The scheduling cycle: FailedScheduling messages, sampling, tie-breaking, and whole-workload behaviour."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest
from sched_factories import HOSTNAME, ZONE, node, place, pod

from ekstwin.errors import InvalidInput
from ekstwin.scheduling import cycle, registry
from ekstwin.scheduling.snapshot import Snapshot

PROFILE = registry.default_profile()


def schedule(nodes: list[dict[str, Any]], incoming: Any, seed: int = 1, **profile: Any) -> cycle.Decision:
    return cycle.schedule_one(incoming, Snapshot.build(nodes), registry.Profile(**profile), random.Random(seed))


# -- FailedScheduling message ----------------------------------------------------------------------------
def test_reasons_are_counted_across_nodes_in_kube_scheduler_wording() -> None:
    nodes = [node("n1", cpu="2", labels={"team": "a"}), node("n2"), node("n3")]
    d = schedule(nodes, pod("p", cpu="3", nodeSelector={"team": "a"}))
    assert d.node is None and d.feasible == 0
    assert d.message == ("0/3 nodes are available: 1 Insufficient cpu, "
                         "2 node(s) didn't match Pod's node affinity/selector.")


def test_histogram_entries_sort_as_strings_like_go() -> None:
    nodes = [node(f"n{i}", labels={"team": "a"} if i < 2 else {}) for i in range(12)]
    d = schedule(nodes, pod("p", cpu="8", nodeSelector={"team": "a"}))
    assert d.message == ("0/12 nodes are available: 10 node(s) didn't match Pod's node affinity/selector, "
                         "2 Insufficient cpu.")


def test_a_node_short_of_two_resources_counts_for_both_reasons() -> None:
    d = schedule([node("n")], pod("p", cpu="8", memory="32Gi"))
    assert d.message == "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory."


def test_a_node_is_reported_only_for_the_first_filter_it_fails() -> None:
    d = schedule([node("n", unschedulable=True, cpu="1")], pod("p", cpu="8"))
    assert d.message == "0/1 nodes are available: 1 node(s) were unschedulable."


def test_no_nodes_gives_the_no_nodes_message() -> None:
    assert schedule([], pod("p")).message == "no nodes available to schedule pods"


def test_daemonset_pod_pinned_by_matchfields_reports_other_nodes_as_plugin_mismatch() -> None:
    pinned = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]}}}
    d = schedule([node("n1", cpu="1"), node("n2"), node("n3")], pod("ds", cpu="2", affinity=pinned))
    assert d.message == ("0/3 nodes are available: 1 Insufficient cpu, "
                         "2 node(s) didn't satisfy plugin(s) [NodeAffinity].")


# -- selection -------------------------------------------------------------------------------------------
def test_least_allocated_profile_picks_the_emptier_node_and_most_allocated_the_fuller() -> None:
    snap_nodes = [node("empty"), node("busy")]
    busy = pod("q", cpu="2", memory="8Gi")
    for strategy, expected in (("LeastAllocated", "empty"), ("MostAllocated", "busy")):
        snap = Snapshot.build(snap_nodes)
        snap.assume(busy, "busy")
        d = cycle.schedule_one(pod("p"), snap, registry.Profile(scoring_strategy=strategy), random.Random(1))
        assert d.node == expected, strategy
        assert set(d.scores) == {"empty", "busy"}


def test_ties_are_broken_by_the_rng_and_reproducibly() -> None:
    nodes = [node(f"n{i}") for i in range(5)]
    picks = {schedule(nodes, pod("p"), seed=s).node for s in range(40)}
    assert len(picks) > 1
    assert schedule(nodes, pod("p"), seed=3).node == schedule(nodes, pod("p"), seed=3).node


def test_a_single_feasible_node_is_chosen_without_scoring() -> None:
    d = schedule([node("small", cpu="1"), node("big")], pod("p", cpu="2"))
    assert d.node == "big" and d.feasible == 1 and d.scores == {}
    assert d.statuses["small"].reasons == ("Insufficient cpu",)


# -- sampling (percentageOfNodesToScore) ---------------------------------------------------------------------
@pytest.mark.parametrize(("percentage", "nodes", "expected"), [
    (0, 50, 50), (0, 99, 99), (0, 100, 100), (0, 1000, 420), (0, 5000, 500), (0, 10_000, 500),
    (10, 500, 100), (30, 1000, 300), (100, 1000, 1000),
])
def test_num_feasible_nodes_to_find(percentage: int, nodes: int, expected: int) -> None:
    assert cycle.num_feasible_nodes_to_find(percentage, nodes) == expected


def test_filtering_stops_after_enough_feasible_nodes_and_rotates_the_start() -> None:
    snap = Snapshot.build([node(f"n{i:03d}") for i in range(200)])
    profile = registry.Profile(percentage_of_nodes_to_score=10)  # 200·10% = 20 → at least 100
    d = cycle.schedule_one(pod("p"), snap, profile, random.Random(1))
    assert d.evaluated == 100 and d.feasible == 100 and len(d.scores) == 100
    assert min(d.scores) == "n000" and snap.next_start_index == 100
    d = cycle.schedule_one(pod("q"), snap, profile, random.Random(1))
    assert min(d.scores) == "n100" and snap.next_start_index == 0


def test_failed_nodes_during_sampling_are_evaluated_too() -> None:
    nodes = [node(f"n{i:03d}", cpu="1" if i < 50 else "4") for i in range(200)]
    snap = Snapshot.build(nodes)
    d = cycle.schedule_one(pod("p", cpu="2"), snap, registry.Profile(percentage_of_nodes_to_score=10),
                           random.Random(1))
    assert d.evaluated == 150 and d.feasible == 100 and len(d.statuses) == 50


# -- workload behaviour ----------------------------------------------------------------------------------
def zone_of(snap: Snapshot, name: str) -> str:
    return snap.node(name).labels[ZONE]


def test_zone_spread_with_max_skew_1_places_six_pods_two_per_zone() -> None:
    snap = Snapshot.build([node(f"{z}{i}", zone=z) for z in "abc" for i in range(2)])
    constraint = {"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule",
                  "labelSelector": {"matchLabels": {"app": "web"}}}
    pods = [pod(f"w{i}", labels={"app": "web"}, topologySpreadConstraints=[constraint]) for i in range(6)]
    decisions = place(snap, pods)
    assert Counter(zone_of(snap, d.node or "") for d in decisions) == {"a": 2, "b": 2, "c": 2}


def test_hostname_anti_affinity_puts_replicas_on_different_nodes_and_the_fourth_fails() -> None:
    snap = Snapshot.build([node("n1"), node("n2"), node("n3")])
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": HOSTNAME}]}}
    decisions = place(snap, [pod(f"db{i}", labels={"app": "db"}, affinity=anti) for i in range(4)])
    assert sorted(d.node or "" for d in decisions[:3]) == ["n1", "n2", "n3"]
    assert decisions[3].node is None
    assert decisions[3].message == "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules."


def test_zone_self_affinity_keeps_every_replica_in_the_first_replicas_zone() -> None:
    snap = Snapshot.build([node(f"{z}{i}", zone=z) for z in "abc" for i in range(2)])
    aff = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "cache"}}, "topologyKey": ZONE}]}}
    decisions = place(snap, [pod(f"c{i}", labels={"app": "cache"}, affinity=aff) for i in range(6)])
    assert len({zone_of(snap, d.node or "") for d in decisions}) == 1


def test_a_no_schedule_taint_blocks_and_a_prefer_no_schedule_taint_only_lowers_the_score() -> None:
    hard = [{"key": "team", "value": "x", "effect": "NoSchedule"}]
    soft = [{"key": "team", "value": "x", "effect": "PreferNoSchedule"}]
    assert schedule([node("tainted", taints=hard), node("clean", cpu="1")], pod("p")).node == "clean"
    assert schedule([node("tainted", taints=hard)], pod("p")).node is None
    assert schedule([node("tainted", taints=soft), node("clean", cpu="1")], pod("p")).node == "clean"
    assert schedule([node("tainted", taints=soft)], pod("p")).node == "tainted"


def test_the_scheduler_loop_never_places_more_pods_than_fit() -> None:
    snap = Snapshot.build([node("n1", cpu="1"), node("n2", cpu="1")])
    decisions = place(snap, [pod(f"p{i}", cpu="300m") for i in range(8)])
    assert sum(d.node is not None for d in decisions) == 6
    assert decisions[-1].message == "0/2 nodes are available: 2 Insufficient cpu."
    snap.check_valid()


# -- profiles --------------------------------------------------------------------------------------------
def test_default_profile_has_kube_scheduler_weights() -> None:
    assert dict(PROFILE.scores) == {"TaintToleration": 3, "NodeAffinity": 2, "NodeResourcesFit": 1,
                                    "PodTopologySpread": 2, "InterPodAffinity": 2,
                                    "NodeResourcesBalancedAllocation": 1}


@pytest.mark.parametrize("bad", [{"filters": ("Nope",)}, {"scores": (("Nope", 1),)},
                                 {"scoring_strategy": "RequestedToCapacityRatio"},
                                 {"percentage_of_nodes_to_score": 101}, {"scores": (("NodeAffinity", -1),)}])
def test_profiles_reject_unknown_plugins_and_bad_numbers(bad: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        registry.Profile(**bad)


def test_conflicting_node_name_pins_fail_in_prefilter() -> None:
    pinned = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]},
                         {"key": "metadata.name", "operator": "In", "values": ["n2"]}]}]}}}
    d = schedule([node("n1"), node("n2")], pod("ds", affinity=pinned))
    assert d.node is None and d.message == "0/2 nodes are available: pod affinity terms conflict."
