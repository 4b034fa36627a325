"""The DaemonSets every EKS cluster runs (``spec.cluster.daemonsets: eks-default``).

Requests are those of the EKS add-ons' default manifests: the VPC CNI's ``aws-node`` requests 25m CPU
(amazon-vpc-cni-k8s ``aws-k8s-cni.yaml``), ``kube-proxy`` 100m CPU (the EKS kube-proxy add-on), and the
``eks-pod-identity-agent`` chart sets no requests by default (so it only takes a pod slot). All three
tolerate every taint (``operator: Exists``), as the add-ons do, and run on Linux nodes.

``karpenter_controller`` is the Karpenter controller's own Pod (``karpenter`` namespace). It stands for
Karpenter running outside the simulated data plane, as on Fargate or a separate managed node group: it is
Running and Ready from t=0, has no ``nodeName``, and names the scheduler ``ekstwin-control-plane`` so
kube-scheduler leaves it alone and Karpenter never provisions for it. ``kubectl logs`` on it serves the
twin's Karpenter log lines.
"""

from __future__ import annotations

from typing import Any

from ekstwin.model.pod import CONTROL_PLANE_SCHEDULER
from ekstwin.rng import stable_random

KARPENTER_NAMESPACE = "karpenter"
KARPENTER_LABELS = {"app.kubernetes.io/name": "karpenter", "app.kubernetes.io/instance": "karpenter"}
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # the generateName alphabet: no vowels, no 0/1/3

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


def karpenter_controller(seed: int, version: str, now: str) -> list[dict[str, Any]]:
    """The ``karpenter`` namespace and the controller Pod, Running and Ready since ``now`` (RFC 3339).

    The name is ``karpenter-`` plus five characters drawn from ``seed`` (the same every run of a scenario).
    """
    draw = stable_random(seed, "addons.karpenter-pod-name")
    name = "karpenter-" + "".join(draw.choice(_SUFFIX_ALPHABET) for _ in range(5))
    image = f"public.ecr.aws/karpenter/controller:{version.removeprefix('v')}"
    ready = [{"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": now}
             for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")]
    container = {"name": "controller", "image": image,
                 "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "1Gi"}}}
    pod = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": KARPENTER_NAMESPACE, "labels": dict(KARPENTER_LABELS),
                     "annotations": {"ekstwin.io/runs-outside-data-plane": "true"}},
        "spec": {"schedulerName": CONTROL_PLANE_SCHEDULER, "serviceAccountName": "karpenter",
                 "priorityClassName": "system-cluster-critical", "restartPolicy": "Always",
                 "terminationGracePeriodSeconds": 30, "containers": [container]},
        "status": {"phase": "Running", "conditions": ready, "startTime": now, "qosClass": "Burstable",
                   "containerStatuses": [{"name": "controller", "image": image, "imageID": "", "ready": True,
                                          "started": True, "restartCount": 0,
                                          "state": {"running": {"startedAt": now}}}]},
    }
    return [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": KARPENTER_NAMESPACE}}, pod]
