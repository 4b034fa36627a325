"""Adopting a cluster as it stands: managed and unmanaged nodes, given allocatable, bound pods."""

from __future__ import annotations

from typing import Any

import pytest
from tests import harness

from ekstwin.errors import InvalidScenario
from ekstwin.scenario.world import World

ZONE = "us-east-1a"


def node(name: str, itype: str = "m5.xlarge", *, managed: bool = True, allocatable: dict[str, str] | None = None,
         instance_id: str = "i-0000000000000aaaa") -> dict[str, Any]:
    labels = {"node.kubernetes.io/instance-type": itype, "topology.kubernetes.io/zone": ZONE,
              "kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux", "kubernetes.io/hostname": name,
              "karpenter.sh/capacity-type": "on-demand"}
    if managed:
        labels["karpenter.sh/nodepool"] = "default"
    status: dict[str, Any] = {"conditions": [{"type": "Ready", "status": "True"}]}
    if allocatable:
        status["allocatable"] = allocatable
        status["capacity"] = allocatable
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels},
            "spec": {"providerID": f"aws:///{ZONE}/{instance_id}"}, "status": status}


def nodeclaim(name: str, node_name: str, itype: str = "m5.xlarge",
              instance_id: str = "i-0000000000000aaaa") -> dict[str, Any]:
    return {"apiVersion": "karpenter.sh/v1", "kind": "NodeClaim",
            "metadata": {"name": name, "labels": {"karpenter.sh/nodepool": "default",
                                                  "node.kubernetes.io/instance-type": itype}},
            "spec": {"nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
                     "requirements": [{"key": "karpenter.sh/nodepool", "operator": "In", "values": ["default"]}]},
            "status": {"providerID": f"aws:///{ZONE}/{instance_id}", "nodeName": node_name,
                       "conditions": [{"type": t, "status": "True"} for t in ("Launched", "Registered",
                                                                               "Initialized")]}}


def bound_pod(name: str, node_name: str, cpu: str = "1") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": node_name, "containers": [{"name": "c", "image": "pause", "resources": {
                "requests": {"cpu": cpu, "memory": "1Gi"}}}]},
            "status": {"phase": "Running"}}


def quiet_pool() -> dict[str, Any]:
    """The default NodePool, with consolidation held off for an hour (so adopted nodes stay put)."""
    pool = harness.nodepool()
    pool["spec"]["disruption"] = {"consolidationPolicy": "WhenEmptyOrUnderutilized", "consolidateAfter": "1h"}
    return pool


def managed_world(*extra: dict[str, Any], allocatable: dict[str, str] | None = None) -> World:
    return harness.world(harness.nodeclass(), quiet_pool(), node("n1", allocatable=allocatable),
                         nodeclaim("nc1", "n1"), bound_pod("p1", "n1"), *extra, zones=(ZONE,))


def test_an_adopted_managed_node_with_running_pods_takes_new_pods_without_a_new_nodeclaim() -> None:
    w = managed_world(harness.deployment("web", 2, cpu="500m", memory="512Mi"))
    w.driver.run_until(120)
    assert [c["metadata"]["name"] for c in w.store.list("NodeClaim")] == ["nc1"]
    web = [p for p in w.store.list("Pod") if p["metadata"]["name"].startswith("web-")]
    assert len(web) == 2
    assert all(p["spec"].get("nodeName") == "n1" and p["status"]["phase"] == "Running" for p in web)


def test_an_adopted_nodeclaim_gets_a_running_priced_instance_and_is_not_launched_again() -> None:
    w = managed_world()
    w.driver.run_until(60)
    inst = w.deps.ec2.get("i-0000000000000aaaa")
    assert inst.state == "running" and inst.instance_type == "m5.xlarge" and inst.price > 0
    assert not [c for c in w.deps.ec2.calls if c.api == "CreateFleet"]
    assert w.deps.ec2.cost(3600) == pytest.approx(inst.price, rel=1e-6)


def test_allocatable_given_on_the_node_wins_over_the_catalog() -> None:
    w = managed_world(harness.deployment("big", 1, cpu="2", memory="1Gi"), allocatable={
        "cpu": "2", "memory": "8Gi", "pods": "10"})
    w.driver.run_until(120)
    assert w.store.get("Node", "n1")["status"]["allocatable"]["cpu"] == "2"
    # 1 CPU is used by p1, so the 2-CPU pod does not fit n1 (it would on the catalog's 4-CPU m5.xlarge)
    big = next(p for p in w.store.list("Pod") if p["metadata"]["name"].startswith("big-"))
    assert big["spec"].get("nodeName") != "n1"
    assert len(w.store.list("NodeClaim")) == 2


def test_bound_pods_stay_bound_and_running() -> None:
    w = managed_world()
    started = w.store.get("Pod", "p1", "default")["metadata"]["resourceVersion"]
    w.driver.run_until(300)
    p1 = w.store.get("Pod", "p1", "default")
    assert p1["spec"]["nodeName"] == "n1" and p1["status"]["phase"] == "Running"
    assert "startTime" not in p1["status"]  # the kubelet did not start it again
    assert p1["metadata"]["resourceVersion"] == started


def test_an_unmanaged_node_is_never_disrupted_even_when_empty() -> None:
    w = harness.world(harness.nodeclass(), harness.nodepool(), node("self-managed", managed=False),
                      zones=(ZONE,))
    w.driver.run_until(1800)
    n = w.store.get("Node", "self-managed")
    assert not n["metadata"].get("deletionTimestamp")
    assert w.deps.ec2.get("i-0000000000000aaaa").state == "running"  # costed: its type is known
    assert not [d for d in w.deps.recorder.decisions if "self-managed" in str(d)]


def test_an_unmanaged_node_of_an_unknown_type_is_kept_without_a_price() -> None:
    w = harness.world(harness.nodeclass(), harness.nodepool(), node("odd", "x9.mystery", managed=False,
                                                                     allocatable={"cpu": "4", "memory": "8Gi",
                                                                                  "pods": "20"}), zones=(ZONE,))
    assert w.store.get("Node", "odd")["status"]["allocatable"]["cpu"] == "4"
    assert w.deps.ec2.instances() == []


def test_a_managed_node_of_an_unknown_instance_type_is_an_error_naming_it() -> None:
    with pytest.raises(InvalidScenario, match=r"NodeClaim nc1.*x9\.mystery.*node.kubernetes.io/instance-type"):
        harness.world(harness.nodeclass(), harness.nodepool(), node("n1", "x9.mystery"),
                      nodeclaim("nc1", "n1", "x9.mystery"), zones=(ZONE,))


def test_an_adopted_underutilized_node_is_consolidated_like_a_launched_one() -> None:
    w = harness.world(harness.nodeclass(), harness.nodepool(), node("n1", "m5.4xlarge"),
                      nodeclaim("nc1", "n1", "m5.4xlarge"), bound_pod("p1", "n1", cpu="500m"), zones=(ZONE,))
    w.driver.run_until(1800)
    disrupting = [d for d in w.deps.recorder.decisions if d["message"] == "disrupting node(s)"]
    assert disrupting and disrupting[0]["nodes"] == ["n1"] and disrupting[0]["method"] == "single"
    assert w.deps.ec2.get("i-0000000000000aaaa").state in ("shutting-down", "terminated")
