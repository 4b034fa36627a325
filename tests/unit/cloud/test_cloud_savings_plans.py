"""Savings Plans billing (``cloud.savings_plans``) and clock-hour usage buckets (``cloud.usage``).

Expected amounts are worked out from the AWS rules in each test (commitment per hour, Savings Plan rate =
on-demand rate × (1 − discount), EC2 Instance plans first, highest savings first, lowest rate first).
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ekstwin.cloud import savings_plans as sp
from ekstwin.cloud.usage import HOUR_S, HourlyUsage, Interval, UsageKey, bucket, hour_lengths

M5 = UsageKey("m5.large", "m5", 0.096)
M5_BIG = UsageKey("m5.2xlarge", "m5", 0.384)
C5 = UsageKey("c5.large", "c5", 0.085)


def _one_hour(usage: dict[UsageKey, float], spot: float = 0.0) -> HourlyUsage:
    return HourlyUsage(HOUR_S, (HOUR_S,), {k: (v,) for k, v in usage.items()}, spot)


def test_ec2_instance_savings_plans_apply_before_compute_plans() -> None:
    # $1/h of m5 usage. The Compute plan is listed first and has the bigger discount, yet the EC2 Instance
    # plan covers first: at 20 % off its $0.40 buys 0.40 / 0.8 = $0.50 of usage; the Compute plan the rest.
    plans = (sp.SavingsPlan(sp.COMPUTE, 1.0, 0.5, name="c"), sp.SavingsPlan(sp.EC2_INSTANCE, 0.4, 0.2, "m5", "e"))
    bill = sp.bill(_one_hour({M5: 1.0}), plans)
    compute, instance = bill.plans
    assert instance.covered_on_demand_usd == pytest.approx(0.4 / 0.8)
    assert compute.covered_on_demand_usd == pytest.approx(1.0 - 0.4 / 0.8)
    assert compute.used_usd == pytest.approx((1.0 - 0.4 / 0.8) * 0.5)


def test_within_a_type_the_plan_with_the_highest_savings_percentage_applies_first() -> None:
    # Two Compute plans of $0.30 at 10 % and 40 % off; $0.60 of usage. The 40 % plan covers 0.30 / 0.6 = $0.50,
    # the 10 % plan the remaining $0.10 (spending $0.09 of its $0.30).
    low, high = sp.SavingsPlan(sp.COMPUTE, 0.3, 0.1, name="low"), sp.SavingsPlan(sp.COMPUTE, 0.3, 0.4, name="high")
    bill = sp.bill(_one_hour({C5: 0.6}), (low, high))
    assert bill.plans[1].covered_on_demand_usd == pytest.approx(0.3 / 0.6)
    assert bill.plans[0].used_usd == pytest.approx((0.6 - 0.3 / 0.6) * 0.9)
    assert bill.uncovered_on_demand_usd == pytest.approx(0.0)


def test_at_equal_savings_the_usage_with_the_lowest_savings_plan_rate_is_covered_first() -> None:
    # One plan, $0.10/h at 50 % off, covers $0.20 of usage. m5.large's Savings Plan rate (0.048) is lower than
    # m5.2xlarge's (0.192), so its $0.096 is covered completely and m5.2xlarge gets the remaining $0.104.
    plan = sp.SavingsPlan(sp.COMPUTE, 0.1, 0.5, name="p")
    bill = sp.bill(_one_hour({M5_BIG: 0.384, M5: 0.096}), (plan,))
    assert bill.covered_by_usage[M5] == pytest.approx(0.096)
    assert bill.covered_by_usage[M5_BIG] == pytest.approx(0.2 - 0.096)
    assert bill.uncovered_on_demand_usd == pytest.approx(0.384 + 0.096 - 0.2)


def test_an_ec2_instance_plan_covers_only_its_family_in_the_region() -> None:
    plan = sp.SavingsPlan(sp.EC2_INSTANCE, 1.0, 0.3, "m5", "m5")
    bill = sp.bill(_one_hour({C5: 0.5, M5: 0.2}), (plan,))
    assert bill.covered_on_demand_usd == pytest.approx(0.2)
    assert bill.uncovered_on_demand_usd == pytest.approx(0.5)


def test_the_commitment_is_billed_every_hour_even_when_nothing_uses_it() -> None:
    plan = sp.SavingsPlan(sp.COMPUTE, 2.0, 0.3, name="p")
    idle = HourlyUsage(3 * HOUR_S, hour_lengths(3 * HOUR_S), {}, 0.0)
    bill = sp.bill(idle, (plan,))
    assert bill.total_usd == pytest.approx(3 * 2.0)
    assert bill.savings_usd == pytest.approx(-6.0) and bill.utilization == 0.0


def test_spot_usage_is_never_covered() -> None:
    bill = sp.bill(_one_hour({}, spot=0.7), (sp.SavingsPlan(sp.COMPUTE, 1.0, 0.3, name="p"),))
    assert bill.spot_usd == pytest.approx(0.7) and bill.covered_usd == 0.0
    assert bill.total_usd == pytest.approx(1.0 + 0.7)


def test_unused_commitment_of_one_hour_does_not_carry_over_to_the_next() -> None:
    # Hour 0: no usage. Hour 1: $2 of usage. A $1/h plan at 50 % covers at most $2 per hour: all of hour 1.
    usage = HourlyUsage(2 * HOUR_S, (HOUR_S, HOUR_S), {M5: (0.0, 3.0)}, 0.0)
    bill = sp.bill(usage, (sp.SavingsPlan(sp.COMPUTE, 1.0, 0.5, name="p"),))
    assert bill.covered_on_demand_usd == pytest.approx(2.0)
    assert bill.uncovered_on_demand_usd == pytest.approx(1.0)
    assert bill.total_usd == pytest.approx(2 * 1.0 + 1.0)


def test_a_partial_last_hour_prorates_the_commitment_and_what_it_covers() -> None:
    end = 1.5 * HOUR_S
    usage = HourlyUsage(end, hour_lengths(end), {M5: (1.0, 0.5)}, 0.0)
    bill = sp.bill(usage, (sp.SavingsPlan(sp.COMPUTE, 0.4, 0.2, name="p"),))
    assert bill.commitment_usd == pytest.approx(0.4 * 1.5)
    # hour 0 covers 0.4 / 0.8 = 0.5 of 1.0; the half hour covers 0.2 / 0.8 = 0.25 of 0.5
    assert bill.covered_on_demand_usd == pytest.approx(0.5 + 0.25)


def test_the_hourly_rate_is_one_full_hour_of_the_bill() -> None:
    plans = (sp.SavingsPlan(sp.EC2_INSTANCE, 0.1, 0.4, "m5", "e"), sp.SavingsPlan(sp.COMPUTE, 0.05, 0.2, name="c"))
    rates = {M5: 0.3, C5: 0.2}
    assert sp.hourly_rate(plans, rates, 0.1) == pytest.approx(sp.bill(_one_hour(rates, 0.1), plans).total_usd)


# -- clock-hour buckets ------------------------------------------------------------------------------

def _brute(intervals: list[Interval], end: float) -> dict[UsageKey, list[float]]:
    """The same buckets integrated minute by minute (intervals on whole minutes), as an independent check."""
    n = len(hour_lengths(end))
    out: dict[UsageKey, list[float]] = {}
    for iv in intervals:
        if iv.start >= end:
            continue
        rows = out.setdefault(iv.key, [0.0] * n)
        t = max(0.0, iv.start)
        while t < min(end, iv.end):
            rows[int(t // HOUR_S)] += 60.0 * iv.count * iv.key.rate / HOUR_S
            t += 60.0
        extra = iv.min_billed_s - max(0.0, min(end, iv.end) - max(0.0, iv.start))
        if extra > 0:
            rows[int(max(0.0, iv.start) // HOUR_S)] += extra * iv.count * iv.key.rate / HOUR_S
    return out


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 400), st.integers(0, 400), st.integers(1, 3)), max_size=8),
       st.integers(1, 400))
def test_buckets_match_a_minute_by_minute_integration(spans: list[tuple[int, int, int]], end_min: int) -> None:
    keys = (M5, C5)
    intervals = [Interval(keys[i % 2], 60.0 * min(a, b), 60.0 * max(a, b), n, 60.0)
                 for i, (a, b, n) in enumerate(spans)]
    got = bucket(intervals, 60.0 * end_min)
    want = _brute(intervals, 60.0 * end_min)
    assert set(got.on_demand) == set(want)
    for key, rows in want.items():
        assert got.on_demand[key] == pytest.approx(tuple(rows))


def test_bucketing_a_day_of_many_instances_splits_each_interval_once() -> None:
    # 2,000 intervals over 24 h: the total equals the intervals' own billed seconds × rate.
    rng = random.Random(5)
    intervals = []
    for i in range(2000):
        start = rng.uniform(0, 20 * HOUR_S)
        intervals.append(Interval((M5, C5, M5_BIG)[i % 3], start, start + rng.uniform(10, 10 * HOUR_S), 1, 60.0))
    end = 24 * HOUR_S
    usage = bucket(intervals, end)
    expected = sum(max(60.0, min(end, iv.end) - iv.start) * iv.key.rate / HOUR_S for iv in intervals)
    assert usage.on_demand_usd == pytest.approx(expected)
    assert len(usage.hour_lengths) == 24
