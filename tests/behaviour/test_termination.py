"""Karpenter's node termination (taint, drain, instance termination), end to end through the controllers."""

from __future__ import annotations

from typing import Any

from tests.harness import deployment, events, logs, nodeclass, nodepool, seconds, world

from ekstwin.scenario.world import World
from ekstwin.store.watch import WatchEvent

DELETE_AT = 120.0  # the node is Ready and its pods Running well before this


def running_world(*objects: dict[str, Any], pool: dict[str, Any] | None = None) -> tuple[World, str, str]:
    """A world with one Ready node running the given workloads at ``DELETE_AT``: (world, node, nodeclaim)."""
    w = world(pool or nodepool(), nodeclass(), *objects)
    w.driver.run_until(DELETE_AT)
    (claim,) = w.store.list("NodeClaim")
    node = claim["status"]["nodeName"]
    assert all(p["status"]["phase"] == "Running" for p in w.store.list("Pod", "default"))
    return w, node, claim["metadata"]["name"]


def pdb(max_unavailable: int) -> dict[str, Any]:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web"},
            "spec": {"maxUnavailable": max_unavailable, "selector": {"matchLabels": {"app": "web"}}}}


def pinned(name: str, *, annotations: dict[str, str], grace: int) -> dict[str, Any]:
    d = deployment(name, 1, cpu="100m", memory="128Mi", terminationGracePeriodSeconds=grace)
    d["spec"]["template"]["metadata"]["annotations"] = annotations
    return d


def with_grace_period(period: str) -> dict[str, Any]:
    pool = nodepool()
    pool["spec"]["template"]["spec"]["terminationGracePeriod"] = period
    return pool


def instance_of(w: World, node: str) -> Any:
    (inst,) = [i for i in w.deps.ec2.instances() if i.private_dns_name == node]
    return inst


def test_deleting_a_nodeclaim_drains_and_terminates_its_node_and_the_pods_come_back_elsewhere() -> None:
    w, node, claim = running_world(deployment("web", 3, cpu="500m", memory="512Mi"))
    old_pods = {p["metadata"]["name"] for p in w.store.list("Pod", "default")}
    w.store.delete("NodeClaim", claim)
    w.driver.run_until(DELETE_AT + 300)
    assert w.store.try_get("Node", node) is None and w.store.try_get("NodeClaim", claim) is None
    assert instance_of(w, node).state == "terminated"
    pods = w.store.list("Pod", "default")
    assert len(pods) == 3 and not old_pods & {p["metadata"]["name"] for p in pods}
    assert all(p["spec"].get("nodeName") in (None, *[n["metadata"]["name"] for n in w.store.list("Node")])
               for p in pods)
    assert w.deps.recorder.metrics[("karpenter_nodes_terminated_total", (("nodepool", "default"),))] == 1
    assert w.deps.recorder.metrics[("karpenter_nodes_drained_total", (("nodepool", "default"),))] == 1
    assert [seconds(w, line) for line in logs(w, "tainted node")] == [DELETE_AT]
    assert {e["message"] for e in events(w, "Evicted")} == {"Evicted pod: Forceful Termination"}
    assert logs(w, "deleted node") and logs(w, "deleted nodeclaim")


def test_the_node_is_tainted_and_labelled_out_of_load_balancers_while_it_drains() -> None:
    w, node, claim = running_world(deployment("web", 1), pdb(max_unavailable=0))
    w.store.delete("NodeClaim", claim)
    w.driver.run_until(DELETE_AT + 10)
    draining = w.store.get("Node", node)
    assert {"key": "karpenter.sh/disrupted", "effect": "NoSchedule"} in draining["spec"]["taints"]
    assert draining["metadata"]["labels"]["node.kubernetes.io/exclude-from-external-load-balancers"] == "karpenter"


def test_daemon_pods_are_evicted_only_after_the_non_daemon_pods_are_gone() -> None:
    w, node, claim = running_world(deployment("web", 2, cpu="500m", memory="512Mi"))
    # A daemon pod of a DaemonSet the DaemonSet controller does not manage here, so only the drain removes it.
    w.store.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "agent", "ownerReferences": [
        {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent", "uid": "ds-uid", "controller": True}]},
        "spec": {"nodeName": node, "containers": [{"name": "a", "image": "pause"}]}, "status": {"phase": "Pending"}})
    w.driver.run_until(DELETE_AT + 10)
    web_left_when_agent_evicted: list[int] = []

    def watch(ev: WatchEvent) -> None:
        if ev.obj["metadata"]["name"] == "agent" and ev.obj["metadata"].get("deletionTimestamp") \
                and ev.old is not None and not ev.old["metadata"].get("deletionTimestamp"):
            web_left_when_agent_evicted.append(sum(1 for p in w.store.list("Pod", "default")
                                                   if p["metadata"]["name"].startswith("web")
                                                   and p["spec"].get("nodeName") == node))

    w.store.subscribe(watch, kind="Pod")
    w.store.delete("NodeClaim", claim)
    w.driver.run_until(DELETE_AT + 200)
    assert web_left_when_agent_evicted == [0]
    assert w.store.try_get("Node", node) is None


def test_a_pdb_with_max_unavailable_zero_blocks_the_drain_until_it_is_deleted() -> None:
    w, node, claim = running_world(deployment("web", 2, cpu="500m", memory="512Mi"), pdb(max_unavailable=0))
    w.store.delete("NodeClaim", claim)
    w.driver.run_until(DELETE_AT + 600)
    assert w.store.try_get("Node", node) is not None
    pods = w.store.list("Pod", "default")
    assert all(p["spec"]["nodeName"] == node and p["status"]["phase"] == "Running"
               and not p["metadata"].get("deletionTimestamp") for p in pods)
    assert any(e["message"].startswith("Failed to drain node, evicting pod violates a PDB (Pod=default/web-")
               for e in events(w, "FailedDraining"))
    assert w.deps.recorder.metrics[("karpenter_nodes_eviction_requests_total", (("code", "429"),))] > 10
    w.store.delete("PodDisruptionBudget", "web", "default")
    w.driver.run_until(DELETE_AT + 800)
    assert w.store.try_get("Node", node) is None and w.store.try_get("NodeClaim", claim) is None


def test_a_do_not_disrupt_pod_blocks_the_drain_until_the_grace_period_then_the_instance_goes_at_the_deadline() -> None:
    keep = pinned("batch", annotations={"karpenter.sh/do-not-disrupt": "true"}, grace=0)
    w, node, claim = running_world(keep, pool=with_grace_period("5m"))
    deadline = DELETE_AT + 300
    w.store.delete("NodeClaim", claim)
    w.driver.run_until(deadline - 1)
    (pod,) = w.store.list("Pod", "default")
    assert pod["spec"]["nodeName"] == node and not pod["metadata"].get("deletionTimestamp")
    assert instance_of(w, node).state == "running"
    w.driver.run_until(deadline + 60)
    assert instance_of(w, node).shutting_down_at == deadline
    assert w.store.try_get("Node", node) is None
    (disrupted,) = events(w, "Disrupted")
    assert disrupted["firstTimestamp"] == w.store.format_time(deadline)
    assert {e["message"] for e in events(w, "TerminationGracePeriodExpiring")} == {
        "All pods will be deleted by 2024-01-01T00:07:00Z"}


def test_a_pod_whose_grace_period_would_outlast_the_deadline_is_deleted_that_long_before_it() -> None:
    keep = pinned("batch", annotations={"karpenter.sh/do-not-disrupt": "true"}, grace=30)
    w, node, claim = running_world(keep, pool=with_grace_period("5m"))
    deadline = DELETE_AT + 300
    w.store.delete("NodeClaim", claim)
    w.driver.run_until(deadline - 31)
    assert not w.store.list("Pod", "default")[0]["metadata"].get("deletionTimestamp")
    w.driver.run_until(deadline - 30)
    (pod,) = [p for p in w.store.list("Pod", "default") if p["spec"].get("nodeName") == node]
    assert pod["metadata"]["deletionTimestamp"] == w.store.format_time(deadline - 30)
    assert pod["metadata"]["deletionGracePeriodSeconds"] == 30
    (disrupted,) = events(w, "Disrupted")
    assert "The pod was granted 30 seconds of grace-period of its 30 terminationGracePeriodSeconds" in \
        disrupted["message"]


def test_deleting_the_node_itself_also_deletes_its_nodeclaim() -> None:
    w, node, claim = running_world(deployment("web", 1))
    w.store.delete("Node", node)
    w.driver.run_until(DELETE_AT + 120)
    assert w.store.try_get("Node", node) is None and w.store.try_get("NodeClaim", claim) is None
    assert instance_of(w, node).state == "terminated"
