"""The EC2 emulator's On-Demand Capacity Reservations: targeted and open launches, slots, billing, usage."""

from __future__ import annotations

import random

import pytest

from ekstwin.catalog import Catalog, load_catalog
from ekstwin.catalog.reservations import OPEN, TARGETED, CapacityReservation
from ekstwin.cloud import EC2, CloudSettings, Fixed
from ekstwin.cloud import errors as codes
from ekstwin.cloud.usage import HOUR_S
from ekstwin.errors import CloudError, InvalidInput

A, B = "eu-west-1a", "eu-west-1b"
OD, RESERVED = "on-demand", "reserved"
FIXED = CloudSettings(create_fleet=Fixed(2.0), pending_to_running=Fixed(8.0), running_to_registered=Fixed(20.0),
                      registered_to_ready=Fixed(10.0), shutting_down_to_terminated=Fixed(30.0), spot_depth_sigma=0.0)


def _catalog(*reservations: tuple[str, int, str]) -> Catalog:
    """eu-west-1 with m5.large reservations in zone A: (id, count, instance match criteria)."""
    base = load_catalog("eu-west-1", [A, B], seed=1)
    rs = [CapacityReservation(rid, "m5.large", A, base.zone_id(A), count, _od(base, "m5.large"),
                              instance_match_criteria=criteria) for rid, count, criteria in reservations]
    return Catalog(base.region, base.zones, base.zone_ids, seed=1, settings=base.settings, types=base.types,
                   region_types=frozenset(t.name for t in base.types), reservations=rs)


def _od(cat: Catalog, name: str) -> float:
    return cat.get(name).offerings_for([OD], [A])[0].price


def _ec2(cat: Catalog) -> EC2:
    return EC2(cat, random.Random(3), FIXED)


def test_a_reserved_launch_fills_the_targeted_reservation_then_fails_with_reservation_capacity_exceeded() -> None:
    ec2 = _ec2(_catalog(("cr-1", 2, TARGETED)))
    target = {("m5.large", A): "cr-1"}
    first = ec2.create_fleet(0.0, [("m5.large", A)], RESERVED, count=2, capacity_reservations=target)
    assert [i.capacity_reservation_id for i in first.instances] == ["cr-1", "cr-1"]
    assert ec2.reservations.available("cr-1") == 0
    full = ec2.create_fleet(5.0, [("m5.large", A)], RESERVED, capacity_reservations=target)
    assert not full.instances and full.insufficient_capacity
    assert [e.code for e in full.errors] == [codes.RESERVATION_CAPACITY_EXCEEDED]


def test_a_reserved_launch_must_name_a_reservation_for_every_override() -> None:
    ec2 = _ec2(_catalog(("cr-1", 2, TARGETED)))
    with pytest.raises(CloudError, match="InvalidParameterValue"):
        ec2.create_fleet(0.0, [("m5.large", A), ("m5.large", B)], RESERVED,
                         capacity_reservations={("m5.large", A): "cr-1"})


def test_an_open_reservation_takes_a_matching_on_demand_launch_unless_the_launch_opts_out() -> None:
    ec2 = _ec2(_catalog(("cr-open", 1, OPEN), ("cr-t", 1, TARGETED)))
    opted_out = ec2.create_fleet(0.0, [("m5.large", A)], OD, open_reservations=False).instances[0]
    assert opted_out.capacity_reservation_id is None
    matched = ec2.create_fleet(0.0, [("m5.large", A)], OD).instances[0]
    assert matched.capacity_reservation_id == "cr-open" and matched.capacity_type == OD
    elsewhere = ec2.create_fleet(0.0, [("m5.large", A)], OD).instances[0]  # open one full, targeted never matched
    assert elsewhere.capacity_reservation_id is None


def test_a_shut_down_instance_gives_its_slot_back() -> None:
    ec2 = _ec2(_catalog(("cr-1", 1, TARGETED)))
    inst = ec2.create_fleet(0.0, [("m5.large", A)], RESERVED,
                            capacity_reservations={("m5.large", A): "cr-1"}).instances[0]
    assert ec2.reservations.available("cr-1") == 0
    ec2.terminate(100.0, inst.instance_id)
    assert ec2.reservations.available("cr-1") == 1
    assert ec2.describe_capacity_reservations()[0].available == 1


def test_a_reservation_is_billed_for_every_slot_whether_used_or_not_and_its_instances_cost_nothing_more() -> None:
    cat = _catalog(("cr-1", 3, TARGETED))
    ec2 = _ec2(cat)
    ec2.create_fleet(0.0, [("m5.large", A)], RESERVED, capacity_reservations={("m5.large", A): "cr-1"})
    now = 2 * HOUR_S
    assert ec2.cost(now) == pytest.approx(3 * _od(cat, "m5.large") * 2)
    other = ec2.create_fleet(0.0, [("m5.large", B)], OD).instances[0]  # outside the reservation: billed itself
    assert ec2.cost(now) == pytest.approx(3 * _od(cat, "m5.large") * 2 + other.price * (now - 10.0) / HOUR_S)


def test_hourly_usage_adds_up_to_the_per_second_bill_and_counts_reservations_as_on_demand_usage() -> None:
    ec2 = _ec2(_catalog(("cr-1", 2, TARGETED)))
    ec2.create_fleet(0.0, [("m5.large", A)], RESERVED, capacity_reservations={("m5.large", A): "cr-1"})
    ec2.create_fleet(100.0, [("c5.large", A)], OD, count=2)
    spot = ec2.create_fleet(200.0, [("c5.large", B)], "spot").instances[0]
    ec2.terminate(1000.0, spot.instance_id)
    now = 2.5 * HOUR_S
    usage = ec2.hourly_usage(now)
    assert usage.on_demand_usd + usage.spot_usd == pytest.approx(ec2.cost(now))
    assert usage.spot_usd == pytest.approx(spot.price * (1000.0 - 210.0) / HOUR_S)
    assert {k.instance_type for k in usage.on_demand} == {"m5.large", "c5.large"}
    assert len(usage.hour_lengths) == 3 and usage.hour_lengths[-1] == HOUR_S / 2


def test_adopting_a_reserved_instance_takes_a_slot_of_its_reservation() -> None:
    ec2 = _ec2(_catalog(("cr-1", 1, TARGETED)))
    with pytest.raises(InvalidInput, match="needs the capacity reservation"):
        ec2.adopt("i-0000000000000001", "m5.large", A, RESERVED, 0.0)
    inst = ec2.adopt("i-0000000000000001", "m5.large", A, RESERVED, 0.0, capacity_reservation_id="cr-1")
    assert inst.capacity_reservation_id == "cr-1" and ec2.reservations.available("cr-1") == 0
    with pytest.raises(InvalidInput, match="full"):
        ec2.adopt("i-0000000000000002", "m5.large", A, RESERVED, 0.0, capacity_reservation_id="cr-1")
