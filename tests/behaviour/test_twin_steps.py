"""The step API: ``Twin.from_scenario`` and one provisioning or disruption pass at a time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import ekstwin
from ekstwin.twin import Twin

SCENARIO = """\
apiVersion: ekstwin.dev/v1alpha1
kind: Scenario
metadata: {name: steps}
spec:
  seed: 7
  cluster: {region: us-east-1, zones: [us-east-1a, us-east-1b], autoscaler: karpenter}
  manifests: [manifests.yaml]
"""
MANIFESTS = """\
apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata: {name: default}
spec:
  amiSelectorTerms: [{alias: al2023@latest}]
  role: KarpenterNodeRole
  subnetSelectorTerms: [{tags: {karpenter.sh/discovery: c}}]
  securityGroupSelectorTerms: [{tags: {karpenter.sh/discovery: c}}]
---
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: default}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
      requirements:
        - {key: karpenter.k8s.aws/instance-category, operator: In, values: [c, m, r]}
        - {key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}
  disruption: {consolidationPolicy: WhenEmptyOrUnderutilized, consolidateAfter: 0s}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 6
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: pause, resources: {requests: {cpu: "1", memory: 1Gi}}}]
"""


@pytest.fixture
def scenario(tmp_path: Path) -> str:
    (tmp_path / "manifests.yaml").write_text(MANIFESTS)
    path = tmp_path / "steps.yaml"
    path.write_text(SCENARIO)
    return str(path)


def _web(twin: Twin) -> list[dict[str, Any]]:
    return [p for p in twin.objects("pods") if p["metadata"]["name"].startswith("web-")]


def test_the_twin_is_exported_from_the_package() -> None:
    assert ekstwin.Twin is Twin


def test_provision_once_creates_nodeclaims_and_advance_gets_the_pods_running(scenario: str) -> None:
    twin = Twin.from_scenario(scenario)
    assert twin.now == 0.0 and twin.objects("NodeClaim") == []
    done = twin.provision_once()
    assert done.nodeclaims and len(done.pods) == 6
    assert [c["metadata"]["name"] for c in twin.objects("nodeclaims")] == done.nodeclaims
    assert twin.now == 0.0
    twin.advance(120)
    assert twin.now == 120.0
    assert all(p["status"]["phase"] == "Running" for p in _web(twin)) and len(_web(twin)) == 6
    assert len(twin.objects("NodeClaim")) == len(done.nodeclaims)  # the loop did not provision again
    kinds = {d["kind"] for d in twin.decisions()}
    assert {"nodeclaim", "launch", "registration"} <= kinds


def test_provision_once_with_nothing_pending_creates_nothing(scenario: str) -> None:
    twin = Twin.from_scenario(scenario)
    twin.provision_once()
    twin.advance(120)
    again = twin.provision_once()
    assert again.nodeclaims == [] and again.pods == []


def test_disrupt_once_returns_a_command_after_a_scale_down(scenario: str) -> None:
    twin = Twin.from_scenario(scenario)
    twin.provision_once()
    twin.advance(120)
    assert twin.disrupt_once() is None  # fully used: nothing to consolidate
    twin.world.store.patch("Deployment", "web", "default", {"spec": {"replicas": 1}})
    twin.advance(5)
    cmd = twin.disrupt_once()
    assert cmd is not None
    assert cmd.reason in ("Empty", "Underutilized")
    twin.advance(300)
    assert any(d["kind"] == "disruption" and d["message"] == "disrupting node(s)" for d in twin.decisions())


def test_advance_refuses_going_back_in_time(scenario: str) -> None:
    twin = Twin.from_scenario(scenario)
    with pytest.raises(ekstwin.InvalidInput):
        twin.advance(-1)
