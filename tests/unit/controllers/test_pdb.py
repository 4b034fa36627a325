"""The disruption controller's PodDisruptionBudget status (controllers/pdb.py), one rule per test."""

from __future__ import annotations

from typing import Any

import pytest
from tests.harness import world

from ekstwin.controllers import pdb
from ekstwin.scenario.world import World

Obj = dict[str, Any]


@pytest.fixture
def w() -> World:
    return world()  # nothing runs unless a test drives the clock; reconciles are called directly


def workload(w: World, name: str, replicas: int, pods: int, *, ready: int | None = None) -> list[Obj]:
    """A Deployment → ReplicaSet → ``pods`` pods labelled app=<name>, the first ``ready`` of them Ready."""
    dep = w.store.create({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
                          "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}}})
    rs = w.store.create({"apiVersion": "apps/v1", "kind": "ReplicaSet",
                         "metadata": {"name": f"{name}-rs", "ownerReferences": [owner(dep)]},
                         "spec": {"replicas": replicas}})
    ready = pods if ready is None else ready
    return [make_pod(w, f"{name}-{i}", {"app": name}, ready=i < ready, owners=[owner(rs)]) for i in range(pods)]


def owner(obj: Obj) -> Obj:
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True}


def make_pod(w: World, name: str, labels: dict[str, str], *, ready: bool = True, owners: list[Obj] | None = None,
             phase: str = "Running") -> Obj:
    return w.store.create({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": labels, "ownerReferences": owners or []},
        "spec": {"nodeName": "node-a", "containers": [{"name": "c", "image": "pause"}],
                 "terminationGracePeriodSeconds": 30},
        "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}})


def budget(w: World, name: str = "web", **spec: Any) -> Obj:
    return w.store.create({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name},
                           "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec}})


def synced(w: World, name: str = "web") -> Obj:
    pdb.reconcile(w.deps, f"default/{name}", w.clock.now())
    status: Obj = w.store.get("PodDisruptionBudget", name)["status"]
    return status


def numbers(status: Obj) -> tuple[int, int, int, int]:
    return (status["expectedPods"], status["currentHealthy"], status["desiredHealthy"], status["disruptionsAllowed"])


def test_min_available_2_of_3_ready_pods_allows_one_disruption(w: World) -> None:
    workload(w, "web", 3, 3)
    budget(w, minAvailable=2)
    assert numbers(synced(w)) == (3, 3, 2, 1)


def test_max_unavailable_1_of_3_replicas_allows_one_disruption(w: World) -> None:
    workload(w, "web", 3, 3)
    budget(w, maxUnavailable=1)
    assert numbers(synced(w)) == (3, 3, 2, 1)


def test_max_unavailable_50_percent_of_3_rounds_up_to_two_unavailable(w: World) -> None:
    workload(w, "web", 3, 3)
    budget(w, maxUnavailable="50%")
    assert numbers(synced(w)) == (3, 3, 1, 2)


def test_min_available_100_percent_allows_no_disruption(w: World) -> None:
    workload(w, "web", 3, 3)
    budget(w, minAvailable="100%")
    status = synced(w)
    assert numbers(status) == (3, 3, 3, 0)
    (cond,) = status["conditions"]
    assert (cond["type"], cond["status"], cond["reason"]) == ("DisruptionAllowed", "False", "InsufficientPods")


def test_percentages_scale_with_the_deployments_replicas_not_the_pods_that_exist(w: World) -> None:
    workload(w, "web", 4, 3)  # one replica not created yet
    budget(w, minAvailable="50%")
    assert numbers(synced(w)) == (4, 3, 2, 1)


def test_not_ready_and_terminating_pods_are_not_healthy(w: World) -> None:
    pods = workload(w, "web", 3, 3, ready=2)
    w.store.delete("Pod", pods[0]["metadata"]["name"])  # bound: graceful, stays while terminating
    budget(w, minAvailable=1)
    assert numbers(synced(w)) == (3, 1, 1, 0)


def test_no_disruption_is_allowed_while_no_pod_is_expected(w: World) -> None:
    budget(w, maxUnavailable=5)
    assert numbers(synced(w)) == (0, 0, 0, 0)
    assert any(e["reason"] == "NoPods" for e in w.store.list("Event"))


def test_status_records_the_generation_it_was_computed_for(w: World) -> None:
    workload(w, "web", 3, 3)
    created = budget(w, minAvailable=2)
    w.store.update({**created, "spec": {**created["spec"], "minAvailable": 1}})
    status = synced(w)
    assert status["observedGeneration"] == 2 and status["disruptionsAllowed"] == 2


def test_daemonset_pods_under_max_unavailable_fail_safe_with_zero_allowed(w: World) -> None:
    ds = w.store.create({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"}, "spec": {}})
    make_pod(w, "agent-1", {"app": "web"}, owners=[owner(ds)])
    budget(w, maxUnavailable=1)
    status = synced(w)
    assert status["disruptionsAllowed"] == 0
    (cond,) = status["conditions"]
    assert cond["reason"] == "SyncFailed" and "does not implement the scale subresource" in cond["message"]


def test_an_eviction_not_followed_by_a_deletion_stops_counting_after_two_minutes(w: World) -> None:
    workload(w, "web", 3, 3)
    created = budget(w, minAvailable=2)
    stamp = w.store.format_time(0)
    w.store.update_status({**created, "status": {"disruptedPods": {"web-0": stamp}}})
    assert numbers(synced(w)) == (3, 2, 2, 0)
    w.clock.set(121.0)  # time passes; nothing else runs
    status = synced(w)
    assert numbers(status) == (3, 3, 2, 1) and "disruptedPods" not in status
    assert any(e["reason"] == "NotDeleted" for e in w.store.list("Event"))


def wake_keys(w: World, action: Any) -> list[list[str]]:
    """The PDB keys each pod event of ``action()`` wakes."""
    (fn,) = [x.key_fn for x in pdb.watches(w.deps) if x.kind == "Pod"]
    seen: list[list[str]] = []
    unsubscribe = w.store.subscribe(lambda ev: seen.append(list(fn(ev) or [])), kind="Pod")
    action()
    unsubscribe()
    return seen


def test_a_pod_change_wakes_only_the_pdbs_whose_selector_matches_it(w: World) -> None:
    budget(w, "web", minAvailable=1)
    budget(w, "api", selector={"matchLabels": {"app": "api"}}, minAvailable=1)
    assert wake_keys(w, lambda: make_pod(w, "web-9", {"app": "web"})) == [["refresh:default/web"]]


def test_a_healthy_pod_that_stops_being_healthy_makes_its_pdb_recount_at_once(w: World) -> None:
    workload(w, "web", 3, 3)
    budget(w, minAvailable=2)
    assert wake_keys(w, lambda: w.store.delete("Pod", "web-0")) == [["default/web"]]


def test_recounts_that_can_only_raise_the_allowance_happen_at_most_once_a_second(w: World) -> None:
    workload(w, "web", 3, 3)
    budget(w, minAvailable=2)
    synced(w)  # a recount at t=0
    w.clock.set(0.5)
    assert pdb.reconcile(w.deps, "refresh:default/web", 0.5).requeue_after == 0.5
