"""Savings Plans from a scenario file: the bill changes, Karpenter's decisions do not; reports and validation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console
from tests.harness import deployment, nodeclass, nodepool

from ekstwin.errors import InvalidScenario
from ekstwin.model import requirements as rq
from ekstwin.reports import json_report, text
from ekstwin.scenario.loader import load_scenario, with_feature_gates
from ekstwin.scenario.run import run_scenario
from ekstwin.scenario.whatif import whatif

A, B = "us-east-1a", "us-east-1b"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "scenarios" / "reserved-and-savings-plans.yaml"
PLANS = [{"type": "ec2Instance", "family": "m5", "commitment": 0.1, "discount": "40%"},
         {"type": "compute", "commitment": 0.05, "discount": 28}]


def _scenario(tmp_path: Path, cloud: dict[str, Any], name: str = "sp", **cluster: Any) -> str:
    pool = nodepool(requirements=[{"key": "karpenter.k8s.aws/instance-family", "operator": "In",
                                   "values": ["m5", "c5"]},
                                  {"key": rq.CAPACITY_TYPE, "operator": "In", "values": ["on-demand"]}])
    doc = {"apiVersion": "ekstwin.dev/v1alpha1", "kind": "Scenario", "metadata": {"name": name},
           "spec": {"cluster": {"zones": [A, B], "daemonsets": "none", **cluster}, "cloud": cloud,
                    "manifests": [pool, nodeclass(), deployment("web", 3, cpu="3", memory="8Gi")]}}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def _launches(result: Any) -> list[tuple[str, str, str]]:
    return [(d["instance_type"], d["capacity_type"], d["zone"]) for d in result.decisions if d["kind"] == "launch"]


def test_savings_plans_change_the_bill_but_not_karpenters_decisions(tmp_path: Path) -> None:
    plain = run_scenario(_scenario(tmp_path, {}, "plain"), until=7200)
    planned = run_scenario(_scenario(tmp_path, {"savingsPlans": PLANS}, "planned"), until=7200)
    assert _launches(plain) == _launches(planned) and _launches(plain)
    assert [(d["kind"], d["message"]) for d in plain.decisions] == [(d["kind"], d["message"])
                                                                      for d in planned.decisions]
    sp = planned.summary["savings_plans"]
    assert sp["list_cost_usd"] == pytest.approx(plain.summary["cost_usd"], abs=1e-5)
    assert planned.summary["cost_usd"] == pytest.approx(
        sp["commitment_usd"] + sp["uncovered_on_demand_usd"] + sp["spot_usd"], abs=1e-5)
    assert sp["commitment_usd"] == pytest.approx((0.1 + 0.05) * 2)
    assert sp["savings_usd"] == pytest.approx(sp["list_cost_usd"] - planned.summary["cost_usd"], abs=1e-5)
    # Karpenter prices with list prices: the m5 commitment does not steer it to m5, so that plan goes unused and
    # only the Compute plan (0.05 / 0.72 of usage per hour) discounts the c5 nodes it chose.
    assert all(not t.startswith("m5.") for t, _, _ in _launches(planned))
    assert sp["plans"][0]["utilization_pct"] == 0.0
    list_rate = plain.summary["price_per_hour"]
    assert planned.summary["price_per_hour"] == pytest.approx(0.1 + 0.05 + list_rate - min(list_rate, 0.05 / 0.72))


def test_the_reports_show_the_savings_plans_breakdown(tmp_path: Path) -> None:
    result = run_scenario(_scenario(tmp_path, {"savingsPlans": PLANS}), until=3600)
    data = json.loads(json_report.dumps(result))["summary"]["savings_plans"]
    assert {"list_cost_usd", "commitment_usd", "covered_usage_on_demand_usd", "uncovered_on_demand_usd",
            "savings_usd", "utilization_pct"} <= set(data)
    assert [p["name"] for p in data["plans"]] == ["ec2Instance-0", "compute-1"]
    console = Console(record=True, width=400)
    text.render(result, console, quiet=True)
    shown = console.export_text()
    assert "with Savings Plans" in shown and "Savings Plans: list cost" in shown and "ec2Instance-0" in shown


def test_whatif_costs_apply_the_savings_plans_to_both_runs(tmp_path: Path) -> None:
    path = _scenario(tmp_path, {"savingsPlans": PLANS})
    base, changed = whatif(path, 3600, feature_gates={"SpotToSpotConsolidation": True})
    for run in (base, changed):
        plans = run.summary["savings_plans"]
        assert run.cost_usd == pytest.approx(plans["total_usd"])
        assert run.cost_usd != pytest.approx(plans["list_cost_usd"])
    assert base.price_per_hour_start == pytest.approx(0.15)  # nothing runs yet: the commitment alone


def test_the_example_scenario_validates_and_runs(tmp_path: Path) -> None:
    result = run_scenario(str(EXAMPLE), until=900)
    capacity = {(n["metadata"]["labels"][rq.CAPACITY_TYPE]) for n in result.objects["nodes"]}
    assert "reserved" in capacity
    assert result.summary["savings_plans"]["plans"] and result.summary["capacity_reservations"]


@pytest.mark.parametrize(("cloud", "field", "reason"), [
    ({"savingsPlans": [{"type": "compute", "commitment": 1, "discount": "10%"},
                       {"type": "compute", "commitment": 1, "discount": "100%"}]},
     "spec.cloud.savingsPlans[1].discount", "below 100%"),
    ({"savingsPlans": [{"type": "ec2Instance", "commitment": 1, "discount": "10%"}]},
     "spec.cloud.savingsPlans[0].family", "instance family"),
    ({"savingsPlans": [{"type": "compute", "family": "m5", "commitment": 1, "discount": "10%"}]},
     "spec.cloud.savingsPlans[0].family", "only an ec2Instance"),
    ({"savingsPlans": [{"type": "reserved", "commitment": 1, "discount": "10%"}]},
     "spec.cloud.savingsPlans[0].type", "expected one of compute, ec2Instance"),
    ({"savingsPlans": [{"type": "compute", "commitment": -1, "discount": "10%"}]},
     "spec.cloud.savingsPlans[0].commitment", "USD per hour"),
    ({"savingsPlans": [{"type": "compute", "commitment": 1, "discount": "10%", "term": "1y"}]},
     "spec.cloud.savingsPlans[0].term", "unknown field"),
    ({"capacityReservations": [{"id": "cr-1", "instanceType": "m5.large", "zone": A}]},
     "spec.cloud.capacityReservations[0].count", "missing"),
    ({"capacityReservations": [{"id": "odcr-1", "instanceType": "m5.large", "zone": A, "count": 1}]},
     "spec.cloud.capacityReservations[0].id", "capacity reservation id"),
    ({"capacityReservations": [{"id": "cr-1", "instanceType": "m5.large", "zone": A, "count": 0}]},
     "spec.cloud.capacityReservations[0].count", "integer >= 1"),
    ({"capacityReservations": [{"id": "cr-1", "instanceType": "m5.large", "zone": A, "count": 1,
                                "instanceMatchCriteria": "any"}]},
     "spec.cloud.capacityReservations[0].instanceMatchCriteria", "open, targeted"),
    ({"prices": [{"instanceType": "m5.large", "capacityType": "reserved", "price": 1}]},
     "spec.cloud.prices[0].capacityType", "give the on-demand price"),
    ({"instanceTypes": [{"name": "z1.large", "capacity": {"cpu": "2", "memory": "4Gi"},
                         "offerings": [{"zone": A, "capacityType": "reserved", "price": 1}]}]},
     "spec.cloud.instanceTypes[0].offerings[0].count", "missing"),
    ({"instanceTypes": [{"name": "z1.large", "capacity": {"cpu": "2", "memory": "4Gi"},
                         "offerings": [{"zone": A, "capacityType": "spot", "price": 1, "count": 2}]}]},
     "spec.cloud.instanceTypes[0].offerings[0].count", "only a capacityType: reserved"),
])
def test_a_malformed_savings_plan_or_reservation_names_file_and_field(tmp_path: Path, cloud: dict[str, Any],
                                                                       field: str, reason: str) -> None:
    path = _scenario(tmp_path, cloud)
    with pytest.raises(InvalidScenario) as err:
        load_scenario(path)
    assert err.value.file == path and err.value.field == field
    assert reason in err.value.reason


def test_a_reservation_of_an_unknown_type_names_its_field_when_the_world_is_built(tmp_path: Path) -> None:
    from ekstwin.scenario.world import build
    path = _scenario(tmp_path, {"capacityReservations": [{"id": "cr-1", "instanceType": "m5.xlarg", "zone": A,
                                                          "count": 1}]})
    with pytest.raises(InvalidScenario, match=r"spec\.cloud\.capacityReservations\[0\]\.instanceType.*m5\.xlarge"):
        build(load_scenario(path))


def test_the_reserved_capacity_gate_cannot_be_turned_on_before_karpenter_v1_3(tmp_path: Path) -> None:
    path = _scenario(tmp_path, {}, featureGates={"ReservedCapacity": True}, karpenter={"version": "v1.2"})
    with pytest.raises(InvalidScenario) as err:
        load_scenario(path)
    assert err.value.field == "spec.cluster.featureGates.ReservedCapacity" and "introduced in v1.3" in err.value.reason
    old = load_scenario(_scenario(tmp_path, {}, "old", karpenter={"version": "v1.2"}))
    with pytest.raises(InvalidScenario, match="no ReservedCapacity feature gate"):
        with_feature_gates(old, {"ReservedCapacity": True})
