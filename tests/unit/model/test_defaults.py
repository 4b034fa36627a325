"""API-server-style defaulting (ekstwin.model.defaults)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from ekstwin.errors import InvalidScenario
from ekstwin.model.defaults import (
    NOT_READY_TAINT,
    UNREACHABLE_TAINT,
    PriorityClassInfo,
    apply_defaults,
    priority_classes_from,
    qos_class,
)
from ekstwin.model.manifests import Document, load_manifests, validate

FIXTURES = Path(__file__).parent / "fixtures"


def _pod(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "pause:3.2"}], **spec}}


def _default_tolerations(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in pod["spec"]["tolerations"] if t.get("key") in (NOT_READY_TAINT, UNREACHABLE_TAINT)]


# --- Pod ----------------------------------------------------------------------------------------------


def test_a_pod_gets_not_ready_and_unreachable_tolerations_exactly_once() -> None:
    once = apply_defaults(_pod())
    twice = apply_defaults(once)
    expected = [{"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
                for key in (NOT_READY_TAINT, UNREACHABLE_TAINT)]
    assert once["spec"]["tolerations"] == expected
    assert twice == once


def test_a_pod_that_already_tolerates_not_ready_keeps_its_own_toleration() -> None:
    own = {"key": NOT_READY_TAINT, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30}
    pod = apply_defaults(_pod(tolerations=[own]))
    assert _default_tolerations(pod) == [own, {"key": UNREACHABLE_TAINT, "operator": "Exists",
                                               "effect": "NoExecute", "tolerationSeconds": 300}]


def test_a_pod_tolerating_everything_gets_no_default_tolerations() -> None:
    pod = apply_defaults(_pod(tolerations=[{"operator": "Exists"}]))
    assert pod["spec"]["tolerations"] == [{"operator": "Exists"}]


def test_pod_spec_and_container_defaults_match_the_api_server() -> None:
    pod = apply_defaults(_pod())
    spec = pod["spec"]
    assert pod["metadata"]["namespace"] == "default"
    assert (spec["restartPolicy"], spec["terminationGracePeriodSeconds"], spec["schedulerName"],
            spec["dnsPolicy"], spec["enableServiceLinks"]) == ("Always", 30, "default-scheduler", "ClusterFirst", True)
    assert (spec["priority"], spec["preemptionPolicy"]) == (0, "PreemptLowerPriority")
    container = spec["containers"][0]
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["terminationMessagePath"] == "/dev/termination-log"
    assert pod["status"] == {"phase": "Pending", "qosClass": "BestEffort"}


@pytest.mark.parametrize(("image", "policy"), [
    ("nginx", "Always"), ("nginx:latest", "Always"), ("nginx:1.27", "IfNotPresent"),
    ("registry:5000/nginx", "Always"), ("nginx@sha256:abc", "IfNotPresent"),
])
def test_image_pull_policy_follows_the_image_tag(image: str, policy: str) -> None:
    pod = _pod()
    pod["spec"]["containers"][0]["image"] = image
    assert apply_defaults(pod)["spec"]["containers"][0]["imagePullPolicy"] == policy


def test_pod_requests_default_to_limits_and_decide_the_qos_class() -> None:
    pod = _pod()
    pod["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "1", "memory": "1Gi"}}
    defaulted = apply_defaults(pod)
    assert defaulted["spec"]["containers"][0]["resources"]["requests"] == {"cpu": "1", "memory": "1Gi"}
    assert defaulted["status"]["qosClass"] == "Guaranteed"


def test_qos_is_burstable_when_requests_and_limits_differ() -> None:
    spec = {"containers": [{"name": "c", "resources": {"requests": {"cpu": "500m"}, "limits": {"cpu": "1"}}}]}
    assert qos_class(spec) == "Burstable"


def test_host_network_copies_container_ports_to_host_ports() -> None:
    pod = _pod(hostNetwork=True)
    pod["spec"]["containers"][0]["ports"] = [{"containerPort": 8080}]
    port = apply_defaults(pod)["spec"]["containers"][0]["ports"][0]
    assert port == {"containerPort": 8080, "hostPort": 8080, "protocol": "TCP"}


def test_builtin_priority_classes_resolve() -> None:
    pod = apply_defaults(_pod(priorityClassName="system-node-critical"))
    assert pod["spec"]["priority"] == 2_000_001_000


def test_given_priority_classes_resolve_by_value_or_info() -> None:
    pod = apply_defaults(_pod(priorityClassName="batch"), priority_classes={"batch": 10})
    assert pod["spec"]["priority"] == 10
    info = PriorityClassInfo(5, preemption_policy="Never")
    pod = apply_defaults(_pod(priorityClassName="quiet"), priority_classes={"quiet": info})
    assert (pod["spec"]["priority"], pod["spec"]["preemptionPolicy"]) == (5, "Never")


def test_an_unknown_priority_class_is_refused() -> None:
    with pytest.raises(InvalidScenario, match="no PriorityClass with name nope was found") as err:
        apply_defaults(_pod(priorityClassName="nope"))
    assert err.value.field == "spec.priorityClassName" and err.value.obj == "Pod/default/p"


def test_a_priority_that_disagrees_with_the_class_is_refused() -> None:
    with pytest.raises(InvalidScenario, match=r"priority \(7\) must not be provided"):
        apply_defaults(_pod(priority=7))


def test_a_global_default_priority_class_applies_to_pods_without_one() -> None:
    classes = priority_classes_from([{"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                                      "metadata": {"name": "normal"}, "value": 100, "globalDefault": True}])
    pod = apply_defaults(_pod(), priority_classes=classes)
    assert (pod["spec"]["priorityClassName"], pod["spec"]["priority"]) == ("normal", 100)


def test_apply_defaults_does_not_touch_its_input() -> None:
    pod = _pod()
    before = copy.deepcopy(pod)
    apply_defaults(pod)
    assert pod == before


# --- workloads ----------------------------------------------------------------------------------------


def test_deployment_replicas_default_to_one_with_api_server_rollout_defaults() -> None:
    objects, _ = load_manifests([FIXTURES / "seed-inflate.yaml"])
    deployment = objects[0]
    del deployment["spec"]["replicas"]
    spec = apply_defaults(deployment)["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    assert (spec["revisionHistoryLimit"], spec["progressDeadlineSeconds"]) == (10, 600)


def test_templates_get_pod_spec_defaults_but_not_pod_admission() -> None:
    objects, _ = load_manifests([FIXTURES / "seed-inflate.yaml"])
    template = apply_defaults(objects[0])["spec"]["template"]["spec"]
    assert template["restartPolicy"] == "Always" and template["terminationGracePeriodSeconds"] == 30
    assert "tolerations" not in template and "priority" not in template and "enableServiceLinks" not in template


def test_recreate_deployments_get_no_rolling_update_block() -> None:
    objects, _ = load_manifests([FIXTURES / "seed-inflate.yaml"])
    deployment = objects[0]
    deployment["spec"]["strategy"] = {"type": "Recreate"}
    assert apply_defaults(deployment)["spec"]["strategy"] == {"type": "Recreate"}


def test_daemonset_update_strategy_defaults_to_rolling_one_at_a_time() -> None:
    ds = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "d", "namespace": "kube-system"},
          "spec": {"selector": {"matchLabels": {"a": "b"}},
                   "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": []}}}}
    spec = apply_defaults(ds)["spec"]
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}


def test_cluster_scoped_objects_lose_a_namespace_and_namespaced_ones_get_default() -> None:
    node = apply_defaults({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n", "namespace": "x"},
                           "status": {"capacity": {"cpu": "2"}}})
    assert "namespace" not in node["metadata"]
    assert node["status"]["allocatable"] == {"cpu": "2"}
    pdb = apply_defaults({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "b"}})
    assert pdb["metadata"]["namespace"] == "default"


def test_topology_spread_policies_are_left_absent_like_the_api_server_does() -> None:
    constraint = {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule"}
    pod = apply_defaults(_pod(topologySpreadConstraints=[constraint]))
    assert pod["spec"]["topologySpreadConstraints"] == [constraint]


# --- Karpenter ----------------------------------------------------------------------------------------


def test_a_v1_nodepool_gets_disruption_budget_and_expiry_defaults() -> None:
    objects, _ = load_manifests([FIXTURES / "v1-nodepool.yaml"])
    pool = objects[0]
    del pool["spec"]["disruption"]
    del pool["spec"]["template"]["spec"]["expireAfter"]
    spec = apply_defaults(pool)["spec"]
    assert spec["disruption"] == {"consolidateAfter": "0s", "consolidationPolicy": "WhenEmptyOrUnderutilized",
                                  "budgets": [{"nodes": "10%"}]}
    assert spec["template"]["spec"]["expireAfter"] == "720h"


def test_a_given_disruption_block_keeps_its_values_and_budgets_get_nodes() -> None:
    objects, _ = load_manifests([FIXTURES / "v1-nodepool.yaml"])
    pool = objects[0]
    pool["spec"]["disruption"] = {"consolidationPolicy": "WhenEmpty", "consolidateAfter": "5m",
                                  "budgets": [{"schedule": "@daily", "duration": "10m"}]}
    disruption = apply_defaults(pool)["spec"]["disruption"]
    assert disruption == {"consolidationPolicy": "WhenEmpty", "consolidateAfter": "5m",
                          "budgets": [{"schedule": "@daily", "duration": "10m", "nodes": "10%"}]}


def test_the_converted_seed_nodepool_is_valid_after_defaulting() -> None:
    objects, _ = load_manifests([FIXTURES / "seed-nodepool.yaml"])
    pool, node_class = (apply_defaults(o) for o in objects)
    assert pool["spec"]["disruption"]["budgets"] == [{"nodes": "10%"}]
    assert node_class["spec"]["metadataOptions"]["httpTokens"] == "required"
    for obj in (pool, node_class):
        report = validate(Document(obj, "defaulted", 0))
        assert report.errors == [] and report.unknown == []


def test_a_v1beta1_nodepool_gets_its_own_version_defaults() -> None:
    pool = {"apiVersion": "karpenter.sh/v1beta1", "kind": "NodePool", "metadata": {"name": "p"},
            "spec": {"template": {"spec": {"nodeClassRef": {"name": "n"}, "requirements": []}}}}
    disruption = apply_defaults(pool)["spec"]["disruption"]
    assert disruption == {"consolidationPolicy": "WhenUnderutilized", "expireAfter": "720h",
                          "budgets": [{"nodes": "10%"}]}
