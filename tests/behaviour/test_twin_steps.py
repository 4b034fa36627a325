"""Stepping through decisions: the ``Twin`` step API and the timeline actions ``provision``, ``disrupt``, ``advance``.

Both force one pass of Karpenter's provisioner or disruption controller through ``scenario.steps``, so a
script makes the same decisions at the same times whether a timeline or Python drives it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import ekstwin
from ekstwin.controllers import disruption
from ekstwin.scenario.result import RunResult
from ekstwin.scenario.run import run_scenario
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


SCRIPT = """\
  timeline:
    - provision: true
    - advance: 95s
    - scale: {kind: Deployment, name: web, replicas: 1}
    - disrupt: true
    - advance: 5m
"""
"""Provision 6 pods at once, scale down to 1 at 95 s (between two polls of the disruption loop), force a
disruption pass right then, and watch for 5 minutes: the run ends at 6m35s, the final cursor."""


@pytest.fixture
def scenario(tmp_path: Path) -> str:
    return _write(tmp_path, "steps", "")


def _write(tmp_path: Path, name: str, timeline: str, manifests: str = MANIFESTS) -> str:
    (tmp_path / "manifests.yaml").write_text(manifests)
    path = tmp_path / f"{name}.yaml"
    path.write_text(SCENARIO + timeline)
    return str(path)


def _forced(decisions: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in decisions if d["kind"] == f"forced-{kind}"]


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


# -- the same passes as scenario timeline actions -----------------------------------------------------

def _ran(tmp_path: Path, timeline: str, manifests: str = MANIFESTS) -> RunResult:
    return run_scenario(_write(tmp_path, "script", timeline, manifests))


def _ready(node: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"]["conditions"])


def test_a_provision_step_creates_nodeclaims_at_once_and_90s_later_the_node_is_ready_with_the_pods_bound(
        tmp_path: Path) -> None:
    result = _ran(tmp_path, "  timeline:\n    - provision: true\n    - advance: 90s\n")
    assert result.time_s == 90.0  # no stop: the run ends at the final cursor
    [forced] = _forced(result.decisions, "provisioning")
    assert forced["t"] == 0.0 and forced["by"].endswith("script.yaml: spec.timeline[0]")
    assert forced["nodeclaims"] == [c["metadata"]["name"] for c in result.objects["nodeclaims"]]
    assert forced["unschedulable"] == {} and "6 pod(s): 1 new nodeclaim(s)" in forced["message"]
    # the pass itself made the NodeClaim at t=0, not the provisioner's loop after its 1 s batch window
    assert [d["t"] for d in result.decisions if d["kind"] == "nodeclaim"] == [0.0]
    [node] = result.objects["nodes"]
    assert _ready(node)
    web = [p for p in result.objects["pods"] if p["metadata"]["name"].startswith("web-")]
    assert len(web) == 6
    assert all(p["spec"]["nodeName"] == node["metadata"]["name"] and p["status"]["phase"] == "Running" for p in web)


def test_a_disrupt_step_starts_consolidation_of_an_underutilized_node_which_goes_away_after_validation_and_drain(
        tmp_path: Path) -> None:
    result = _ran(tmp_path, SCRIPT)
    assert result.time_s == 395.0
    [forced] = _forced(result.decisions, "disruption")
    # the scale-down at 95 s is not on the loop's 10 s grid: the forced pass found the command first
    assert (forced["t"], forced["status"], forced["method"], forced["decision"]) == (
        95.0, "validating", "single", "replace")
    [old] = forced["nodes"]
    [executed] = [d for d in result.decisions if d["kind"] == "disruption" and d.get("command_id")]
    assert executed["t"] == 110.0 and executed["nodes"] == [old]  # after the 15 s validation
    [drained] = [d for d in result.decisions if d["kind"] == "termination" and d["node"] == old]
    assert drained["outcome"] == "drained" and drained["t"] > 110.0
    nodes = [n["metadata"]["name"] for n in result.objects["nodes"]]
    assert old not in nodes and len(nodes) == 1
    assert [c["metadata"]["name"] for c in result.objects["nodeclaims"]] == executed["replacements"]


def test_the_timeline_and_the_python_api_make_the_same_decisions_at_the_same_times(tmp_path: Path) -> None:
    scripted = _ran(tmp_path, SCRIPT).decisions
    twin = Twin.from_scenario(_write(tmp_path, "driven", ""))
    twin.provision_once()
    twin.advance(95)
    twin.world.store.patch("Deployment", "web", "default", {"spec": {"replicas": 1}})
    twin.disrupt_once()
    twin.advance(300)
    driven = twin.decisions()
    assert {d["by"] for d in _forced(driven, "provisioning") + _forced(driven, "disruption")} == {
        "Twin.provision_once()", "Twin.disrupt_once()"}

    def same(decisions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in d.items() if k != "by"} for d in decisions]

    assert len(scripted) > 20 and same(scripted) == same(driven)


def test_the_twin_runs_a_scripts_forced_passes_as_time_advances(tmp_path: Path) -> None:
    twin = Twin.from_scenario(_write(tmp_path, "script", SCRIPT))
    twin.advance(94)
    assert [d["t"] for d in _forced(twin.decisions(), "provisioning")] == [0.0]
    assert _forced(twin.decisions(), "disruption") == []
    twin.advance(1)
    assert [d["status"] for d in _forced(twin.decisions(), "disruption")] == ["validating"]


def test_a_step_after_a_forced_pass_at_the_same_instant_runs_after_the_pass(tmp_path: Path) -> None:
    # settling the instant before the pass must not run the scale-down first: the pass still sees 6 pods
    result = _ran(tmp_path, "  timeline:\n    - provision: true\n"
                            "    - scale: {kind: Deployment, name: web, replicas: 0}\n    - advance: 1s\n")
    [forced] = _forced(result.decisions, "provisioning")
    assert len(forced["nodeclaims"]) == 1 and "6 pod(s)" in forced["message"]
    assert [d["spec"]["replicas"] for d in result.objects["deployments"]] == [0]


def test_a_disrupt_step_with_nothing_to_do_records_why_each_candidate_stays(tmp_path: Path) -> None:
    result = _ran(tmp_path, "  timeline:\n    - provision: true\n    - advance: 2m\n    - disrupt: true\n")
    [forced] = _forced(result.decisions, "disruption")
    [node] = result.objects["nodes"]
    assert forced["status"] == "none" and forced["t"] == 120.0
    assert forced["candidates"] == [node["metadata"]["name"]]
    assert forced["verdicts"] == {node["metadata"]["name"]: "Can't replace with a cheaper node"}


def test_a_disrupt_step_notes_a_candidate_whose_consolidate_after_has_not_passed(tmp_path: Path) -> None:
    patient = MANIFESTS.replace("consolidateAfter: 0s", "consolidateAfter: 10m")
    result = _ran(tmp_path, "  timeline:\n    - provision: true\n    - advance: 2m\n    - disrupt: true\n", patient)
    [forced] = _forced(result.decisions, "disruption")
    [node] = result.objects["nodes"]
    assert forced["status"] == "none"
    assert forced["verdicts"] == {node["metadata"]["name"]: disruption.NOT_CONSOLIDATABLE}


def test_a_disrupt_step_after_the_loop_found_a_command_reports_that_command_waiting_for_validation(
        tmp_path: Path) -> None:
    # the scale-down at 90 s is on the loop's 10 s grid: the loop finds the command itself, at 90 s
    result = _ran(tmp_path, "  timeline:\n    - provision: true\n    - advance: 90s\n"
                            "    - scale: {kind: Deployment, name: web, replicas: 1}\n    - advance: 5s\n"
                            "    - disrupt: true\n    - advance: 1m\n")
    [forced] = _forced(result.decisions, "disruption")
    assert (forced["t"], forced["status"], forced["method"]) == (95.0, "waiting", "single")
    assert "validating until t=105s" in forced["message"]
    [executed] = [d for d in result.decisions if d["kind"] == "disruption" and d.get("command_id")]
    assert executed["t"] == 105.0 and executed["nodes"] == forced["nodes"]


# -- a provisioning pass that waits for its nodes and pods ---------------------------------------------

HUGE = MANIFESTS + """\
---
apiVersion: v1
kind: Pod
metadata: {name: huge}
spec:
  containers: [{name: huge, image: pause, resources: {requests: {cpu: "1000"}}}]
"""
"""The seed scenario plus a pod no instance type can hold."""


def test_provision_once_with_wait_returns_with_the_nodeclaim_initialized_and_the_pods_bound_tens_of_seconds_later(
        scenario: str) -> None:
    twin = Twin.from_scenario(scenario)
    done = twin.provision_once(wait=True)
    # CreateFleet ~2 s, registration ~30 s, then kubelet readiness: the clock moved by the launch, not 0
    assert 20.0 <= twin.now <= 90.0 and done.waited_s == twin.now
    assert not done.timed_out and done.not_ready == [] and done.failed == []
    [claim] = twin.objects("nodeclaims")
    assert [claim["metadata"]["name"]] == done.nodeclaims
    assert any(c["type"] == "Initialized" and c["status"] == "True" for c in claim["status"]["conditions"])
    [node] = twin.objects("nodes")
    web = _web(twin)
    assert len(web) == 6 and sorted(done.placed) == sorted(f"default/{p['metadata']['name']}" for p in web)
    assert done.bound == {f"default/{p['metadata']['name']}": node["metadata"]["name"] for p in web}
    assert all(p["spec"]["nodeName"] == node["metadata"]["name"] for p in web)
    first, last = _forced(twin.decisions(), "provisioning")
    assert (first["t"], first["wait"]) == (0.0, True)
    assert (last["t"], last["waited_s"], last["bound"], last["timed_out"]) == (twin.now, twin.now, done.bound, False)
    assert "complete after waiting" in last["message"] and "6/6 placed pod(s) bound" in last["message"]


def test_provision_once_without_wait_still_returns_at_the_same_instant_and_records_that_it_did_not_wait(
        scenario: str) -> None:
    twin = Twin.from_scenario(scenario)
    done = twin.provision_once()
    assert twin.now == 0.0 and done.waited_s is None and done.bound == {}
    [forced] = _forced(twin.decisions(), "provisioning")
    assert forced["wait"] is False


def test_a_waiting_provision_step_makes_the_same_decisions_at_the_same_times_as_provision_once_with_wait(
        tmp_path: Path) -> None:
    # the scale step at the pass's instant is held back until the wait completes, as the Python caller
    # can only scale after provision_once(wait=True) returned
    scripted = _ran(tmp_path, "  timeline:\n    - provision: {wait: true}\n"
                              "    - scale: {kind: Deployment, name: web, replicas: 1}\n    - advance: 2m\n")
    twin = Twin.from_scenario(_write(tmp_path, "driven", ""))
    done = twin.provision_once(wait=True)
    twin.world.store.patch("Deployment", "web", "default", {"spec": {"replicas": 1}})
    twin.advance(120 - twin.now)
    driven = twin.decisions()

    def same(decisions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in d.items() if k != "by"} for d in decisions]

    assert same(scripted.decisions) == same(driven)
    [_, waited] = _forced(scripted.decisions, "provisioning")
    assert waited["t"] == done.waited_s and waited["t"] > 0 and waited["by"].endswith("spec.timeline[0]")
    # the scale-down ran after the wait: all six pods were bound first, then five went away
    assert len(waited["bound"]) == 6 and len([p for p in scripted.objects["pods"]
                                              if p["metadata"]["name"].startswith("web-")]) == 1


def test_a_later_step_runs_at_its_own_time_while_a_provision_step_waits(tmp_path: Path) -> None:
    result = _ran(tmp_path, "  timeline:\n    - provision: {wait: true}\n    - {at: 5s, provision: true}\n"
                            "    - advance: 1m\n")
    first, second, waited = _forced(result.decisions, "provisioning")
    assert (first["t"], second["t"]) == (0.0, 5.0) and second["wait"] is False
    assert waited["t"] > 5.0 and waited["waited_s"] == waited["t"]


def test_provision_once_with_wait_does_not_wait_for_an_unschedulable_pod(tmp_path: Path) -> None:
    twin = Twin.from_scenario(_write(tmp_path, "huge", "", HUGE))
    done = twin.provision_once(wait=True)
    assert list(done.unschedulable) == ["default/huge"] and "default/huge" not in done.placed
    assert not done.timed_out and 20.0 <= twin.now <= 90.0  # stopped when the six web pods were bound
    assert len(done.bound) == 6 and "default/huge" not in done.bound


def test_the_timeout_stops_a_wait_that_would_not_end_in_time(scenario: str) -> None:
    twin = Twin.from_scenario(scenario)
    done = twin.provision_once(wait=True, timeout=10.5)
    assert twin.now == 10.5 and done.waited_s == 10.5 and done.timed_out
    assert done.not_ready == done.nodeclaims and len(done.nodeclaims) == 1 and done.bound == {}
    [_, stopped] = _forced(twin.decisions(), "provisioning")
    assert stopped["timed_out"] and "timed out after waiting 10.5s: 0/6 placed pod(s) bound" in stopped["message"]
    twin.advance(120)  # the controllers carry on regardless: the node comes up later
    assert all(p["spec"].get("nodeName") for p in _web(twin))


def test_a_timeline_wait_timeout_stops_the_wait_and_then_runs_the_held_back_steps(tmp_path: Path) -> None:
    result = _ran(tmp_path, "  timeline:\n    - provision: {wait: true, timeout: 5s}\n    - disrupt: true\n"
                            "    - advance: 1m\n")
    [_, stopped] = _forced(result.decisions, "provisioning")
    [disrupted] = _forced(result.decisions, "disruption")
    assert (stopped["t"], stopped["timed_out"], disrupted["t"]) == (5.0, True, 5.0)


def test_provision_once_refuses_a_negative_timeout(scenario: str) -> None:
    twin = Twin.from_scenario(scenario)
    with pytest.raises(ekstwin.InvalidInput):
        twin.provision_once(wait=True, timeout=-1)
    assert twin.objects("nodeclaims") == []  # refused before the pass, not half-way
