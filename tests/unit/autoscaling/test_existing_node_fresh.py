"""``ExistingNode.fresh``: the copy a consolidation simulation mutates starts clean and shares nothing mutable."""

from __future__ import annotations

import dataclasses

from ekstwin.autoscaling.karpenter.scheduler import ExistingNode
from ekstwin.model import requirements as rq
from ekstwin.model.pod import PodInfo
from ekstwin.units.resources import Resources


def test_fresh_is_the_node_without_placements_and_with_its_daemon_requests_expected() -> None:
    pod = PodInfo.parse({"metadata": {"name": "p", "uid": "u"}, "spec": {"containers": [{"name": "c"}]}})
    node = ExistingNode("n1", rq.Requirements.from_labels({rq.ZONE: "us-east-1a"}), (), Resources({"cpu": 1000}),
                        Resources({"cpu": 100}), initialized=False, nodepool="default", pods=[pod], slot=3,
                        requests=Resources({"cpu": 700}), bound=[pod])
    copy = node.fresh()
    assert copy == dataclasses.replace(node, pods=[], slot=-1, requests=node.daemon_remaining)
    copy.pods.append(pod)
    assert node.pods == [pod] and len(copy.pods) == 1  # the placement list is its own
    assert {f.name for f in dataclasses.fields(ExistingNode)} == {
        "name", "requirements", "taints", "available", "daemon_remaining", "initialized", "nodepool",
        "startup_taints", "pods", "slot", "requests", "bound"}, "a new field must be copied by fresh() too"
