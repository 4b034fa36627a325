"""The seed article (Spot-to-Spot consolidation, eu-west-1), first half: provisioning.

Five inflate pods (1 CPU, 1.5Gi, nodeSelector intent=apps) make Karpenter launch ONE spot node of an
8-vCPU (2xlarge) c/m/r nitro type, and all five pods run on it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ekstwin.reports import json_report
from ekstwin.scenario.result import RunResult
from ekstwin.scenario.run import run_scenario

SCENARIO = str(Path(__file__).resolve().parents[2] / "examples" / "scenarios" / "spot-to-spot.yaml")


@pytest.fixture(scope="module")
def result() -> RunResult:
    return run_scenario(SCENARIO, until=180.0)


def test_five_inflate_pods_launch_exactly_one_spot_node(result: RunResult) -> None:
    (node,) = result.objects["nodes"]
    labels = node["metadata"]["labels"]
    assert labels["karpenter.sh/capacity-type"] == "spot"
    assert labels["karpenter.sh/nodepool"] == "default"
    assert labels["intent"] == "apps"


def test_the_node_is_an_8_vcpu_2xlarge_nitro_c_m_or_r_type(result: RunResult) -> None:
    labels = result.objects["nodes"][0]["metadata"]["labels"]
    assert labels["karpenter.k8s.aws/instance-size"] == "2xlarge"
    assert labels["karpenter.k8s.aws/instance-cpu"] == "8"
    assert labels["karpenter.k8s.aws/instance-category"] in {"c", "m", "r"}
    assert labels["karpenter.k8s.aws/instance-hypervisor"] == "nitro"
    assert labels["topology.kubernetes.io/zone"] in {"eu-west-1a", "eu-west-1b", "eu-west-1c"}


def test_all_five_inflate_pods_run_on_that_node(result: RunResult) -> None:
    node = result.objects["nodes"][0]["metadata"]["name"]
    inflate = [p for p in result.objects["pods"] if p["metadata"]["name"].startswith("inflate-")]
    assert len(inflate) == 5
    assert {p["spec"]["nodeName"] for p in inflate} == {node}
    assert {p["status"]["phase"] for p in inflate} == {"Running"}


def test_nodeclaim_requirements_list_the_price_ordered_instance_types_sent_to_the_fleet(result: RunResult) -> None:
    (claim,) = result.objects["nodeclaims"]
    reqs = {r["key"]: r for r in claim["spec"]["requirements"]}
    types = reqs["node.kubernetes.io/instance-type"]["values"]
    assert 1 < len(types) <= 60
    assert reqs["karpenter.sh/capacity-type"] == {"key": "karpenter.sh/capacity-type", "operator": "In",
                                                  "values": ["spot"]}
    assert claim["metadata"]["labels"]["node.kubernetes.io/instance-type"] in types
    assert claim["spec"]["resources"]["requests"] == {"cpu": "5125m", "memory": "7680Mi", "pods": "8"}


def test_karpenter_logs_the_provisioning_steps_in_order(result: RunResult) -> None:
    messages = [line["message"] for line in result.logs]
    order = ["found provisionable pod(s)", "computed new nodeclaim(s) to fit pod(s)", "created nodeclaim",
             "launched nodeclaim", "registered nodeclaim", "initialized nodeclaim"]
    positions = [messages.index(m) for m in order]
    assert positions == sorted(positions)


def test_the_same_scenario_and_seed_give_byte_identical_output(result: RunResult) -> None:
    again = run_scenario(SCENARIO, until=180.0)
    assert json.dumps(json_report.to_json(again), sort_keys=True) == json.dumps(json_report.to_json(result),
                                                                                sort_keys=True)


def test_a_different_seed_changes_the_run(result: RunResult) -> None:
    other = run_scenario(SCENARIO, until=180.0, seed=1234)
    assert json_report.to_json(other) != json_report.to_json(result)


@pytest.fixture(scope="module")
def after_scale_down() -> RunResult:
    return run_scenario(SCENARIO)  # inflate scales to 1 replica at 5m; the run stops at 10m


def test_scaling_to_one_replica_logs_karpenters_spot_to_spot_replace_decision(after_scale_down: RunResult) -> None:
    (line,) = [entry["message"] for entry in after_scale_down.logs if entry["message"].startswith("disrupting")]
    assert line.startswith("disrupting via consolidation replace, terminating 1 candidates ip-")
    assert "/spot and replacing with spot node from types " in line
    assert line.endswith(" and 10 other(s)")  # 15 types: five names, then the rest counted


def test_the_replacement_nodeclaim_lists_exactly_the_15_cheapest_cheaper_spot_types(
        after_scale_down: RunResult) -> None:
    (claim,) = after_scale_down.objects["nodeclaims"]
    reqs = {r["key"]: r for r in claim["spec"]["requirements"]}
    assert len(reqs["node.kubernetes.io/instance-type"]["values"]) == 15
    assert reqs["karpenter.sh/capacity-type"]["values"] == ["spot"]
    assert claim["metadata"]["labels"]["karpenter.k8s.aws/instance-size"] == "large"


def test_the_one_remaining_pod_runs_on_the_new_node(after_scale_down: RunResult) -> None:
    (node,) = after_scale_down.objects["nodes"]
    (pod,) = [p for p in after_scale_down.objects["pods"] if p["metadata"]["name"].startswith("inflate-")]
    assert pod["spec"]["nodeName"] == node["metadata"]["name"] and pod["status"]["phase"] == "Running"


def test_the_new_node_is_not_replaced_again_because_fewer_than_15_cheaper_types_exist(
        after_scale_down: RunResult) -> None:
    messages = {e["message"] for e in after_scale_down.events if e["reason"] == "Unconsolidatable"}
    assert any(m.startswith("SpotToSpotConsolidation requires 15 cheaper instance type options than the current "
                            "candidate to consolidate, got ") for m in messages)
