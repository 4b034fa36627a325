"""The DaemonSets every EKS cluster runs (``spec.cluster.daemonsets: eks-default``).

Requests are those of the EKS add-ons' default manifests: the VPC CNI's ``aws-node`` requests 25m CPU
(amazon-vpc-cni-k8s ``aws-k8s-cni.yaml``), ``kube-proxy`` 100m CPU (the EKS kube-proxy add-on), and the
``eks-pod-identity-agent`` chart sets no requests by default (so it only takes a pod slot). All three
tolerate every taint (``operator: Exists``), as the add-ons do, and run on Linux nodes.
"""

from __future__ import annotations

from typing import Any

_LINUX_ONLY = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
    {"matchExpressions": [{"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}]}]}}}


def _daemonset(name: str, image: str, requests: dict[str, str]) -> dict[str, Any]:
    container: dict[str, Any] = {"name": name, "image": image}
    if requests:
        container["resources"] = {"requests": requests}
    return {
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": "kube-system", "labels": {"k8s-app": name}},
        "spec": {"selector": {"matchLabels": {"k8s-app": name}},
                 "template": {"metadata": {"labels": {"k8s-app": name}},
                              "spec": {"priorityClassName": "system-node-critical", "hostNetwork": True,
                                       "tolerations": [{"operator": "Exists"}], "affinity": _LINUX_ONLY,
                                       "containers": [container]}}}}


def eks_default() -> list[dict[str, Any]]:
    """kube-system namespace plus aws-node, kube-proxy and eks-pod-identity-agent DaemonSets."""
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}},
        _daemonset("aws-node", "602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon-k8s-cni:v1.18.3",
                   {"cpu": "25m"}),
        _daemonset("kube-proxy", "602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/kube-proxy:v1.30.3",
                   {"cpu": "100m"}),
        _daemonset("eks-pod-identity-agent",
                   "602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/eks-pod-identity-agent:0.1.10", {}),
    ]
