"""The Eviction API and Karpenter's PDB checks (controllers/eviction.py), one rule per test."""

from __future__ import annotations

from typing import Any

import pytest
from tests.harness import world
from tests.unit.controllers.test_pdb import budget, make_pod, synced, workload

from ekstwin.controllers import eviction
from ekstwin.scenario.world import World

Obj = dict[str, Any]


@pytest.fixture
def w() -> World:
    return world()


def evict(w: World, pod: Obj) -> eviction.EvictionResult:
    return eviction.evict(w.deps, pod, w.clock.now())


def requests(w: World, code: str) -> int:
    return w.deps.recorder.metrics[(eviction.EVICTION_METRIC, (("code", code),))]


def test_a_pod_no_pdb_covers_is_evicted_and_deleted_gracefully(w: World) -> None:
    (pod,) = workload(w, "web", 1, 1)
    assert evict(w, pod).code == 200
    stored = w.store.get("Pod", "web-0")
    assert stored["metadata"]["deletionTimestamp"] and stored["metadata"]["deletionGracePeriodSeconds"] == 30
    assert any(c["type"] == "DisruptionTarget" and c["reason"] == "EvictionByEvictionAPI"
               for c in stored["status"]["conditions"])
    assert requests(w, "200") == 1


def test_max_unavailable_zero_answers_429_and_leaves_the_pod_alone(w: World) -> None:
    pod = workload(w, "web", 3, 3)[0]
    budget(w, maxUnavailable=0)
    synced(w)
    result = evict(w, pod)
    assert (result.code, result.reason, result.message) == (
        429, "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption budget.")
    assert result.cause == "The disruption budget web needs 3 healthy pods and has 3 currently"
    assert not w.store.get("Pod", "web-0")["metadata"].get("deletionTimestamp")
    assert requests(w, "429") == 1


def test_a_pod_covered_by_two_pdbs_answers_500(w: World) -> None:
    pod = workload(w, "web", 3, 3)[0]
    budget(w, "one", maxUnavailable=1)
    budget(w, "two", maxUnavailable=1)
    synced(w, "one")
    synced(w, "two")
    result = evict(w, pod)
    assert result.code == 500 and "more than one PodDisruptionBudget" in result.message
    assert not w.store.get("Pod", "web-0")["metadata"].get("deletionTimestamp")


def test_an_approved_eviction_spends_the_budget_at_once_so_a_second_in_the_same_instant_gets_429(w: World) -> None:
    first, second, _ = workload(w, "web", 3, 3)
    budget(w, minAvailable=2)
    assert synced(w)["disruptionsAllowed"] == 1
    assert evict(w, first).code == 200
    status = w.store.get("PodDisruptionBudget", "web")["status"]
    assert status["disruptionsAllowed"] == 0 and set(status["disruptedPods"]) == {"web-0"}
    assert evict(w, second).code == 429


def test_a_pdb_not_synced_for_its_generation_answers_429(w: World) -> None:
    pod = workload(w, "web", 3, 3)[0]
    budget(w, maxUnavailable=3)  # the disruption controller has not run yet
    result = evict(w, pod)
    assert result.code == 429 and result.cause == "The disruption budget web is still being processed by the server."


def test_always_allow_lets_a_not_ready_pod_go_without_spending_the_budget(w: World) -> None:
    pods = workload(w, "web", 3, 3, ready=2)
    budget(w, maxUnavailable=0, unhealthyPodEvictionPolicy="AlwaysAllow")
    synced(w)
    assert evict(w, pods[2]).code == 200
    assert evict(w, pods[0]).code == 429  # a Ready pod is still guarded


def test_if_healthy_budget_lets_a_not_ready_pod_go_only_while_the_budget_is_met(w: World) -> None:
    pods = workload(w, "web", 3, 3, ready=2)
    budget(w, minAvailable=2)  # 2 healthy, 2 desired: met, nothing to spare
    synced(w)
    assert evict(w, pods[2]).code == 200
    budget(w, "strict", selector={"matchLabels": {"app": "api"}}, minAvailable=3)
    api = workload(w, "api", 3, 3, ready=2)
    synced(w, "strict")
    assert evict(w, api[2]).code == 429  # 2 healthy < 3 desired


def test_a_terminal_pod_is_deleted_without_looking_at_pdbs(w: World) -> None:
    workload(w, "web", 3, 3)
    budget(w, maxUnavailable=0)
    synced(w)
    done = make_pod(w, "job", {"app": "web"}, phase="Succeeded")
    assert evict(w, done).code == 200
    assert w.store.get("Pod", "job")["metadata"].get("deletionTimestamp")


def test_an_evicted_pod_that_is_gone_answers_404(w: World) -> None:
    (pod,) = workload(w, "web", 1, 1)
    w.store.delete("Pod", "web-0", grace_seconds=0)
    assert evict(w, pod).code == 404


def test_blocking_pdb_names_a_pdb_with_no_disruptions_left(w: World) -> None:
    pod = workload(w, "web", 3, 3)[0]
    budget(w, minAvailable=3)
    synced(w)
    assert eviction.blocking_pdb(w.store.list("PodDisruptionBudget"), pod) == "default/web"


def test_blocking_pdb_ignores_pods_the_drain_would_not_evict(w: World) -> None:
    pod = workload(w, "web", 3, 3)[0]
    budget(w, minAvailable=3)
    synced(w)
    keep = {**pod, "metadata": {**pod["metadata"], "annotations": {"karpenter.sh/do-not-disrupt": "true"}}}
    tolerant = {**pod, "spec": {**pod["spec"], "tolerations": [{"operator": "Exists"}]}}
    pdbs = w.store.list("PodDisruptionBudget")
    assert eviction.blocking_pdb(pdbs, keep) is None and eviction.blocking_pdb(pdbs, tolerant) is None


def test_blocking_pdb_lets_a_not_ready_pod_pass_an_always_allow_pdb(w: World) -> None:
    pod = workload(w, "web", 3, 3, ready=0)[0]
    budget(w, maxUnavailable=0, unhealthyPodEvictionPolicy="AlwaysAllow")
    synced(w)
    assert eviction.blocking_pdb(w.store.list("PodDisruptionBudget"), pod) is None


@pytest.mark.parametrize(("spec", "blocks"), [
    ({"maxUnavailable": 0}, True), ({"maxUnavailable": "0%"}, True), ({"minAvailable": "100%"}, True),
    ({"maxUnavailable": 1}, False), ({"minAvailable": 3}, False), ({"minAvailable": "99%"}, False)])
def test_fully_blocking_pdbs_are_max_unavailable_zero_or_min_available_100_percent(spec: Obj, blocks: bool) -> None:
    assert eviction.fully_blocking({"spec": spec}) is blocks
