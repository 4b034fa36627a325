"""Snapshot: building from dicts, incremental assume/forget, cached counts, and host-port bookkeeping."""

from __future__ import annotations

import pytest
from sched_factories import node, pod, pod_dict

from ekstwin.errors import Conflict, InvalidInput, NotFound
from ekstwin.model.selectors import LabelSelector
from ekstwin.scheduling import cycle, registry, topology
from ekstwin.scheduling.snapshot import NodeInfo, Snapshot
from ekstwin.units.resources import Resources

MI = 2**20


def test_build_counts_bound_pods_on_their_nodes() -> None:
    snap = Snapshot.build([node("a"), node("b")], [pod_dict("p1", cpu="1", node_name="a"),
                                                   pod_dict("p2", cpu="500m", memory=None, node_name="a")])
    a = snap.node("a")
    assert a.requested == Resources({"cpu": 1500, "memory": 128 * MI, "pods": 2})
    assert a.nonzero_cpu_m == 1500 and a.nonzero_memory_b == 128 * MI + 200 * MI
    assert snap.free_cpu.tolist() == [2500, 4000] and snap.free_pods.tolist() == [108, 110]
    snap.check_valid()


@pytest.mark.parametrize(("case", "raw"), [
    ("succeeded pods are not counted", {**pod_dict("p", node_name="a"), "status": {"phase": "Succeeded"}}),
    ("failed pods are not counted", {**pod_dict("p", node_name="a"), "status": {"phase": "Failed"}}),
    ("pending pods without a node are not counted", pod_dict("p")),
    ("pods on unknown nodes are not counted", pod_dict("p", node_name="gone")),
])
def test_build_skips_pods_the_scheduler_cache_never_holds(case: str, raw: dict[str, object]) -> None:
    snap = Snapshot.build([node("a")], [raw])
    assert snap.node("a").pod_count == 0, case


def test_terminating_pods_still_use_resources() -> None:
    snap = Snapshot.build([node("a")], [pod_dict("p", cpu="1", node_name="a", deleting=True)])
    assert snap.free_cpu.tolist() == [3000]


def test_allocatable_falls_back_to_capacity_and_ready_comes_from_conditions() -> None:
    raw = {"metadata": {"name": "n"}, "status": {"capacity": {"cpu": "2", "pods": "10"},
                                                  "conditions": [{"type": "Ready", "status": "False"}]}}
    n = Snapshot.build([raw]).node("n")
    assert n.allocatable == Resources({"cpu": 2000, "pods": 10}) and n.ready is False


def test_assume_and_forget_are_inverse() -> None:
    snap = Snapshot.build([node("a"), node("b")])
    p = pod("p", cpu="1", labels={"app": "web"})
    web = topology.spread_counts(snap, "default", LabelSelector((("app", "web"),)))  # kept current
    snap.assume(p, "b")
    assert snap.node_of(p) == "b" and web.tolist() == [0, 1] and snap.free_cpu.tolist() == [4000, 3000]
    snap.check_valid()
    snap.forget(p)
    assert snap.node_of(p) is None and web.tolist() == [0, 0] and snap.free_cpu.tolist() == [4000, 4000]
    snap.check_valid()


@pytest.mark.parametrize(("case", "action", "error"), [
    ("assuming the same pod twice is a conflict", lambda s: s.assume(pod("p"), "a"), Conflict),
    ("assuming onto an unknown node is not found", lambda s: s.assume(pod("q"), "zz"), NotFound),
    ("forgetting an unknown pod is not found", lambda s: s.forget(pod("q")), NotFound),
])
def test_bad_updates_raise(case: str, action: object, error: type[Exception]) -> None:
    snap = Snapshot.build([node("a")], [pod_dict("p", node_name="a")])
    with pytest.raises(error):
        action(snap)  # type: ignore[operator]


def test_duplicate_node_names_are_rejected() -> None:
    with pytest.raises(InvalidInput, match="duplicate node name"):
        Snapshot.build([node("a"), node("a")])


def test_label_codes_mark_absent_labels_with_minus_one() -> None:
    snap = Snapshot.build([node("a", zone="x"), node("b", zone=None), node("c", zone="x")])
    codes, vocab = snap.codes("topology.kubernetes.io/zone")
    assert codes.tolist() == [0, -1, 0] and vocab == ("x",)
    assert snap.value_id("topology.kubernetes.io/zone", "nope") == -2


@pytest.mark.parametrize(("case", "used", "query", "conflict"), [
    ("same wildcard port", ("0.0.0.0", "TCP", 80), ("", "", 80), True),
    ("port 0 never conflicts", ("0.0.0.0", "TCP", 80), ("0.0.0.0", "TCP", 0), False),
    ("same specific ip", ("10.0.0.1", "UDP", 53), ("10.0.0.1", "UDP", 53), True),
    ("other protocol", ("10.0.0.1", "UDP", 53), ("10.0.0.1", "TCP", 53), False),
])
def test_port_conflicts(case: str, used: tuple[str, str, int], query: tuple[str, str, int], conflict: bool) -> None:
    n = NodeInfo(0, "n", {}, (), Resources())
    n.used_ports[used] = 1
    assert n.port_conflict(*query) is conflict, case


def test_forgetting_a_pod_removes_its_anti_affinity_from_the_symmetry_index() -> None:
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}]}}
    guard = pod("guard", labels={"app": "db"}, affinity=anti)
    snap = Snapshot.build([node("a")])
    snap.assume(guard, "a")
    profile = registry.Profile(filters=("InterPodAffinity",), scores=())
    assert not cycle.filter_statuses(pod("w", labels={"app": "web"}), snap, profile)["a"].is_success
    snap.check_valid()
    snap.forget(guard)
    assert cycle.filter_statuses(pod("w", labels={"app": "web"}), snap, profile)["a"].is_success
    snap.check_valid()
