"""Spot interruptions end to end: EC2's notices, Karpenter's interruption handling, the timeline action."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.harness import deployment, events, logs, nodeclass, nodepool, seconds, world

from ekstwin.cloud import spot as sp
from ekstwin.controllers import interruption
from ekstwin.errors import InvalidScenario
from ekstwin.model import requirements as rq
from ekstwin.scenario.loader import load_scenario
from ekstwin.scenario.run import run_scenario
from ekstwin.scenario.world import World

SPOT_ONLY = [{"key": rq.CAPACITY_TYPE, "operator": "In", "values": ["spot"]},
             {"key": "karpenter.k8s.aws/instance-category", "operator": "In", "values": ["c", "m", "r"]}]
WARNING_AT = 300.0  # t = 5m


def _instance_id(node: dict[str, Any]) -> str:
    return str(node["spec"]["providerID"]).rsplit("/", 1)[-1]


def _interrupt_at(w: World, node: dict[str, Any], at: float) -> None:
    """Schedule a forced interruption of ``node``'s instance at virtual time ``at``."""

    def act() -> None:
        interruption.interrupt(w.deps, at, _instance_id(node))

    w.driver.schedule_callback(at, act)


def _interrupted_at_5m() -> tuple[World, dict[str, Any], dict[str, Any]]:
    """One spot node running three pods, interrupted by force at t=5m; returns (world, old claim, old node)."""
    w = world(nodepool(requirements=SPOT_ONLY), nodeclass(), deployment("web", 3))
    w.driver.run_until(WARNING_AT - 1)
    (claim,) = w.store.list("NodeClaim")
    (node,) = w.store.list("Node")
    _interrupt_at(w, node, WARNING_AT)
    return w, claim, node


@pytest.fixture(scope="module")
def interrupted() -> tuple[World, dict[str, Any], dict[str, Any]]:
    w, claim, node = _interrupted_at_5m()
    w.driver.run_until(WARNING_AT + 120)
    return w, claim, node


def test_a_forced_interruption_publishes_spot_interrupted_on_the_nodeclaim_and_node(
        interrupted: tuple[World, dict[str, Any], dict[str, Any]]) -> None:
    w, claim, node = interrupted
    found = {(e["involvedObject"]["kind"], e["involvedObject"]["name"], e["message"], e["type"])
             for e in events(w, "SpotInterrupted")}
    message = "Spot interruption warning was triggered"
    assert found == {("NodeClaim", claim["metadata"]["name"], message, "Warning"),
                     ("Node", node["metadata"]["name"], message, "Warning")}
    assert {e["firstTimestamp"] for e in events(w, "SpotInterrupted")} == {w.store.format_time(WARNING_AT)}


def test_the_interrupted_nodeclaim_is_deleted_at_the_warning(
        interrupted: tuple[World, dict[str, Any], dict[str, Any]]) -> None:
    w, claim, node = interrupted
    name = claim["metadata"]["name"]
    assert w.store.try_get("NodeClaim", name) is None
    (line,) = logs(w, "initiating delete from interruption message")
    assert seconds(w, line) == WARNING_AT
    assert (line["messageKind"], line["action"], line["NodeClaim"], line["Node"]) == (
        "spot_interrupted", "CordonAndDrain", {"name": name}, {"name": node["metadata"]["name"]})
    reasons = {(e["involvedObject"]["kind"], e["message"]) for e in events(w, "TerminatingOnInterruption")}
    assert reasons == {("NodeClaim", "Interruption triggered termination for the NodeClaim"),
                       ("Node", "Interruption triggered termination for the Node")}


def test_interruption_metrics_count_the_message_and_the_disruption(
        interrupted: tuple[World, dict[str, Any], dict[str, Any]]) -> None:
    w, _, _ = interrupted
    metrics = w.deps.recorder.metrics
    assert metrics[("karpenter_nodeclaims_disrupted_total", (
        ("capacity_type", "spot"), ("nodepool", "default"), ("reason", "spot_interrupted")))] == 1
    assert metrics[("karpenter_interruption_received_messages_total",
                    (("message_type", "spot_interrupted"),))] == 1


def test_the_interrupted_pool_is_unavailable_for_three_minutes_and_the_replacement_avoids_it(
        interrupted: tuple[World, dict[str, Any], dict[str, Any]]) -> None:
    w, claim, _ = interrupted
    labels = claim["metadata"]["labels"]
    pool = ("spot", labels[rq.INSTANCE_TYPE], labels[rq.ZONE])
    assert w.deps.state["ice"][pool] == WARNING_AT + 180
    (replacement,) = w.store.list("NodeClaim")
    new = replacement["metadata"]["labels"]
    assert ("spot", new[rq.INSTANCE_TYPE], new[rq.ZONE]) != pool


def test_pods_of_the_interrupted_node_end_up_running_on_a_new_node(
        interrupted: tuple[World, dict[str, Any], dict[str, Any]]) -> None:
    w, _, node = interrupted
    pods = w.store.list("Pod", "default")
    (new_node,) = w.store.list("Node")
    assert new_node["metadata"]["name"] != node["metadata"]["name"]
    assert len(pods) == 3
    assert all(p["status"]["phase"] == "Running" and p["spec"]["nodeName"] == new_node["metadata"]["name"]
               for p in pods)


def test_the_interrupted_instance_is_terminated_within_two_minutes_of_the_warning(
        interrupted: tuple[World, dict[str, Any], dict[str, Any]]) -> None:
    w, _, node = interrupted
    ec2 = w.deps.ec2
    ec2.due(WARNING_AT + 120)
    inst = ec2.get(_instance_id(node))
    assert inst.state == "terminated"
    assert inst.terminated_at is not None and inst.terminated_at <= WARNING_AT + 120


def test_a_reclaim_notice_for_a_deleting_nodeclaim_publishes_instance_terminating_and_deletes_nothing_again() -> None:
    w = world(nodepool(requirements=SPOT_ONLY), nodeclass(), deployment("web", 1))
    w.driver.run_until(120)
    (claim,) = w.store.list("NodeClaim")
    (node,) = w.store.list("Node")
    w.deps.ec2.interrupt(120.0, _instance_id(node))
    # One late poll sees the warning and EC2's reclaim; the NodeClaim is still finalizing between them.
    interruption.reconcile(w.deps, interruption.KEY, 240.0)
    assert w.deps.ec2.get(_instance_id(node)).shutting_down_at == 240.0
    terminating = {(e["involvedObject"]["kind"], e["message"]) for e in events(w, "InstanceTerminating")}
    assert terminating == {("NodeClaim", "Instance is terminating"), ("Node", "Instance is terminating")}
    assert len(logs(w, "initiating delete from interruption message")) == 1
    received = {dict(labels)["message_type"]: n for (m, labels), n in w.deps.recorder.metrics.items()
                if m == "karpenter_interruption_received_messages_total"}
    assert received == {"rebalance_recommendation": 1, "spot_interrupted": 1, "instance_terminated": 1}
    assert w.store.get("NodeClaim", claim["metadata"]["name"])["metadata"]["deletionTimestamp"]


def test_the_only_spot_pool_being_interrupted_sends_the_replacement_to_on_demand() -> None:
    one_pool = [{"key": rq.CAPACITY_TYPE, "operator": "In", "values": ["spot", "on-demand"]},
                {"key": rq.INSTANCE_TYPE, "operator": "In", "values": ["m5.xlarge"]}]
    w = world(nodepool(requirements=one_pool), nodeclass(), deployment("web", 2), zones=("us-east-1a",))
    w.driver.run_until(WARNING_AT - 1)
    (node,) = w.store.list("Node")
    assert node["metadata"]["labels"][rq.CAPACITY_TYPE] == "spot"
    _interrupt_at(w, node, WARNING_AT)
    w.driver.run_until(WARNING_AT + 120)
    (replacement,) = w.store.list("NodeClaim")
    assert replacement["metadata"]["labels"][rq.CAPACITY_TYPE] == "on-demand"


def _never_expiring_pool() -> dict[str, Any]:
    # advisor-mode interruptions are months away; the default 720h expireAfter would replace the node first
    pool = nodepool(requirements=SPOT_ONLY)
    pool["spec"]["template"]["spec"]["expireAfter"] = "Never"
    return pool


def test_in_advisor_mode_a_rebalance_recommendation_comes_first_and_only_records_an_event() -> None:
    w = world(_never_expiring_pool(), nodeclass(), deployment("web", 1))
    w.deps.ec2.set_spot_interruptions(sp.ADVISOR, seed=w.deps.rngs.seed)
    w.driver.run_until(120)
    (claim,) = w.store.list("NodeClaim")
    (node,) = w.store.list("Node")
    plan = w.deps.ec2.planned_interruption(_instance_id(node))
    assert plan is not None and not plan.forced and plan.rebalance_at < plan.warning_at
    w.driver.run_until((plan.rebalance_at + plan.warning_at) / 2)
    on_claim = [e for e in events(w, "SpotRebalanceRecommendation") if e["involvedObject"]["kind"] == "NodeClaim"]
    assert [(e["type"], e["message"]) for e in on_claim] == [("Normal", "Spot rebalance recommendation was triggered")]
    assert w.store.try_get("NodeClaim", claim["metadata"]["name"]) is not None
    assert not events(w, "SpotInterrupted")


def test_in_advisor_mode_ec2_interrupts_a_spot_node_at_its_planned_time() -> None:
    w = world(_never_expiring_pool(), nodeclass(), deployment("web", 1))
    w.deps.ec2.set_spot_interruptions(sp.ADVISOR, seed=w.deps.rngs.seed)
    w.driver.run_until(120)
    (node,) = w.store.list("Node")
    plan = w.deps.ec2.planned_interruption(_instance_id(node))
    assert plan is not None
    w.driver.run_until(plan.warning_at + 1)
    (line,) = logs(w, "initiating delete from interruption message")
    assert seconds(w, line) == pytest.approx(plan.warning_at, abs=1.0)  # log times have whole seconds
    assert events(w, "SpotInterrupted")


def test_with_spot_interruptions_off_nothing_is_interrupted_in_a_day() -> None:
    w = world(nodepool(requirements=SPOT_ONLY), nodeclass(), deployment("web", 3))
    assert w.deps.ec2.spot_interruptions == sp.NONE
    w.driver.run_until(24 * 3600)
    (node,) = w.store.list("Node")
    assert w.deps.ec2.get(_instance_id(node)).state == "running"
    assert not [e for e in w.store.list("Event") if e["reason"] in (
        "SpotInterrupted", "SpotRebalanceRecommendation", "InstanceTerminating", "TerminatingOnInterruption")]
    assert not [m for m, _ in w.deps.recorder.metrics if m.startswith("karpenter_interruption_")]


# ── scenario files ──────────────────────────────────────────────────────────────────────────────────

_SCENARIO = """\
apiVersion: ekstwin.dev/v1alpha1
kind: Scenario
metadata: {name: spot}
spec:
  seed: 3
  cluster: {region: us-east-1, daemonsets: none CLUSTER}
  manifests:
    - {apiVersion: karpenter.k8s.aws/v1, kind: EC2NodeClass, metadata: {name: default},
       spec: {amiSelectorTerms: [{alias: al2023@latest}], role: R,
              subnetSelectorTerms: [{tags: {k: v}}], securityGroupSelectorTerms: [{tags: {k: v}}]}}
    - {apiVersion: karpenter.sh/v1, kind: NodePool, metadata: {name: default},
       spec: {template: {spec: {nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default},
              requirements: [{key: karpenter.sh/capacity-type, operator: In, values: [spot]}]}}}}
    - {apiVersion: apps/v1, kind: Deployment, metadata: {name: web},
       spec: {replicas: 2, selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}},
              spec: {containers: [{name: web, image: pause, resources: {requests: {cpu: "1"}}}]}}}}
  timeline:
"""


def _scenario(tmp_path: Path, cluster: str = "", timeline: tuple[str, ...] = ("{at: 10m, stop: true}",)) -> str:
    path = tmp_path / "scenario.yaml"
    path.write_text(_SCENARIO.replace(" CLUSTER", cluster) + "".join(f"    - {step}\n" for step in timeline))
    return str(path)


def test_the_interrupt_timeline_action_interrupts_the_first_node_matching_the_selector(tmp_path: Path) -> None:
    path = _scenario(tmp_path, timeline=("{at: 5m, interrupt: {nodeSelector: {karpenter.sh/capacity-type: spot}}}",
                                         "{at: 8m, stop: true}"))
    result = run_scenario(path)
    interrupted = {e["involvedObject"]["kind"] for e in result.events if e["reason"] == "SpotInterrupted"}
    assert interrupted == {"NodeClaim", "Node"}
    assert all(p["status"]["phase"] == "Running" for p in result.objects["pods"])


def test_an_interrupt_step_whose_selector_matches_no_node_names_the_step(tmp_path: Path) -> None:
    path = _scenario(tmp_path, timeline=("{at: 5m, interrupt: {nodeSelector: {team: nobody}}}",))
    with pytest.raises(InvalidScenario, match=r"spec\.timeline\[0\].*no Node matching nodeSelector"):
        run_scenario(path)


def test_an_interrupt_step_naming_a_missing_node_names_the_step(tmp_path: Path) -> None:
    path = _scenario(tmp_path, timeline=("{at: 5m, interrupt: {node: ip-10-0-0-1.ec2.internal}}",))
    with pytest.raises(InvalidScenario, match=r"spec\.timeline\[0\].*no Node ip-10-0-0-1"):
        run_scenario(path)


@pytest.mark.parametrize(("step", "field"), [
    ("{at: 1m, interrupt: {node: a, nodeSelector: {k: v}}}", "spec.timeline[0].interrupt"),
    ("{at: 1m, interrupt: {pod: a}}", "spec.timeline[0].interrupt.pod"),
    ("{at: 1m, interrupt: {node: ''}}", "spec.timeline[0].interrupt.node"),
    ("{at: 1m, interrupt: {nodeSelector: {}}}", "spec.timeline[0].interrupt.nodeSelector"),
    ("{at: 1m, interrupt: {nodeSelector: {k: 1}}}", "spec.timeline[0].interrupt.nodeSelector.k"),
    ("{at: 1m, interrupt: a-node}", "spec.timeline[0].interrupt"),
])
def test_malformed_interrupt_steps_are_rejected_with_their_field(tmp_path: Path, step: str, field: str) -> None:
    path = _scenario(tmp_path, timeline=(step,))
    with pytest.raises(InvalidScenario) as err:
        load_scenario(path)
    assert err.value.field == field and err.value.file == path


def test_spot_interruptions_default_to_none_and_accept_advisor(tmp_path: Path) -> None:
    assert load_scenario(_scenario(tmp_path)).cluster.spot_interruptions == "none"
    assert load_scenario(_scenario(tmp_path, cluster=", spotInterruptions: advisor")).cluster.spot_interruptions \
        == "advisor"
    with pytest.raises(InvalidScenario) as err:
        load_scenario(_scenario(tmp_path, cluster=", spotInterruptions: often"))
    assert err.value.field == "spec.cluster.spotInterruptions"
