"""Karpenter disruption behaviour, end to end through the controllers (one behaviour per test)."""

from __future__ import annotations

import dataclasses
from typing import Any

from tests.harness import deployment, events, logs, nodeclass, nodepool, world

from ekstwin.model import requirements as rq
from ekstwin.scenario.world import World

SPOT_CMR = [{"key": rq.CAPACITY_TYPE, "operator": "In", "values": ["spot"]},
            {"key": "karpenter.k8s.aws/instance-category", "operator": "In", "values": ["c", "m", "r"]},
            {"key": "karpenter.k8s.aws/instance-size", "operator": "NotIn",
             "values": ["nano", "micro", "small", "medium"]}]
OD_CMR = [{"key": rq.CAPACITY_TYPE, "operator": "In", "values": ["on-demand"]},
          {"key": "karpenter.k8s.aws/instance-category", "operator": "In", "values": ["c", "m", "r"]},
          {"key": "karpenter.k8s.aws/instance-size", "operator": "NotIn",
           "values": ["nano", "micro", "small", "medium"]}]


def scaled_world(requirements: list[dict[str, Any]], *, gate: bool, replicas: int = 5, to: int = 1,
                 pool_extra: dict[str, Any] | None = None, **kw: Any) -> World:
    pool = nodepool(requirements=requirements)
    pool["spec"].update(pool_extra or {})
    w = world(pool, nodeclass(), deployment("inflate", replicas, cpu="1", memory="1536Mi"),
              region="eu-west-1", daemonsets="eks-default", **kw)
    w.deps.settings.feature_gates["SpotToSpotConsolidation"] = gate
    w.driver.run_until(120)
    w.driver.schedule_callback(180, lambda: w.store.patch("Deployment", "inflate", "default",
                                                           {"spec": {"replicas": to}}))
    return w


def node_types(w: World) -> list[str]:
    return sorted(n["metadata"]["labels"][rq.INSTANCE_TYPE] for n in w.store.list("Node"))


def test_spot_to_spot_replaces_an_underutilized_spot_node_with_one_of_the_15_cheapest_cheaper_types() -> None:
    w = scaled_world(SPOT_CMR, gate=True)
    before = node_types(w)
    w.driver.run_until(600)
    decision = next(line for line in logs(w, "disrupting node(s)"))
    assert decision["decision"] == "replace" and decision["reason"] == "underutilized"
    claims = w.store.list("NodeClaim")
    assert len(claims) == 1 and node_types(w) != before
    types = next(r for r in claims[0]["spec"]["requirements"] if r["key"] == rq.INSTANCE_TYPE)["values"]
    assert len(types) == 15
    assert claims[0]["metadata"]["labels"]["karpenter.k8s.aws/instance-size"] in {"large", "xlarge"}


def test_without_the_gate_a_spot_node_is_not_replaced_by_a_spot_node() -> None:
    w = scaled_world(SPOT_CMR, gate=False)
    before = node_types(w)
    w.driver.run_until(600)
    assert node_types(w) == before
    msgs = {e["message"] for e in events(w, "Unconsolidatable")}
    assert "SpotToSpotConsolidation is disabled, can't replace a spot node with a spot node" in msgs


def test_spot_to_spot_needs_15_cheaper_types_and_says_how_many_it_got() -> None:
    narrow = [*SPOT_CMR, {"key": "karpenter.k8s.aws/instance-family", "operator": "In", "values": ["m5", "c5"]}]
    w = scaled_world(narrow, gate=True)
    before = node_types(w)
    w.driver.run_until(600)
    assert node_types(w) == before
    (msg,) = {e["message"] for e in events(w, "Unconsolidatable") if "requires 15" in e["message"]}
    got = int(msg.rsplit(" ", 1)[1])
    assert 0 < got < 15
    assert msg == ("SpotToSpotConsolidation requires 15 cheaper instance type options than the current candidate "
                   f"to consolidate, got {got}")


def test_on_demand_is_replaced_only_by_something_strictly_cheaper() -> None:
    w = scaled_world(OD_CMR, gate=False)
    w.driver.run_until(900)
    (claim,) = w.store.list("NodeClaim")
    size = claim["metadata"]["labels"]["karpenter.k8s.aws/instance-size"]
    assert size in {"large", "xlarge"}
    assert any(line.get("decision") == "replace" for line in logs(w, "disrupting node(s)"))


def test_an_empty_node_is_deleted_after_consolidate_after() -> None:
    w = scaled_world(OD_CMR, gate=False, to=0, pool_extra={"disruption": {"consolidationPolicy": "WhenEmpty",
                                                                          "consolidateAfter": "2m"}})
    w.driver.run_until(600)
    assert not w.store.list("NodeClaim") and not w.store.list("Node")
    (decision,) = logs(w, "disrupting node(s)")
    assert decision["decision"] == "delete" and decision["reason"] == "empty"
    deleted_at = w.store.parse_time(decision["time"])
    assert deleted_at >= 180 + 120  # consolidateAfter counts from the last pod event (scale-down at 3m)


def test_when_empty_policy_leaves_an_underutilized_node_alone() -> None:
    w = scaled_world(OD_CMR, gate=False, pool_extra={"disruption": {"consolidationPolicy": "WhenEmpty",
                                                                    "consolidateAfter": "0s"}})
    before = node_types(w)
    w.driver.run_until(600)
    assert node_types(w) == before and not logs(w, "disrupting node(s)")


def test_do_not_disrupt_pod_blocks_consolidation() -> None:
    pool = nodepool(requirements=OD_CMR)
    dep = deployment("inflate", 5, cpu="1", memory="1536Mi")
    dep["spec"]["template"]["metadata"]["annotations"] = {"karpenter.sh/do-not-disrupt": "true"}
    w = world(pool, nodeclass(), dep, region="eu-west-1", daemonsets="eks-default")
    w.driver.schedule_callback(180, lambda: w.store.patch("Deployment", "inflate", "default",
                                                           {"spec": {"replicas": 1}}))
    w.driver.run_until(600)
    assert not logs(w, "disrupting node(s)")
    assert any('has "karpenter.sh/do-not-disrupt" annotation' in e["message"] for e in events(w, "DisruptionBlocked"))


def test_a_budget_of_zero_blocks_consolidation_with_the_nodepool_event() -> None:
    w = scaled_world(OD_CMR, gate=False, pool_extra={"disruption": {"consolidationPolicy": "WhenEmptyOrUnderutilized",
                                                                    "consolidateAfter": "0s",
                                                                    "budgets": [{"nodes": "0"}]}})
    w.driver.run_until(600)
    assert not logs(w, "disrupting node(s)")
    assert any(e["message"] == "No allowed disruptions for disruption reason Underutilized due to blocking budget"
               for e in events(w, "DisruptionBlocked"))


def test_a_pdb_with_max_unavailable_zero_blocks_consolidation() -> None:
    pdb = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "inflate"},
           "spec": {"maxUnavailable": 0, "selector": {"matchLabels": {"app": "inflate"}}}}
    w = world(nodepool(requirements=OD_CMR), nodeclass(), deployment("inflate", 5, cpu="1", memory="1536Mi"), pdb,
              region="eu-west-1", daemonsets="eks-default")
    w.driver.schedule_callback(180, lambda: w.store.patch("Deployment", "inflate", "default",
                                                           {"spec": {"replicas": 1}}))
    w.driver.run_until(600)
    assert not logs(w, "disrupting node(s)")
    assert any(e["message"] == 'Pdb "default/inflate" prevents pod evictions' for e in events(w, "DisruptionBlocked"))


def test_drift_replaces_a_node_when_the_nodepool_template_changes() -> None:
    w = world(nodepool(requirements=OD_CMR), nodeclass(), deployment("web", 2, cpu="500m"), region="eu-west-1")
    w.driver.run_until(120)
    (old,) = w.store.list("NodeClaim")
    pool = w.store.get("NodePool", "default")
    w.store.patch("NodePool", "default", None, {"spec": {"template": {"metadata": {"labels": {"team": "b"}}}}})
    del pool
    w.driver.run_until(600)
    claims = w.store.list("NodeClaim")
    assert [c["metadata"]["name"] for c in claims] != [old["metadata"]["name"]]
    assert claims[0]["metadata"]["labels"]["team"] == "b"
    assert any(line.get("reason") == "drifted" for line in logs(w, "disrupting node(s)"))


def test_expired_nodeclaims_are_deleted_and_replaced() -> None:
    pool = nodepool(requirements=OD_CMR)
    pool["spec"]["template"]["spec"]["expireAfter"] = "10m"
    w = world(pool, nodeclass(), deployment("web", 1, cpu="500m"), region="eu-west-1")
    w.driver.run_until(900)
    first = w.deps.recorder.decisions
    assert any(d["kind"] == "expiration" for d in first)
    assert all(p["status"].get("phase") == "Running" for p in w.store.list("Pod", "default"))


def test_explain_tells_the_story_of_a_consolidated_node() -> None:
    from pathlib import Path

    from ekstwin.reports.explain import explain_node
    from ekstwin.scenario.run import run_scenario

    scenario = Path(__file__).resolve().parents[2] / "examples" / "scenarios" / "spot-to-spot.yaml"
    result = run_scenario(str(scenario))
    first = next(d for d in result.decisions if d["kind"] == "registration")
    lines = explain_node(result, first["node"])
    text = "\n".join(lines)
    assert first["nodeclaim"] in lines[0]
    for expected in ("launch", "spot-to-spot", "disrupting via consolidation replace", "termination",
                     "DisruptionTerminating", "at the end: gone"):
        assert expected in text, expected


def test_v1beta1_era_blocked_events_name_the_object_kind() -> None:
    pool = nodepool(requirements=OD_CMR)
    dep = deployment("inflate", 2, cpu="1", memory="1536Mi")
    dep["spec"]["template"]["metadata"]["annotations"] = {"karpenter.sh/do-not-disrupt": "true"}
    w = world(pool, nodeclass(), dep, region="eu-west-1")
    w.deps.settings = dataclasses.replace(w.deps.settings, karpenter_version="v0.34")
    w.driver.schedule_callback(180, lambda: w.store.patch("Deployment", "inflate", "default",
                                                           {"spec": {"replicas": 1}}))
    w.driver.run_until(400)
    messages = {e["message"] for e in events(w, "DisruptionBlocked")}
    assert any(m.startswith('Cannot disrupt Node: Pod "default/inflate-') for m in messages)
    assert any(m.startswith('Cannot disrupt NodeClaim: Pod "default/inflate-') for m in messages)
