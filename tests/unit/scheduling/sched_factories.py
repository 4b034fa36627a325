"""Node and pod dict factories for the scheduling tests (keyword overrides over small defaults)."""

from __future__ import annotations

import random
from typing import Any

from ekstwin.model.pod import PodInfo
from ekstwin.scheduling import cycle, registry
from ekstwin.scheduling.snapshot import Snapshot

ZONE = "topology.kubernetes.io/zone"
HOSTNAME = "kubernetes.io/hostname"


def node(name: str, cpu: str = "4", memory: str = "16Gi", pods: int = 110, zone: str | None = "a",
         labels: dict[str, str] | None = None, taints: list[dict[str, str]] | None = None,
         unschedulable: bool = False, hostname: bool = True) -> dict[str, Any]:
    all_labels = {HOSTNAME: name} if hostname else {}
    if zone is not None:
        all_labels[ZONE] = zone
    all_labels.update(labels or {})
    return {"metadata": {"name": name, "labels": all_labels},
            "spec": {"taints": taints or [], "unschedulable": unschedulable},
            "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": str(pods)},
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def pod_dict(name: str, cpu: str | None = "100m", memory: str | None = "128Mi", *, namespace: str = "default",
             labels: dict[str, str] | None = None, node_name: str | None = None, owner: str | None = None,
             extra: dict[str, str] | None = None, host_port: int | None = None, deleting: bool = False,
             **spec: Any) -> dict[str, Any]:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    requests.update(extra or {})
    container: dict[str, Any] = {"name": "c", "resources": {"requests": requests} if requests else {}}
    if host_port is not None:
        container["ports"] = [{"containerPort": host_port, "hostPort": host_port}]
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "uid": f"uid-{namespace}-{name}",
                            "labels": labels or {}}
    if owner is not None:
        meta["ownerReferences"] = [{"kind": "ReplicaSet", "name": owner, "uid": f"rs-{owner}", "controller": True}]
    if deleting:
        meta["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    body: dict[str, Any] = {"containers": [container], **spec}
    if node_name is not None:
        body["nodeName"] = node_name
    return {"metadata": meta, "spec": body, "status": {"phase": "Running" if node_name else "Pending"}}


def pod(name: str, cpu: str | None = "100m", memory: str | None = "128Mi", **kwargs: Any) -> PodInfo:
    return PodInfo.parse(pod_dict(name, cpu, memory, **kwargs))


def place(snap: Snapshot, pods: list[PodInfo], profile: registry.Profile | None = None,
          seed: int = 1) -> list[cycle.Decision]:
    """Schedule pods one at a time, assuming each placed pod (the scheduler's loop)."""
    profile = profile or registry.default_profile()
    rng = random.Random(seed)
    out = []
    for p in pods:
        d = cycle.schedule_one(p, snap, profile, rng)
        if d.node is not None:
            snap.assume(p, d.node)
        out.append(d)
    return out
