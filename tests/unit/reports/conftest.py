"""A hand-made run result: one ready node, one launched NodeClaim, two pods, events and logs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ekstwin.scenario.result import RunResult, timestamp

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
TYPES = [f"type{i:02d}.large" for i in range(60)]


def _ts(seconds: float) -> str:
    return timestamp(EPOCH, seconds)


def _node() -> dict[str, Any]:
    return {"metadata": {"name": "ip-10-0-1-23.eu-west-1.compute.internal", "creationTimestamp": _ts(60),
                         "labels": {"karpenter.sh/nodepool": "default",
                                    "node.kubernetes.io/instance-type": "m5.large",
                                    "topology.kubernetes.io/zone": "eu-west-1a",
                                    "karpenter.sh/capacity-type": "spot"}},
            "spec": {"unschedulable": True},
            "status": {"conditions": [{"type": "Ready", "status": "True"}],
                       "nodeInfo": {"kubeletVersion": "v1.30.2-eks-1552ad0"}}}


def _claim() -> dict[str, Any]:
    return {"metadata": {"name": "default-abcde", "creationTimestamp": _ts(30),
                         "labels": {"node.kubernetes.io/instance-type": "m5.large",
                                    "karpenter.sh/capacity-type": "spot",
                                    "topology.kubernetes.io/zone": "eu-west-1a"}},
            "spec": {"requirements": [
                {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["spot"]},
                {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": TYPES}]},
            "status": {"nodeName": "ip-10-0-1-23.eu-west-1.compute.internal",
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def _pods() -> list[dict[str, Any]]:
    running = {"metadata": {"name": "inflate-1", "namespace": "default", "creationTimestamp": _ts(0)},
               "spec": {"containers": [{"name": "app"}], "nodeName": "ip-10-0-1-23.eu-west-1.compute.internal"},
               "status": {"phase": "Running", "podIP": "10.0.1.50",
                          "conditions": [{"type": "Ready", "status": "True"}]}}
    pending = {"metadata": {"name": "inflate-2", "namespace": "default", "creationTimestamp": _ts(0)},
               "spec": {"containers": [{"name": "app"}]}, "status": {"phase": "Pending"}}
    return [pending, running]


def _events() -> list[dict[str, Any]]:
    def event(t: float, reason: str, kind: str, name: str, message: str) -> dict[str, Any]:
        return {"type": "Normal", "reason": reason, "message": message, "count": 1,
                "involvedObject": {"kind": kind, "name": name, "namespace": "default" if kind == "Pod" else ""},
                "firstTimestamp": _ts(t), "lastTimestamp": _ts(t), "source": {"component": "karpenter"}}
    return [event(45, "Launched", "NodeClaim", "default-abcde", "Status condition transitioned"),
            event(5, "Nominated", "Pod", "inflate-1", "Pod should schedule on: nodeclaim/default-abcde")]


@pytest.fixture
def result() -> RunResult:
    return RunResult(
        name="basic", time_s=240.0, epoch=EPOCH,
        objects={"nodes": [_node()], "nodeclaims": [_claim()], "pods": _pods()},
        events=_events(),
        logs=[{"level": "INFO", "time": "2024-01-01T00:00:05.000Z", "logger": "controller",
               "message": "found provisionable pod(s)", "controller": "provisioner"},
              {"level": "INFO", "component": "kube-scheduler", "message": "bound"}],
        decisions=[{"time": 5.0, "kind": "provision", "message": "1 nodeclaim for 2 pods"}],
        summary={"cost_usd": 0.0031, "price_per_hour": 0.0472},
    )
