"""EC2's spot interruptions: the seeded reclaim process, its notices, and the forced-interruption knob."""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
import statistics

import pytest

from ekstwin.catalog import Catalog
from ekstwin.cloud import EC2, PENDING, SHUTTING_DOWN, TERMINATED, CloudSettings, Fixed
from ekstwin.cloud import spot as sp
from ekstwin.errors import CloudError, InvalidInput

A = "eu-west-1a"
SPOT, OD = "spot", "on-demand"
RUNNING_AT = 10.0  # conftest.FIXED: CreateFleet answers at +2 s, running 8 s later


def _ids(prefix: str, n: int) -> list[str]:
    return [f"i-0{prefix}{k:015x}" for k in range(n)]


def _launch_spot(ec2: EC2, now: float = 0.0) -> str:
    return ec2.create_fleet(now, [("c5.large", A)], SPOT).instances[0].instance_id


@pytest.fixture
def advisor(catalog: Catalog, fixed: CloudSettings) -> EC2:
    ec2 = EC2(catalog, random.Random(7), fixed)
    ec2.set_spot_interruptions(sp.ADVISOR, seed=11)
    return ec2


# ── the process ─────────────────────────────────────────────────────────────────────────────────────

def test_a_reclaim_time_depends_only_on_the_seed_and_the_instance_id() -> None:
    ids = _ids("a", 50)
    first = {i: sp.plan_interruption(3, i, 0.0, 2).reclaim_at for i in ids}
    shuffled = list(ids)
    random.Random(1).shuffle(shuffled)
    again = {i: sp.plan_interruption(3, i, 0.0, 2).reclaim_at for i in shuffled}
    assert again == first
    assert len(set(first.values())) == len(ids)  # each instance draws its own time
    assert sp.plan_interruption(4, ids[0], 0.0, 2).reclaim_at != first[ids[0]]


def test_an_instance_plans_the_same_interruption_whatever_was_launched_before_it(
        catalog: Catalog, fixed: CloudSettings) -> None:
    ec2 = EC2(catalog, random.Random(7), fixed)
    ec2.set_spot_interruptions(sp.ADVISOR, seed=11)
    ec2.create_fleet(0.0, [("m5.large", A)], OD, count=3)
    ids = [i.instance_id for i in ec2.create_fleet(0.0, [("c5.large", A)], SPOT, count=5).instances]
    bucket = catalog.get("c5.large").offerings_for([SPOT], [A])[0].interruption_bucket
    for iid in reversed(ids):  # planning is a function of the id, not of the order of launches
        planned = ec2.planned_interruption(iid)
        assert planned == sp.plan_interruption(11, iid, RUNNING_AT, bucket, fixed.unknown_bucket)


def test_a_higher_advisor_bucket_interrupts_sooner_on_average() -> None:
    means = [statistics.fmean(sp.plan_interruption(5, i, 0.0, bucket).warning_at for i in _ids(str(bucket), 3000))
             for bucket in range(5)]
    # Adjacent buckets' rates differ by at least 1.44x; the standard error of each mean is about 2 %.
    for lower, higher in itertools.pairwise(means):
        assert higher < lower / 1.25


def test_a_bucket_interrupts_its_monthly_share_of_instances_within_thirty_days() -> None:
    for bucket, p in enumerate(sp.BUCKET_MONTHLY_PROBABILITY):
        ids = _ids(f"b{bucket}", 20_000)
        share = sum(sp.plan_interruption(9, i, 0.0, bucket).warning_at <= sp.MONTH_S for i in ids) / len(ids)
        assert share == pytest.approx(p, rel=0.15)  # ≥ 3.4 standard errors even for the 2.5 % bucket


def test_an_unknown_bucket_uses_the_middle_bucket() -> None:
    assert sp.monthly_probability(None) == sp.monthly_probability(2) == 0.125
    assert sp.hazard_rate(0.125) == pytest.approx(-math.log(0.875) / (30 * 86_400))
    with pytest.raises(InvalidInput):
        sp.monthly_probability(5)


def test_the_warning_comes_exactly_two_minutes_before_the_reclaim() -> None:
    for iid in _ids("w", 20):
        plan = sp.plan_interruption(1, iid, 50.0, 4)
        assert plan.reclaim_at - plan.warning_at == 120.0
        assert plan.rebalance_at == max(50.0, plan.warning_at - sp.REBALANCE_LEAD_S)


def test_an_unknown_mode_is_rejected(ec2: EC2) -> None:
    with pytest.raises(InvalidInput, match="valid: none, advisor"):
        ec2.set_spot_interruptions("sometimes", seed=1)


# ── the emulator ────────────────────────────────────────────────────────────────────────────────────

def test_without_advisor_mode_ec2_plans_no_interruption(ec2: EC2) -> None:
    iid = _launch_spot(ec2)
    assert ec2.spot_interruptions == sp.NONE
    assert ec2.planned_interruption(iid) is None
    assert ec2.next_notice_at() is None and ec2.notices(1e9) == []


def test_on_demand_instances_are_never_planned_for_interruption(advisor: EC2) -> None:
    od = advisor.create_fleet(0.0, [("m5.large", A)], OD).instances[0].instance_id
    assert advisor.planned_interruption(od) is None


def test_advisor_mode_sends_rebalance_warning_and_reclaim_in_order(advisor: EC2) -> None:
    iid = _launch_spot(advisor)
    plan = advisor.planned_interruption(iid)
    assert plan is not None and plan.warning_at > RUNNING_AT
    assert advisor.next_notice_at() == plan.rebalance_at
    assert advisor.notices(plan.warning_at - 1e-6) == [sp.Notice(sp.REBALANCE_RECOMMENDATION, iid, plan.rebalance_at)]
    assert advisor.notices(plan.warning_at) == [sp.Notice(sp.SPOT_INTERRUPTED, iid, plan.warning_at)]
    advisor.due(plan.warning_at)
    assert advisor.get(iid).state == "running"  # a warning is only a warning
    assert advisor.next_notice_at() == plan.warning_at + 120.0
    assert advisor.notices(plan.reclaim_at) == [sp.Notice(sp.INSTANCE_TERMINATED, iid, plan.reclaim_at)]
    reclaimed = advisor.get(iid)
    assert reclaimed.state == SHUTTING_DOWN and reclaimed.shutting_down_at == plan.reclaim_at
    assert advisor.next_notice_at() is None


def test_a_reclaim_happens_at_its_time_even_when_notices_are_read_late(advisor: EC2) -> None:
    iid = _launch_spot(advisor)
    plan = advisor.planned_interruption(iid)
    assert plan is not None
    advisor.due(plan.reclaim_at + 100.0)  # terminated 30 s after the reclaim (FIXED)
    inst = advisor.get(iid)
    assert inst.state == TERMINATED and inst.shutting_down_at == plan.reclaim_at
    assert [n.kind for n in advisor.notices(plan.reclaim_at + 100.0)] == list(sp.KINDS)


def test_terminating_an_instance_cancels_its_interruption(advisor: EC2) -> None:
    iid = _launch_spot(advisor)
    advisor.terminate(60.0, iid)
    assert advisor.planned_interruption(iid) is None
    assert advisor.notices(1e12) == []


def test_the_vcpus_of_a_reclaimed_instance_are_released(catalog: Catalog, fixed: CloudSettings) -> None:
    ec2 = EC2(catalog, random.Random(7), fixed)
    ec2.set_vcpu_quota(SPOT, 2)  # room for exactly one c5.large
    iid = _launch_spot(ec2)
    ec2.interrupt(20.0, iid)
    ec2.notices(140.0)
    assert ec2.create_fleet(141.0, [("c5.large", A)], SPOT).instances


# ── the forced-interruption knob ────────────────────────────────────────────────────────────────────

def test_interrupt_warns_now_and_reclaims_two_minutes_later_whatever_the_mode(ec2: EC2) -> None:
    iid = _launch_spot(ec2)
    plan = ec2.interrupt(100.0, iid)
    assert (plan.warning_at, plan.reclaim_at, plan.forced) == (100.0, 220.0, True)
    assert [(n.kind, n.at) for n in ec2.notices(100.0)] == [(sp.REBALANCE_RECOMMENDATION, 100.0),
                                                            (sp.SPOT_INTERRUPTED, 100.0)]
    assert ec2.next_notice_at() == 220.0
    assert ec2.notices(219.9) == []
    assert ec2.notices(220.0) == [sp.Notice(sp.INSTANCE_TERMINATED, iid, 220.0)]
    assert ec2.get(iid).state == SHUTTING_DOWN


def test_interrupt_at_a_later_time_replaces_the_planned_interruption(advisor: EC2) -> None:
    iid = _launch_spot(advisor)
    advisor.interrupt(30.0, iid, at=500.0)
    assert advisor.notices(499.0) == []
    assert [n.kind for n in advisor.notices(620.0)] == list(sp.KINDS)
    assert advisor.notices(1e12) == []  # the advisor's own plan for it is gone


def test_boot_milestones_after_the_reclaim_never_happen(catalog: Catalog, fixed: CloudSettings) -> None:
    slow = dataclasses.replace(fixed, running_to_registered=Fixed(200.0))  # registered at 210 s
    ec2 = EC2(catalog, random.Random(7), slow)
    iid = _launch_spot(ec2)
    ec2.interrupt(5.0, iid)  # reclaimed at 125 s
    ec2.due(400.0)
    inst = ec2.get(iid)
    assert inst.state == TERMINATED and inst.running_at == RUNNING_AT
    assert not inst.registered and inst.registered_at is None


@pytest.mark.parametrize("case", ["on-demand", "terminated", "past"])
def test_interrupt_rejects_what_ec2_cannot_interrupt(ec2: EC2, case: str) -> None:
    if case == "on-demand":
        iid = ec2.create_fleet(0.0, [("m5.large", A)], OD).instances[0].instance_id
        at = None
    else:
        iid = _launch_spot(ec2)
        at = 5.0 if case == "past" else None
        if case == "terminated":
            ec2.terminate(50.0, iid)
    with pytest.raises(InvalidInput):
        ec2.interrupt(60.0, iid, at)
    assert ec2.get(iid).state in (PENDING, "running", SHUTTING_DOWN)


def test_interrupting_an_unknown_instance_is_not_found(ec2: EC2) -> None:
    with pytest.raises(CloudError, match="does not exist"):
        ec2.interrupt(0.0, "i-0000000000000000")
