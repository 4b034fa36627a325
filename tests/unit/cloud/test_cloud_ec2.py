"""Instance identity (ids, addresses, DNS, provider id), listing and billing."""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Callable

import pytest

from ekstwin.catalog import Catalog, load_catalog
from ekstwin.cloud import EC2, PENDING, RUNNING, SHUTTING_DOWN, CloudSettings, billed_seconds, price_per_hour
from ekstwin.cloud import errors as codes

A, B = "eu-west-1a", "eu-west-1b"
OD = "on-demand"
Factory = Callable[..., Catalog]  # conftest.catalog_with


def _ids_and_names(catalog: Catalog, seed: int) -> list[tuple[str, str]]:
    ec2 = EC2(catalog, random.Random(seed))
    result = ec2.create_fleet(0.0, [("c5.large", A), ("c5.large", B)], OD, count=50)
    return [(i.instance_id, i.private_dns_name) for i in result.instances]


def test_instance_ids_and_dns_names_are_unique_and_deterministic(catalog: Catalog) -> None:
    first = _ids_and_names(catalog, 1)
    assert first == _ids_and_names(catalog, 1)
    assert first != _ids_and_names(catalog, 2)
    assert len({i for i, _ in first}) == 50 and len({n for _, n in first}) == 50


def test_instance_ids_look_like_ec2_ids(ec2: EC2) -> None:
    ids = [i.instance_id for i in ec2.create_fleet(0.0, [("c5.large", A)], OD, count=20).instances]
    assert all(re.fullmatch(r"i-0[0-9a-f]{16}", i) for i in ids)


def test_dns_names_carry_the_private_ip_and_the_region_domain(ec2: EC2) -> None:
    inst = ec2.create_fleet(0.0, [("c5.large", A)], OD).instances[0]
    assert re.fullmatch(r"10\.\d+\.\d+\.\d+", inst.private_ip)
    assert inst.private_dns_name == f"ip-{inst.private_ip.replace('.', '-')}.eu-west-1.compute.internal"


def test_us_east_1_dns_names_end_in_ec2_internal() -> None:
    cat = load_catalog("us-east-1", ["us-east-1a"], seed=1)
    inst = EC2(cat, random.Random(1)).create_fleet(0.0, [("m5.large", "us-east-1a")], OD).instances[0]
    assert re.fullmatch(r"ip-10-\d+-\d+-\d+\.ec2\.internal", inst.private_dns_name)


def test_each_zone_draws_addresses_from_its_own_subnet(ec2: EC2) -> None:
    a = ec2.create_fleet(0.0, [("c5.large", A)], OD, count=20).instances
    b = ec2.create_fleet(0.0, [("c5.large", B)], OD, count=20).instances
    third_octets = {z: {int(i.private_ip.split(".")[2]) // 32 for i in insts} for z, insts in ((A, a), (B, b))}
    assert third_octets == {A: {0}, B: {1}}


def test_provider_id_names_the_zone_and_the_instance(ec2: EC2) -> None:
    inst = ec2.create_fleet(0.0, [("c5.large", B)], OD).instances[0]
    assert inst.provider_id == f"aws:///eu-west-1b/{inst.instance_id}"
    assert inst.zone_id == ec2.catalog.zone_id(B)


def test_instances_lists_in_launch_order_and_filters_by_state(ec2: EC2) -> None:
    first, second = ec2.create_fleet(0.0, [("c5.large", A)], OD, count=2).instances
    ec2.due(10.0)
    ec2.terminate(20.0, first.instance_id)
    assert [i.instance_id for i in ec2.instances()] == [first.instance_id, second.instance_id]
    assert [i.instance_id for i in ec2.instances(states={RUNNING})] == [second.instance_id]
    assert [i.state for i in ec2.instances(states={SHUTTING_DOWN, PENDING})] == [SHUTTING_DOWN]


def test_the_price_is_the_offerings_price_at_launch(ec2: EC2) -> None:
    inst = ec2.create_fleet(0.0, [("c5.large", A)], "spot").instances[0]
    offering = ec2.catalog.get("c5.large").offerings_for(["spot"], [A])[0]
    assert price_per_hour(inst) == ec2.price_per_hour(inst) == offering.price


def test_cost_integrates_price_over_running_time(catalog_with: Factory, fixed: CloudSettings) -> None:
    cat = catalog_with([("c5.large", A, OD, 0.36, None), ("m5.large", A, OD, 0.72, None)])
    ec2 = EC2(cat, random.Random(1), fixed)
    ec2.create_fleet(0.0, [("c5.large", A)], OD)  # running from t = 10 s
    ec2.create_fleet(0.0, [("m5.large", A)], OD)
    assert ec2.cost(5.0) == 0.0  # pending is not billed
    assert ec2.cost(3610.0) == pytest.approx(0.36 + 0.72)
    assert ec2.cost(7210.0) == pytest.approx(2 * (0.36 + 0.72))


def test_billing_stops_when_shutting_down_starts(catalog_with: Factory, fixed: CloudSettings) -> None:
    cat = catalog_with([("c5.large", A, OD, 0.36, None)])
    ec2 = EC2(cat, random.Random(1), fixed)
    inst = ec2.create_fleet(0.0, [("c5.large", A)], OD).instances[0]
    ec2.terminate(1810.0, inst.instance_id)
    assert ec2.cost(1820.0) == ec2.cost(99999.0) == pytest.approx(0.18)


def test_a_running_instance_is_billed_at_least_a_minute(catalog_with: Factory, fixed: CloudSettings) -> None:
    cat = catalog_with([("c5.large", A, OD, 3.6, None)])
    ec2 = EC2(cat, random.Random(1), fixed)
    inst = ec2.create_fleet(0.0, [("c5.large", A)], OD).instances[0]
    ec2.terminate(15.0, inst.instance_id)
    assert billed_seconds(ec2.get(inst.instance_id), 100.0, 60.0) == 60.0
    assert ec2.cost(100.0) == pytest.approx(3.6 * 60 / 3600)


def test_an_instance_terminated_while_pending_costs_nothing(ec2: EC2) -> None:
    inst = ec2.create_fleet(0.0, [("c5.large", A)], OD).instances[0]
    ec2.terminate(5.0, inst.instance_id)
    assert ec2.cost(1000.0) == 0.0


def test_a_full_subnet_answers_insufficient_free_addresses(catalog_with: Factory, fixed: CloudSettings) -> None:
    cat = catalog_with([("c5.large", A, OD, 0.1, None), ("c5.large", B, OD, 0.2, None)])
    ec2 = EC2(cat, random.Random(1), dataclasses.replace(fixed))
    filled = ec2.create_fleet(0.0, [("c5.large", A)], OD, count=8187)  # a /19 minus 5 reserved addresses
    assert len(filled.instances) == 8187 and filled.errors == []
    assert len({i.private_ip for i in filled.instances}) == 8187
    result = ec2.create_fleet(1.0, [("c5.large", A), ("c5.large", B)], OD)
    assert result.instances[0].zone == B
    assert [(e.zone, e.code) for e in result.errors] == [(A, codes.INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET)]
