"""CreateFleet: allocation strategies, insufficient capacity, quotas and injected failures."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable

import pytest

from ekstwin.catalog import Catalog
from ekstwin.cloud import EC2, LOWEST_PRICE, PRICE_CAPACITY_OPTIMIZED, CloudSettings, Pool
from ekstwin.cloud import errors as codes
from ekstwin.cloud.fleet import SpotDepths, capacity_tier, rank_price_capacity_optimized
from ekstwin.errors import CloudError

A, B, C = "eu-west-1a", "eu-west-1b", "eu-west-1c"
OD, SPOT = "on-demand", "spot"
Factory = Callable[..., Catalog]  # conftest.catalog_with


def _ec2(catalog: Catalog, settings: CloudSettings, seed: int = 7) -> EC2:
    return EC2(catalog, random.Random(seed), settings)


def test_lowest_price_picks_the_cheapest_on_demand_pool(catalog_with: Factory, fixed: CloudSettings) -> None:
    cat = catalog_with([("m5.large", A, OD, 0.100, None), ("c5.large", B, OD, 0.085, None),
                        ("r5.large", C, OD, 0.126, None)])
    result = _ec2(cat, fixed).create_fleet(0.0, [("m5.large", A), ("c5.large", B), ("r5.large", C)], OD)
    assert result.strategy == LOWEST_PRICE
    assert [(i.instance_type, i.zone, i.price) for i in result.instances] == [("c5.large", B, 0.085)]
    assert result.errors == []


def test_lowest_price_ties_go_to_the_earlier_override(catalog_with: Factory, fixed: CloudSettings) -> None:
    cat = catalog_with([("m5.large", z, OD, 0.1, None) for z in (A, B, C)])
    result = _ec2(cat, fixed).create_fleet(0.0, [("m5.large", C), ("m5.large", A), ("m5.large", B)], OD)
    assert result.instances[0].zone == C


def test_pco_prefers_a_low_interruption_pool_over_a_marginally_cheaper_high_interruption_one(
        catalog_with: Factory, fixed: CloudSettings) -> None:
    cat = catalog_with([("m5.large", A, SPOT, 0.040, 3), ("c5.large", A, SPOT, 0.041, 0)])
    result = _ec2(cat, fixed).create_fleet(0.0, [("m5.large", A), ("c5.large", A)], SPOT)
    assert result.strategy == PRICE_CAPACITY_OPTIMIZED
    assert result.instances[0].instance_type == "c5.large"


def test_pco_picks_the_cheapest_among_pools_of_equal_capacity(catalog_with: Factory, fixed: CloudSettings) -> None:
    cat = catalog_with([("c5.large", A, SPOT, 0.045, 0), ("c5.large", B, SPOT, 0.043, 0),
                        ("m5.large", C, SPOT, 0.044, 0), ("r5.large", C, SPOT, 0.030, 4)])
    overrides = [("c5.large", A), ("c5.large", B), ("m5.large", C), ("r5.large", C)]
    result = _ec2(cat, fixed).create_fleet(0.0, overrides, SPOT)
    assert (result.instances[0].instance_type, result.instances[0].zone) == ("c5.large", B)


def test_pco_is_capacity_first_and_would_take_a_pricier_deeper_pool(
        catalog_with: Factory, fixed: CloudSettings) -> None:
    # PCO is not a price/capacity trade-off: the deeper tier wins outright (lowest price only breaks ties).
    cat = catalog_with([("m5.large", A, SPOT, 0.020, 4), ("c5.large", A, SPOT, 0.060, 1)])
    result = _ec2(cat, fixed).create_fleet(0.0, [("m5.large", A), ("c5.large", A)], SPOT)
    assert result.instances[0].instance_type == "c5.large"


def test_capacity_tier_counts_powers_of_four_of_the_request() -> None:
    assert capacity_tier(3, 4) == -1
    assert capacity_tier(4, 4) == 0
    assert capacity_tier(15, 1) == 1
    assert capacity_tier(16, 1) == 2
    assert capacity_tier(8192, 1) == 6
    assert capacity_tier(8192, 3) == 5


def test_a_request_bigger_than_a_shallow_pool_goes_to_a_pricier_deeper_pool(fixed: CloudSettings) -> None:
    # Depths 60 and 20 share tier 2 for one instance; 21 instances do not fit the shallow pool at all.
    depths = SpotDepths(1, dataclasses.replace(fixed, spot_depth_medians=(60, 60, 60, 60, 20)))
    cheap_shallow = Pool("m5.large", A, "euw1-az3", SPOT, 0.01, 4, 0)
    pricey_deep = Pool("c5.large", A, "euw1-az3", SPOT, 0.05, 0, 1)
    pools = [cheap_shallow, pricey_deep]
    assert rank_price_capacity_optimized(pools, depths.remaining, 1)[0] is cheap_shallow
    assert rank_price_capacity_optimized(pools, depths.remaining, 21)[0] is pricey_deep


def test_launches_use_up_a_pools_depth_until_it_drops_a_tier(fixed: CloudSettings) -> None:
    depths = SpotDepths(1, dataclasses.replace(fixed, spot_depth_medians=(16,) * 5))
    a = Pool("c5.large", A, "euw1-az3", SPOT, 0.01, 0, 0)
    b = Pool("c5.large", B, "euw1-az1", SPOT, 0.02, 0, 1)
    assert rank_price_capacity_optimized([a, b], depths.remaining, 1)[0] is a
    depths.take(a)  # 15 left: tier 1 against b's tier 2
    assert depths.remaining(a) == 15
    assert rank_price_capacity_optimized([a, b], depths.remaining, 1)[0] is b


def test_spot_depths_are_seeded_per_pool_not_by_lookup_order(catalog: Catalog, fixed: CloudSettings) -> None:
    settings = dataclasses.replace(fixed, spot_depth_sigma=0.35)
    pools = [Pool(t, z, catalog.zone_id(z), SPOT, 0.05, 1, 0) for t in ("m5.large", "c5.large") for z in (A, B)]
    forward, backward = SpotDepths(99, settings), SpotDepths(99, settings)
    first = [forward.depth(p) for p in pools]
    second = [backward.depth(p) for p in reversed(pools)][::-1]
    assert first == second
    assert len(set(first)) == len(first)  # a per-zone spread, not one number per bucket


def test_an_iced_pool_is_skipped_and_reported_with_insufficient_instance_capacity(
        catalog_with: Factory, fixed: CloudSettings) -> None:
    cat = catalog_with([("c5.large", A, OD, 0.085, None), ("m5.large", B, OD, 0.096, None)])
    ec2 = _ec2(cat, fixed)
    ec2.set_pool_capacity(OD, "c5.large", A, 0)
    result = ec2.create_fleet(0.0, [("c5.large", A), ("m5.large", B)], OD)
    assert [(i.instance_type, i.zone) for i in result.instances] == [("m5.large", B)]
    assert [(e.code, e.instance_type, e.zone, e.capacity_type) for e in result.errors] == [
        (codes.INSUFFICIENT_INSTANCE_CAPACITY, "c5.large", A, OD)]
    assert result.errors[0].marks_offering_unavailable


def test_an_iced_pool_that_was_never_tried_is_not_reported(catalog_with: Factory, fixed: CloudSettings) -> None:
    cat = catalog_with([("c5.large", A, OD, 0.085, None), ("m5.large", B, OD, 0.096, None)])
    ec2 = _ec2(cat, fixed)
    ec2.set_pool_capacity(OD, "m5.large", B, 0)
    result = ec2.create_fleet(0.0, [("c5.large", A), ("m5.large", B)], OD)
    assert result.instances[0].instance_type == "c5.large" and result.errors == []


def test_all_pools_iced_gives_no_instances_and_an_error_per_pool(catalog_with: Factory, fixed: CloudSettings) -> None:
    cat = catalog_with([("c5.large", z, SPOT, 0.04, 0) for z in (A, B, C)])
    ec2 = _ec2(cat, fixed)
    for z in (A, B, C):
        ec2.set_pool_capacity(SPOT, "c5.large", z, 0)
    result = ec2.create_fleet(0.0, [("c5.large", z) for z in (A, B, C)], SPOT, count=2)
    assert result.instances == []
    assert sorted(e.zone for e in result.errors) == [A, B, C]
    assert {e.code for e in result.errors} == {codes.INSUFFICIENT_INSTANCE_CAPACITY}
    assert result.insufficient_capacity


def test_a_pool_capacity_of_n_allows_n_launches_then_ices(catalog_with: Factory, fixed: CloudSettings) -> None:
    cat = catalog_with([("c5.large", A, OD, 0.085, None)])
    ec2 = _ec2(cat, fixed)
    ec2.set_pool_capacity(OD, "c5.large", A, 2)
    result = ec2.create_fleet(0.0, [("c5.large", A)], OD, count=3)
    assert len(result.instances) == 2
    assert [e.code for e in result.errors] == [codes.INSUFFICIENT_INSTANCE_CAPACITY]
    assert ec2.pool_capacity(OD, "c5.large", A) == 0
    ec2.set_pool_capacity(OD, "c5.large", A, None)
    assert len(ec2.create_fleet(1.0, [("c5.large", A)], OD).instances) == 1


def test_a_big_fleet_falls_over_to_the_next_pool_when_the_first_runs_out(
        catalog_with: Factory, fixed: CloudSettings) -> None:
    cat = catalog_with([("c5.large", A, OD, 0.085, None), ("c5.large", B, OD, 0.085, None)])
    ec2 = _ec2(cat, fixed)
    ec2.set_pool_capacity(OD, "c5.large", A, 1)
    result = ec2.create_fleet(0.0, [("c5.large", A), ("c5.large", B)], OD, count=3)
    assert [i.zone for i in result.instances] == [A, B, B]
    assert [(e.zone, e.code) for e in result.errors] == [(A, codes.INSUFFICIENT_INSTANCE_CAPACITY)]


def test_an_override_the_catalog_does_not_offer_is_reported_unsupported(
        catalog_with: Factory, fixed: CloudSettings) -> None:
    cat = catalog_with([("c5.large", A, OD, 0.085, None)])
    result = _ec2(cat, fixed).create_fleet(0.0, [("c5.large", B), ("nope.large", A), ("c5.large", A)], OD)
    assert result.instances[0].zone == A
    assert [(e.instance_type, e.zone, e.code) for e in result.errors] == [
        ("c5.large", B, codes.UNSUPPORTED), ("nope.large", A, codes.UNSUPPORTED)]


def test_the_on_demand_vcpu_quota_answers_vcpu_limit_exceeded(ec2: EC2) -> None:
    ec2.set_vcpu_quota(OD, 4)  # two c5.large (2 vCPUs each)
    result = ec2.create_fleet(0.0, [("c5.large", A)], OD, count=3)
    assert len(result.instances) == 2
    assert [e.code for e in result.errors] == [codes.VCPU_LIMIT_EXCEEDED]
    ec2.terminate(1.0, result.instances[0].instance_id)  # shutting-down frees its vCPUs
    assert len(ec2.create_fleet(2.0, [("c5.large", A)], OD).instances) == 1


def test_the_spot_vcpu_quota_answers_max_spot_instance_count_exceeded(ec2: EC2) -> None:
    ec2.set_vcpu_quota(SPOT, 1)
    result = ec2.create_fleet(0.0, [("c5.large", A)], SPOT)
    assert result.instances == [] and result.errors[0].code == codes.MAX_SPOT_INSTANCE_COUNT_EXCEEDED


def test_enforced_spot_depth_ices_a_pool_once_used_up(catalog_with: Factory, fixed: CloudSettings) -> None:
    settings = dataclasses.replace(fixed, enforce_spot_depth=True, spot_depth_medians=(2, 2, 2, 2, 2))
    cat = catalog_with([("c5.large", A, SPOT, 0.04, 0)])
    result = _ec2(cat, settings).create_fleet(0.0, [("c5.large", A)], SPOT, count=3)
    assert len(result.instances) == 2 and result.errors[0].code == codes.INSUFFICIENT_INSTANCE_CAPACITY


def test_fail_next_raises_the_code_for_that_many_calls_then_recovers(ec2: EC2) -> None:
    ec2.fail_next(codes.REQUEST_LIMIT_EXCEEDED, times=2)
    for _ in range(2):
        with pytest.raises(CloudError) as err:
            ec2.create_fleet(0.0, [("c5.large", A)], OD)
        assert err.value.code == codes.REQUEST_LIMIT_EXCEEDED
    assert len(ec2.create_fleet(0.0, [("c5.large", A)], OD).instances) == 1


def test_calls_are_recorded_even_when_they_fail(ec2: EC2) -> None:
    ec2.fail_next("InternalError")
    with pytest.raises(CloudError):
        ec2.create_fleet(3.0, [("c5.large", A)], SPOT, count=2, tags={"karpenter.sh/nodepool": "default"})
    call = ec2.calls[0]
    assert (call.api, call.at) == ("CreateFleet", 3.0)
    assert call.params == {"overrides": (("c5.large", A),), "capacity_type": SPOT, "count": 2,
                           "tags": {"karpenter.sh/nodepool": "default"}}


def test_reset_clears_knobs_failures_and_calls(ec2: EC2) -> None:
    ec2.set_pool_capacity(OD, "c5.large", A, 0)
    ec2.set_vcpu_quota(SPOT, 0)
    ec2.fail_next("InternalError")
    ec2.reset()
    assert ec2.calls == []
    assert len(ec2.create_fleet(0.0, [("c5.large", A)], OD).instances) == 1
    assert len(ec2.create_fleet(0.0, [("c5.large", A)], SPOT).instances) == 1


def test_malformed_requests_raise_invalid_parameter_value(ec2: EC2) -> None:
    for overrides, capacity_type, count in (([], OD, 1), ([("c5.large", A)], OD, 0),
                                            ([("c5.large", A)], "reserved", 1)):
        with pytest.raises(CloudError) as err:
            ec2.create_fleet(0.0, overrides, capacity_type, count=count)
        assert err.value.code == "InvalidParameterValue"


def test_tags_are_copied_onto_every_instance(ec2: EC2) -> None:
    tags = {"karpenter.sh/nodepool": "default"}
    result = ec2.create_fleet(0.0, [("c5.large", A)], OD, count=2, tags=tags)
    tags["mutated"] = "yes"
    assert [i.tags for i in result.instances] == [{"karpenter.sh/nodepool": "default"}] * 2
