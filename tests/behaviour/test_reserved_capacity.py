"""Capacity reservations end to end: Karpenter's reserved offerings, EC2's slots, fallback, consolidation, cost."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.harness import deployment, nodeclass, nodepool

from ekstwin.cloud import billed_seconds
from ekstwin.model import requirements as rq
from ekstwin.scenario.loader import load_scenario
from ekstwin.scenario.run import run_scenario
from ekstwin.scenario.world import World, apply_objects, build

A, B = "us-east-1a", "us-east-1b"
CR = "cr-0a1b2c3d4e5f60001"
HOUR = 3600.0


def _reservation(count: int = 2, **extra: Any) -> dict[str, Any]:
    return {"id": CR, "instanceType": "m5.xlarge", "zone": A, "count": count, "tags": {"team": "web"}, **extra}


def _nodeclass(terms: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    nc = nodeclass()
    if terms is not None:
        nc["spec"]["capacityReservationSelectorTerms"] = terms
    return nc


def _pool(capacity_types: tuple[str, ...] = ("reserved", "on-demand"), consolidate_after: str = "Never",
          families: tuple[str, ...] = ("m5",)) -> dict[str, Any]:
    pool = nodepool(requirements=[{"key": rq.CAPACITY_TYPE, "operator": "In", "values": list(capacity_types)},
                                  {"key": "karpenter.k8s.aws/instance-family", "operator": "In",
                                   "values": list(families)}])
    pool["spec"]["disruption"] = {"consolidateAfter": consolidate_after}
    return pool


def _scenario(tmp_path: Path, cloud: dict[str, Any], *objects: dict[str, Any], version: str = "v1.14",
              gates: dict[str, bool] | None = None, name: str = "rsv") -> str:
    cluster: dict[str, Any] = {"zones": [A, B], "daemonsets": "none", "karpenter": {"version": version}}
    if gates:
        cluster["featureGates"] = gates
    doc = {"apiVersion": "ekstwin.dev/v1alpha1", "kind": "Scenario", "metadata": {"name": name},
           "spec": {"cluster": cluster, "cloud": cloud, "manifests": list(objects)}}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def _world(tmp_path: Path, cloud: dict[str, Any], *objects: dict[str, Any], **kw: Any) -> World:
    return build(load_scenario(_scenario(tmp_path, cloud, *objects, **kw)))


def _web(replicas: int) -> dict[str, Any]:
    return deployment("web", replicas, cpu="3", memory="4Gi")  # one per m5.xlarge (4 vCPU)


def _launched(w: World) -> list[tuple[str, str, str | None]]:
    out = []
    for c in w.store.list("NodeClaim"):
        labels = c["metadata"].get("labels") or {}
        if (c.get("status") or {}).get("providerID"):
            out.append((labels[rq.INSTANCE_TYPE], labels[rq.CAPACITY_TYPE], labels.get(rq.CAPACITY_RESERVATION_ID)))
    return sorted(out, key=lambda t: (t[1], t[0]))


def test_karpenter_launches_into_a_selected_reservation_first_and_labels_the_node(tmp_path: Path) -> None:
    w = _world(tmp_path, {"capacityReservations": [_reservation()]},
               _nodeclass([{"tags": {"team": "web"}}]), _pool(), _web(2))
    w.driver.run_until(90)
    assert _launched(w) == [("m5.xlarge", "reserved", CR)] * 2
    node = w.store.list("Node")[0]["metadata"]["labels"]
    assert node[rq.CAPACITY_TYPE] == "reserved" and node[rq.CAPACITY_RESERVATION_ID] == CR
    assert node[rq.CAPACITY_RESERVATION_TYPE] == "default"
    claim = w.store.list("NodeClaim")[0]
    pinned = {r["key"]: r["values"] for r in claim["spec"]["requirements"] if r["key"] in (
        rq.CAPACITY_TYPE, rq.CAPACITY_RESERVATION_ID)}
    assert pinned == {rq.CAPACITY_TYPE: ["reserved"], rq.CAPACITY_RESERVATION_ID: [CR]}
    fleets = [c for c in w.deps.ec2.calls if c.api == "CreateFleet"]
    assert all(c.params["capacity_type"] == "reserved" for c in fleets)
    status = w.store.get("EC2NodeClass", "default")["status"]["capacityReservations"]
    assert [(s["id"], s["instanceType"], s["availabilityZone"]) for s in status] == [(CR, "m5.xlarge", A)]
    assert w.deps.ec2.reservations.available(CR) == 0


def test_when_the_reservation_is_full_pods_wait_one_batch_then_fall_back_to_on_demand(tmp_path: Path) -> None:
    w = _world(tmp_path, {"capacityReservations": [_reservation()]},
               _nodeclass([{"id": CR}]), _pool(), _web(4))
    w.driver.run_until(90)
    launched = _launched(w)
    assert launched[-2:] == [("m5.xlarge", "reserved", CR)] * 2
    assert [ct for _, ct, _ in launched].count("on-demand") >= 1 and len(launched) >= 3
    first = next(d for d in w.deps.recorder.decisions if d["kind"] == "provisioning")
    assert "2 new nodeclaim(s)" in first["message"] and "2 unschedulable" in first["message"]
    # strict mode retries silently: no FailedScheduling event for the reservation-policy failures
    assert not [e for e in w.store.list("Event") if e["reason"] == "FailedScheduling"
                and "reservation" in e["message"]]


def test_a_reservation_the_ec2nodeclass_does_not_select_is_never_used_and_is_still_billed(tmp_path: Path) -> None:
    w = _world(tmp_path, {"capacityReservations": [_reservation(instanceMatchCriteria="targeted")]},
               _nodeclass([{"tags": {"team": "ml"}}]), _pool(), _web(1))
    w.driver.run_until(HOUR)
    assert _launched(w) == [("m5.xlarge", "on-demand", None)]
    reservation = w.deps.ec2.reservations.get(CR)
    assert w.deps.ec2.reservations.in_use(CR) == 0
    (node,) = w.deps.ec2.instances()
    own = node.price * billed_seconds(node, HOUR, 60.0) / HOUR
    assert w.deps.ec2.cost(HOUR) == pytest.approx(2 * reservation.price + own)


@pytest.mark.parametrize(("version", "gates", "expected"), [
    ("v1.5", None, "on-demand"), ("v1.5", {"ReservedCapacity": True}, "reserved"),
    ("v1.6", None, "reserved"), ("v1.14", {"ReservedCapacity": False}, "on-demand")])
def test_the_reserved_capacity_gate_defaults_to_the_modelled_release(
        tmp_path: Path, version: str, gates: dict[str, bool] | None, expected: str) -> None:
    w = _world(tmp_path, {"capacityReservations": [_reservation()]}, _nodeclass([{"id": CR}]), _pool(), _web(1),
               version=version, gates=gates)
    w.driver.run_until(90)
    ((_, capacity_type, _),) = _launched(w)
    assert capacity_type == expected


def test_with_the_gate_off_an_on_demand_launch_lands_in_a_matching_open_reservation(tmp_path: Path) -> None:
    # Karpenter without ReservedCapacity leaves its launch templates at EC2's default (open), so EC2 puts a
    # matching on-demand instance into the open reservation; Karpenter still labels it on-demand.
    pool = _pool(("on-demand",), families=("m5",))
    pool["spec"]["template"]["spec"]["requirements"].append(
        {"key": rq.INSTANCE_TYPE, "operator": "In", "values": ["m5.xlarge"]})
    pool["spec"]["template"]["spec"]["requirements"].append({"key": rq.ZONE, "operator": "In", "values": [A]})
    w = _world(tmp_path, {"capacityReservations": [_reservation()]}, _nodeclass([{"id": CR}]), pool, _web(1),
               version="v1.5")
    w.driver.run_until(HOUR)
    (inst,) = w.deps.ec2.instances()
    assert inst.capacity_type == "on-demand" and inst.capacity_reservation_id == CR
    assert _launched(w) == [("m5.xlarge", "on-demand", None)]
    assert w.deps.ec2.cost(HOUR) == pytest.approx(2 * inst.price)  # paid through the reservation only


def test_a_nodepool_that_requires_on_demand_never_launches_into_a_reservation(tmp_path: Path) -> None:
    w = _world(tmp_path, {"capacityReservations": [_reservation()]}, _nodeclass([{"id": CR}]),
               _pool(("on-demand",)), _web(2))
    w.driver.run_until(90)
    assert {ct for _, ct, _ in _launched(w)} == {"on-demand"}
    assert w.deps.ec2.reservations.in_use(CR) == 0


def test_a_launch_into_a_reservation_taken_since_the_last_sync_fails_and_falls_back(tmp_path: Path) -> None:
    w = _world(tmp_path, {"capacityReservations": [_reservation(instanceMatchCriteria="targeted")]},
               _nodeclass([{"id": CR}]), _pool(), _web(1))
    w.driver.run_until(40)
    assert _launched(w) == [("m5.xlarge", "reserved", CR)]
    # another cluster takes the last slot; Karpenter's count (synced at t≈1 s, minus its own launch) says 1 free
    w.deps.ec2.create_fleet(40.0, [("m5.xlarge", A)], "reserved", capacity_reservations={("m5.xlarge", A): CR})
    w.store.patch("Deployment", "web", "default", {"spec": {"replicas": 2}})
    w.driver.run_until(120)
    ice = [e for e in w.store.list("Event") if e["reason"] == "InsufficientCapacityError"]
    assert ice and "ReservationCapacityExceeded" in ice[0]["message"]
    assert _launched(w) == [("m5.xlarge", "on-demand", None), ("m5.xlarge", "reserved", CR)]


def test_consolidation_moves_an_on_demand_node_into_newly_selected_reserved_capacity(tmp_path: Path) -> None:
    w = _world(tmp_path, {"capacityReservations": [_reservation()]}, _nodeclass([]),
               _pool(consolidate_after="0s"), _web(1))
    w.driver.run_until(120)
    assert _launched(w) == [("m5.xlarge", "on-demand", None)]
    # selecting the reservation changes no hashed field (hash:"ignore"): no drift, but consolidation now sees a
    # near-free replacement and replaces the on-demand node with a reserved one
    w.driver.schedule_callback(130, lambda: apply_objects(w, [_nodeclass([{"id": CR}])], "<test>"))
    w.driver.run_until(600)
    assert _launched(w) == [("m5.xlarge", "reserved", CR)]
    kinds = [d.get("decision") for d in w.deps.recorder.decisions if d["kind"] == "disruption" and "command_id" in d]
    assert kinds == ["replace"]
    assert not any(d["kind"] == "drift" for d in w.deps.recorder.decisions)


def test_a_reserved_node_is_not_replaced_by_a_cheaper_on_demand_type(tmp_path: Path) -> None:
    # m5.large would fit the shrunken pod and costs half an m5.xlarge on demand, but the reserved node is priced at
    # the on-demand price / 10,000,000: nothing not reserved is cheaper.
    w = _world(tmp_path, {"capacityReservations": [_reservation(count=1)]}, _nodeclass([{"id": CR}]),
               _pool(consolidate_after="0s"), _web(1))
    w.driver.run_until(120)
    assert _launched(w) == [("m5.xlarge", "reserved", CR)]
    w.store.patch("Deployment", "web", "default", {"spec": {"template": {"spec": {"containers": [
        {"name": "web", "image": "pause", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}]}}}})
    w.driver.run_until(900)
    assert _launched(w) == [("m5.xlarge", "reserved", CR)]
    verdicts = {d["message"] for d in w.deps.recorder.decisions if d["kind"] == "disruption"}
    assert "Can't replace with a cheaper node" in verdicts


def test_a_custom_type_with_a_reserved_offering_is_a_capacity_reservation(tmp_path: Path) -> None:
    rid = "cr-0000000000000x1"
    custom = {"name": "x1.xlarge", "capacity": {"cpu": "4", "memory": "16Gi"},
              "offerings": [{"zone": A, "capacityType": "on-demand", "price": 0.2},
                            {"zone": A, "capacityType": "reserved", "price": 0.2, "count": 1, "id": rid}]}
    pool = nodepool(requirements=[{"key": rq.CAPACITY_TYPE, "operator": "In", "values": ["reserved", "on-demand"]}])
    w = _world(tmp_path, {"catalog": "custom", "instanceTypes": [custom]}, _nodeclass([{"id": rid}]), pool, _web(2))
    w.driver.run_until(90)
    assert _launched(w) == [("x1.xlarge", "on-demand", None), ("x1.xlarge", "reserved", rid)]


def test_a_reserved_node_drifts_when_its_ec2nodeclass_stops_selecting_the_reservation(tmp_path: Path) -> None:
    w = _world(tmp_path, {"capacityReservations": [_reservation()]}, _nodeclass([{"id": CR}]), _pool(), _web(1))
    w.driver.run_until(120)
    assert _launched(w) == [("m5.xlarge", "reserved", CR)]
    w.driver.schedule_callback(130, lambda: apply_objects(w, [_nodeclass([{"tags": {"team": "ml"}}])], "<test>"))
    w.driver.run_until(600)
    drift = [d for d in w.deps.recorder.decisions if d["kind"] == "drift"]
    assert drift and drift[0]["message"].endswith("drifted: CapacityReservationDrift")
    assert _launched(w) == [("m5.xlarge", "on-demand", None)]  # the replacement cannot use the reservation


def test_an_adopted_reserved_node_keeps_its_slot(tmp_path: Path) -> None:
    claim = {"apiVersion": "karpenter.sh/v1", "kind": "NodeClaim", "metadata": {"name": "default-abcde", "labels": {
        rq.NODEPOOL: "default", rq.INSTANCE_TYPE: "m5.xlarge", rq.ZONE: A, rq.CAPACITY_TYPE: "reserved",
        rq.CAPACITY_RESERVATION_ID: CR}},
        "spec": {"nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
                 "requirements": []},
        "status": {"providerID": f"aws:///{A}/i-0123456789abcdef0"}}
    w = _world(tmp_path, {"capacityReservations": [_reservation()]}, _nodeclass([{"id": CR}]), _pool(), claim)
    assert w.deps.ec2.reservations.in_use(CR) == 1
    assert w.deps.ec2.get("i-0123456789abcdef0").capacity_reservation_id == CR


def test_the_run_summary_reports_each_reservation_with_its_use_and_cost(tmp_path: Path) -> None:
    path = _scenario(tmp_path, {"capacityReservations": [_reservation()]}, _nodeclass([{"id": CR}]), _pool(),
                     _web(1))
    result = run_scenario(path, until=HOUR)
    (row,) = result.summary["capacity_reservations"]
    assert (row["id"], row["count"], row["in_use"]) == (CR, 2, 1)
    assert row["cost_usd"] == pytest.approx(row["price_per_hour"])  # one hour of both slots
    assert 0 < row["utilization_pct"] < 50  # one of two slots, from its launch on
    assert result.summary["cost_usd"] == pytest.approx(row["cost_usd"])  # the node costs nothing beyond it


def test_provisioning_packs_each_reserved_node_full_before_taking_the_next_reservation_slot(tmp_path: Path) -> None:
    # Strict mode: a pod that would push a NodeClaim past every reserved type's allocatable starts a new
    # reserved NodeClaim instead; once both slots are held, the rest wait for the next batch (then on-demand).
    w = _world(tmp_path, {"capacityReservations": [_reservation(count=2)]}, _nodeclass([{"id": CR}]),
               _pool(families=("m5", "c5")), deployment("small", 40, cpu="250m", memory="512Mi"))
    w.driver.run_until(2)
    alloc = w.catalog.get("m5.xlarge").allocatable
    per_node = min(alloc["cpu"] // 250, alloc["memory"] // (512 * 2**20), alloc["pods"])
    claims = w.store.list("NodeClaim")
    assert len(claims) == 2
    for c in claims:
        reqs = {r["key"]: r["values"] for r in c["spec"]["requirements"]}
        assert reqs[rq.CAPACITY_TYPE] == ["reserved"] and reqs[rq.CAPACITY_RESERVATION_ID] == [CR]
    first = next(d for d in w.deps.recorder.decisions if d["kind"] == "provisioning")
    assert f"{40 - 2 * per_node} unschedulable" in first["message"]
    w.driver.run_until(40)
    first_names = {x["metadata"]["name"] for x in claims}
    later = [c["metadata"]["labels"][rq.CAPACITY_TYPE] for c in w.store.list("NodeClaim")
             if c["metadata"]["name"] not in first_names and (c.get("status") or {}).get("providerID")]
    assert later and set(later) == {"on-demand"}  # Karpenter now counts no free slot: the offering is gone
