"""Build and drive a simulated cluster from objects in code (no YAML files), for behaviour tests."""

from __future__ import annotations

from typing import Any

from ekstwin.model import manifests
from ekstwin.scenario.config import ClusterConfig, Scenario
from ekstwin.scenario.world import World, apply_objects, build


def nodepool(name: str = "default", requirements: list[dict[str, Any]] | None = None, *,
             labels: dict[str, str] | None = None, taints: list[dict[str, str]] | None = None,
             limits: dict[str, Any] | None = None, weight: int | None = None) -> dict[str, Any]:
    """A karpenter.sh/v1 NodePool."""
    spec: dict[str, Any] = {"template": {"spec": {
        "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
        "requirements": requirements if requirements is not None else [
            {"key": "karpenter.k8s.aws/instance-category", "operator": "In", "values": ["c", "m", "r"]}]}}}
    if labels:
        spec["template"]["metadata"] = {"labels": labels}
    if taints:
        spec["template"]["spec"]["taints"] = taints
    if limits:
        spec["limits"] = limits
    if weight is not None:
        spec["weight"] = weight
    return {"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": name}, "spec": spec}


def nodeclass(name: str = "default", family: str = "al2023") -> dict[str, Any]:
    """A karpenter.k8s.aws/v1 EC2NodeClass."""
    return {"apiVersion": "karpenter.k8s.aws/v1", "kind": "EC2NodeClass", "metadata": {"name": name},
            "spec": {"amiSelectorTerms": [{"alias": f"{family}@latest"}], "role": "KarpenterNodeRole",
                     "subnetSelectorTerms": [{"tags": {"karpenter.sh/discovery": "c"}}],
                     "securityGroupSelectorTerms": [{"tags": {"karpenter.sh/discovery": "c"}}]}}


def deployment(name: str, replicas: int, cpu: str = "1", memory: str = "1Gi", **pod_spec: Any) -> dict[str, Any]:
    """An apps/v1 Deployment of one container with these requests."""
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": name, "image": "pause", "resources": {
                                      "requests": {"cpu": cpu, "memory": memory}}}], **pod_spec}}}}


def world(*objects: dict[str, Any], region: str = "us-east-1", zones: tuple[str, ...] = (),
          daemonsets: str = "none", seed: int = 1) -> World:
    """A world at t=0 with ``objects`` (validated and converted like scenario manifests) applied."""
    docs = [manifests.Document(o, "<test>", i) for i, o in enumerate(objects)]
    converted, _ = manifests.load_documents(docs)
    scenario = Scenario(name="test", file="<test>", seed=seed,
                        cluster=ClusterConfig(region=region, zones=zones, daemonsets=daemonsets),
                        objects=tuple(converted), timeline=(), stop_s=None, report={})
    return build(scenario)


def apply(w: World, *objects: dict[str, Any]) -> None:
    """kubectl apply at the current simulated time."""
    converted, _ = manifests.load_documents([manifests.Document(o, "<test>", i) for i, o in enumerate(objects)])
    apply_objects(w, converted, "<test>")


def logs(w: World, message: str) -> list[dict[str, Any]]:
    """Karpenter log lines with this message."""
    return [line for line in w.deps.recorder.logs if line["message"] == message]


def seconds(w: World, line: dict[str, Any]) -> float:
    """Simulated seconds of a log line's timestamp."""
    return w.store.parse_time(line["time"])


def events(w: World, reason: str) -> list[dict[str, Any]]:
    """Events with this reason."""
    return [e for e in w.store.list("Event") if e["reason"] == reason]
