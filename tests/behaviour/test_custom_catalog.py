"""Bring-your-own catalog and prices (``spec.cloud``), end to end from a scenario file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.harness import deployment, nodeclass, nodepool

from ekstwin.controllers.nodeclaim import ICE_TTL_S
from ekstwin.errors import InvalidScenario
from ekstwin.model import requirements as rq
from ekstwin.scenario.loader import load_scenario
from ekstwin.scenario.run import run_scenario
from ekstwin.scenario.world import World, build

ZONES = ["us-east-1a", "us-east-1b"]
ON_DEMAND_ONLY = [{"key": rq.CAPACITY_TYPE, "operator": "In", "values": ["on-demand"]}]


def _type(name: str, cpu: str, memory: str, price: float, *, available: bool = True) -> dict[str, Any]:
    return {"name": name, "capacity": {"cpu": cpu, "memory": memory},
            "offerings": [{"zone": "us-east-1a", "capacityType": "on-demand", "price": price,
                           "available": available}]}


def _three_types(y_available: bool = True) -> list[dict[str, Any]]:
    # x1.large is too small for a 3-CPU pod; of the two 4-CPU types y1.xlarge is the cheaper.
    return [_type("x1.large", "2", "8Gi", 0.05), _type("x1.xlarge", "4", "16Gi", 0.15),
            _type("y1.xlarge", "4", "16Gi", 0.12, available=y_available)]


def _scenario(tmp_path: Path, cloud: dict[str, Any], *objects: dict[str, Any]) -> str:
    doc = {"apiVersion": "ekstwin.dev/v1alpha1", "kind": "Scenario", "metadata": {"name": "byo"},
           "spec": {"cluster": {"zones": ZONES, "daemonsets": "none"}, "cloud": cloud,
                    "manifests": list(objects or (nodepool(requirements=ON_DEMAND_ONLY), nodeclass(),
                                                  deployment("web", 1, cpu="3")))}}
    path = tmp_path / "byo.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def _no_consolidation() -> dict[str, Any]:
    pool = nodepool(requirements=ON_DEMAND_ONLY)
    pool["spec"]["disruption"] = {"consolidateAfter": "Never"}
    return pool


def _world(tmp_path: Path, cloud: dict[str, Any], *objects: dict[str, Any]) -> World:
    return build(load_scenario(_scenario(tmp_path, cloud, *objects)))


def _scale(w: World, replicas: int) -> None:
    w.store.patch("Deployment", "web", "default", {"spec": {"replicas": replicas}})


def _launched_types(w: World) -> list[str]:
    return [c["metadata"]["labels"][rq.INSTANCE_TYPE] for c in w.store.list("NodeClaim")
            if (c.get("status") or {}).get("providerID")]


def test_karpenter_picks_the_cheapest_compatible_type_of_a_custom_catalog(tmp_path: Path) -> None:
    w = _world(tmp_path, {"catalog": "custom", "instanceTypes": _three_types()})
    assert [t.name for t in w.catalog.types] == ["x1.large", "x1.xlarge", "y1.xlarge"]
    w.driver.run_until(60)
    assert _launched_types(w) == ["y1.xlarge"]


def test_an_exact_price_override_flips_the_choice(tmp_path: Path) -> None:
    w = _world(tmp_path, {"catalog": "custom", "instanceTypes": _three_types(),
                          "prices": [{"instanceType": "x1.xlarge", "price": 0.10}]})
    w.driver.run_until(60)
    assert _launched_types(w) == ["x1.xlarge"]


def test_a_family_discount_flips_the_choice(tmp_path: Path) -> None:
    w = _world(tmp_path, {"catalog": "custom", "instanceTypes": _three_types(),
                          "discounts": {"families": {"x1": "30%"}}})
    w.driver.run_until(60)
    assert _launched_types(w) == ["x1.xlarge"]  # 0.15 × 0.7 = 0.105 < 0.12


def test_an_offering_marked_unavailable_is_never_launched(tmp_path: Path) -> None:
    w = _world(tmp_path, {"catalog": "custom", "instanceTypes": _three_types(y_available=False)})
    w.driver.run_until(60)
    assert _launched_types(w) == ["x1.xlarge"]
    requested = {t for call in w.deps.ec2.calls if call.api == "CreateFleet"
                 for t, _ in call.params["overrides"]}  # type: ignore[attr-defined]
    assert "y1.xlarge" not in requested


def test_an_offering_without_ec2_capacity_is_skipped_then_retried_after_three_minutes(tmp_path: Path) -> None:
    # Consolidation is off so only provisioning launches (see the test below for consolidation and the cache).
    w = _world(tmp_path, {"catalog": "custom", "instanceTypes": _three_types()}, _no_consolidation(), nodeclass(),
               deployment("web", 1, cpu="3"))
    w.deps.ec2.set_pool_capacity("on-demand", "y1.xlarge", "us-east-1a", 0)
    w.driver.run_until(60)
    assert _launched_types(w) == ["x1.xlarge"]  # the fleet fell through to the next-cheapest pool
    (fleet,) = [c for c in w.deps.ec2.calls if c.api == "CreateFleet"]
    (until,) = w.deps.state["ice"].values()
    assert set(w.deps.state["ice"]) == {("on-demand", "y1.xlarge", "us-east-1a")}
    answered = until - ICE_TTL_S
    assert fleet.at < answered < fleet.at + 3  # cached from the fleet's answer, for 180 s
    w.deps.ec2.set_pool_capacity("on-demand", "y1.xlarge", "us-east-1a", None)

    # Within the three minutes, a new launch does not even ask for y1.xlarge.
    w.driver.schedule_callback(100, lambda: _scale(w, 2))
    w.driver.run_until(until - 1)
    assert _launched_types(w) == ["x1.xlarge", "x1.xlarge"]
    second = [c for c in w.deps.ec2.calls if c.api == "CreateFleet"][1]
    assert second.at < until
    assert "y1.xlarge" not in {t for t, _ in second.params["overrides"]}  # type: ignore[attr-defined]

    # Once the entry has expired, y1.xlarge is tried (and bought) again.
    w.driver.schedule_callback(until + 10, lambda: _scale(w, 3))
    w.driver.run_until(until + 120)
    assert sorted(_launched_types(w)) == ["x1.xlarge", "x1.xlarge", "y1.xlarge"]


def test_an_on_demand_discount_lowers_the_reported_price_per_hour(tmp_path: Path) -> None:
    plain = run_scenario(_scenario(tmp_path, {"catalog": "custom", "instanceTypes": _three_types()}), until=120)
    discounted = run_scenario(_scenario(tmp_path, {"catalog": "custom", "instanceTypes": _three_types(),
                                                   "discounts": {"onDemand": "10%"}}), until=120)
    assert plain.summary["price_per_hour"] == pytest.approx(0.12)
    assert discounted.summary["price_per_hour"] == pytest.approx(0.108)


def test_a_bundled_catalog_keeps_every_type_and_adds_the_custom_ones(tmp_path: Path) -> None:
    w = _world(tmp_path, {"instanceTypes": _three_types(), "discounts": {"spot": 50}})
    assert "m5.large" in w.catalog and "y1.xlarge" in w.catalog
    y1 = w.catalog.get("y1.xlarge")
    assert y1.labels["karpenter.k8s.aws/instance-family"] == "y1"
    assert y1.labels["karpenter.k8s.aws/instance-category"] == "y"
    assert y1.labels["kubernetes.io/arch"] == "amd64"


def test_a_price_override_for_an_unknown_type_names_file_and_field_and_suggests_a_name(tmp_path: Path) -> None:
    path = _scenario(tmp_path, {"catalog": "custom", "instanceTypes": _three_types(),
                                "prices": [{"instanceType": "y1.xlarg", "price": 0.1}]})
    with pytest.raises(InvalidScenario) as err:
        build(load_scenario(path))
    message = str(err.value)
    assert path in message and "spec.cloud.prices[0].instanceType" in message
    assert "did you mean 'y1.xlarge'" in message


@pytest.mark.parametrize(("cloud", "field", "reason"), [
    ({"prices": [{"instanceType": "m5.large", "price": 1}, {"instanceType": "m5.large", "price": 1},
                 {"instanceType": "m5.large", "price": "cheap"}]}, "spec.cloud.prices[2].price", "expected a price"),
    ({"discounts": {"onDemand": "150%"}}, "spec.cloud.discounts.onDemand", "between 0% and 100%"),
    ({"catalog": "mine"}, "spec.cloud.catalog", "expected one of bundled, custom"),
    ({"instanceTypes": [{"name": "z1.large", "capacity": {"cpu": "2"}, "offerings": []}]},
     "spec.cloud.instanceTypes[0].capacity.memory", "missing"),
    ({"instanceTypes": [{"name": "z1.large", "capacity": {"cpu": "2", "memory": "4Gi"},
                         "offerings": [{"zone": "us-east-1a", "capacityType": "reserved", "price": 1, "count": 1,
                                        "available": False}]}]},
     "spec.cloud.instanceTypes[0].offerings[0].available", "set its count instead"),
    ({"pricez": []}, "spec.cloud.pricez", "unknown field"),
])
def test_a_malformed_cloud_section_names_file_and_field(tmp_path: Path, cloud: dict[str, Any], field: str,
                                                        reason: str) -> None:
    path = _scenario(tmp_path, cloud)
    with pytest.raises(InvalidScenario) as err:
        load_scenario(path)
    assert err.value.file == path and err.value.field == field
    assert reason in err.value.reason


def test_a_custom_offering_in_a_zone_outside_the_cluster_names_its_field(tmp_path: Path) -> None:
    types = [{"name": "z1.large", "capacity": {"cpu": "2", "memory": "4Gi"},
              "offerings": [{"zone": "us-east-1f", "capacityType": "spot", "price": 0.01}]}]
    with pytest.raises(InvalidScenario, match=r"spec\.cloud\.instanceTypes\[0\]\.offerings\[0\]\.zone"):
        build(load_scenario(_scenario(tmp_path, {"instanceTypes": types})))


def test_consolidation_does_not_replace_with_an_offering_in_the_insufficient_capacity_cache(tmp_path: Path) -> None:
    # Karpenter's simulations see ICE-cached offerings as unavailable: no replacement toward y1.xlarge for 3 min.
    w = _world(tmp_path, {"catalog": "custom", "instanceTypes": _three_types()})
    w.deps.ec2.set_pool_capacity("on-demand", "y1.xlarge", "us-east-1a", 0)
    w.driver.run_until(60)
    (until,) = w.deps.state["ice"].values()
    w.driver.run_until(until - 1)
    assert _launched_types(w) == ["x1.xlarge"]
    assert not any(d["kind"] == "disruption" and "command_id" in d for d in w.deps.recorder.decisions)
    w.deps.ec2.set_pool_capacity("on-demand", "y1.xlarge", "us-east-1a", None)
    w.driver.run_until(until + 180)  # once the entry expires, the cheaper type replaces the node
    assert _launched_types(w) == ["y1.xlarge"]
