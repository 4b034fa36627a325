"""Manifest builders the benchmarks share: one EC2NodeClass, a NodePool, plain Deployments."""

from __future__ import annotations

from typing import Any


def nodeclass() -> dict[str, Any]:
    """The EC2NodeClass ``default`` (AL2023, placeholder selector tags: the twin does not resolve them)."""
    return {"apiVersion": "karpenter.k8s.aws/v1", "kind": "EC2NodeClass", "metadata": {"name": "default"},
            "spec": {"amiSelectorTerms": [{"alias": "al2023@latest"}], "role": "KarpenterNodeRole",
                     "subnetSelectorTerms": [{"tags": {"k": "v"}}],
                     "securityGroupSelectorTerms": [{"tags": {"k": "v"}}]}}


def nodepool(requirements: list[dict[str, Any]], disruption: dict[str, Any]) -> dict[str, Any]:
    """The NodePool ``default`` on the ``default`` EC2NodeClass."""
    return {"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": "default"},
            "spec": {"template": {"spec": {
                "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
                "requirements": requirements}},
                "disruption": disruption}}


def deployment(name: str, replicas: int, cpu: str, memory: str) -> dict[str, Any]:
    """A Deployment of one container with these requests, selected by ``app: name``."""
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "app", "resources": {
                                      "requests": {"cpu": cpu, "memory": memory}}}]}}}}
