"""NodePool disruption budgets: Karpenter's per-reason allowance, active windows and fail-closed cases."""

from datetime import UTC, datetime

import pytest

from ekstwin.autoscaling.karpenter.budgets import (
    BLOCKED_EVENT,
    DRIFTED,
    EMPTY,
    MAX_INT32,
    UNDERUTILIZED,
    Budget,
    allowed_disruptions,
    blocked,
    blocked_message,
    nodepool_budgets,
    parse_budgets,
    pool_allowance,
)
from ekstwin.errors import InvalidInput
from ekstwin.units.cron import Cron

NOW = datetime(2024, 6, 4, 10, tzinfo=UTC)  # a Tuesday
TUESDAY_10, TUESDAY_18 = datetime(2024, 6, 4, 10, tzinfo=UTC), datetime(2024, 6, 4, 18, tzinfo=UTC)
SATURDAY_10 = datetime(2024, 6, 8, 10, tzinfo=UTC)


def business_hours(nodes: str = "0", reasons: list[str] | None = None) -> Budget:
    raw: dict[str, object] = {"nodes": nodes, "schedule": "0 9 * * mon-fri", "duration": "8h"}
    if reasons is not None:
        raw["reasons"] = reasons
    return Budget.from_spec(raw)


# -- one budget's number -------------------------------------------------------------------------------


def test_twenty_percent_of_nineteen_nodes_rounds_up_to_four() -> None:
    assert Budget(nodes="20%").allowed(19) == 4


def test_an_integer_budget_allows_that_many_whatever_the_pool_size() -> None:
    assert Budget(nodes="3").allowed(100) == 3
    assert Budget(nodes="3").allowed(1) == 3


def test_the_default_ten_percent_of_five_nodes_rounds_up_to_one() -> None:
    (budget,) = parse_budgets(None)
    assert budget.nodes == "10%"
    assert budget.allowed(5) == 1


def test_a_percentage_of_an_empty_pool_is_zero() -> None:
    assert Budget(nodes="50%").allowed(0) == 0


@pytest.mark.parametrize("nodes", ["ten", "1000a%", "%", "5.5", ""])
def test_a_malformed_nodes_value_allows_nothing(nodes: str) -> None:
    assert Budget(nodes=nodes).allowed(100) == 0


# -- active windows ------------------------------------------------------------------------------------


def test_a_budget_without_a_schedule_is_always_active() -> None:
    assert Budget().active(SATURDAY_10)


def test_a_business_hours_budget_is_active_on_tuesday_at_ten() -> None:
    assert business_hours().active(TUESDAY_10)


def test_a_business_hours_budget_is_inactive_on_tuesday_at_eighteen() -> None:
    assert not business_hours().active(TUESDAY_18)


def test_a_business_hours_budget_is_inactive_on_saturday() -> None:
    assert not business_hours().active(SATURDAY_10)


def test_the_window_opens_at_the_firing_instant_and_closes_exactly_one_duration_later() -> None:
    b = business_hours()
    assert not b.active(datetime(2024, 6, 4, 8, 59, 59, tzinfo=UTC))
    assert b.active(datetime(2024, 6, 4, 9, tzinfo=UTC))
    assert b.active(datetime(2024, 6, 4, 16, 59, 59, 999_999, tzinfo=UTC))
    assert not b.active(datetime(2024, 6, 4, 17, tzinfo=UTC))


def test_a_window_longer_than_the_recurrence_stays_open() -> None:
    b = Budget.from_spec({"schedule": "@daily", "duration": "48h"})
    assert b.active(datetime(2024, 1, 7, tzinfo=UTC))
    assert b.active(datetime(2024, 1, 7, 23, 59, tzinfo=UTC))


def test_a_window_that_started_last_year_is_still_active_after_new_year() -> None:
    b = Budget.from_spec({"schedule": "0 22 31 12 *", "duration": "4h"})
    assert b.active(datetime(2025, 1, 1, 1, 30, tzinfo=UTC))
    assert not b.active(datetime(2025, 1, 1, 2, tzinfo=UTC))


def test_a_schedule_that_never_fires_counts_as_always_active_like_karpenter() -> None:
    # robfig returns its zero time when nothing fires within five years, and that is "not after now".
    b = Budget.from_spec({"nodes": "0", "schedule": "0 0 30 2 *", "duration": "1h"})
    assert b.active(NOW)


def test_a_naive_now_is_taken_as_utc() -> None:
    assert business_hours().active(datetime(2024, 6, 4, 10))
    assert not business_hours().active(datetime(2024, 6, 4, 18))


# -- the pool's allowance ------------------------------------------------------------------------------


def test_disrupting_nodes_are_subtracted_from_the_allowance() -> None:
    assert allowed_disruptions([Budget(nodes="5")], DRIFTED, NOW, total_nodes=50, disrupting=2) == 3


def test_the_allowance_never_goes_below_zero() -> None:
    assert allowed_disruptions([Budget(nodes="1")], EMPTY, NOW, total_nodes=50, disrupting=4) == 0


def test_the_most_restrictive_active_budget_wins() -> None:
    budgets = [Budget(nodes="10%"), Budget(nodes="3"), Budget(nodes="50%")]
    assert allowed_disruptions(budgets, UNDERUTILIZED, NOW, total_nodes=100, disrupting=0) == 3


def test_an_inactive_budget_does_not_constrain() -> None:
    budgets = [Budget(nodes="10"), business_hours("0")]
    assert allowed_disruptions(budgets, DRIFTED, TUESDAY_18, total_nodes=100, disrupting=0) == 10
    assert allowed_disruptions(budgets, DRIFTED, TUESDAY_10, total_nodes=100, disrupting=0) == 0


def test_a_budget_of_zero_blocks_every_reason() -> None:
    budgets = parse_budgets([{"nodes": "0"}])
    for reason in (UNDERUTILIZED, EMPTY, DRIFTED):
        assert allowed_disruptions(budgets, reason, NOW, total_nodes=10, disrupting=0) == 0


def test_a_budget_with_reasons_constrains_only_those_reasons() -> None:
    budgets = [Budget(nodes="10"), business_hours("0", reasons=[DRIFTED, UNDERUTILIZED])]
    assert allowed_disruptions(budgets, DRIFTED, TUESDAY_10, total_nodes=100, disrupting=0) == 0
    assert allowed_disruptions(budgets, UNDERUTILIZED, TUESDAY_10, total_nodes=100, disrupting=0) == 0
    assert allowed_disruptions(budgets, EMPTY, TUESDAY_10, total_nodes=100, disrupting=0) == 10


def test_each_reason_gets_the_minimum_of_the_budgets_that_name_it() -> None:
    budgets = parse_budgets([{"nodes": "10"}, {"nodes": "5", "reasons": [DRIFTED]},
                             {"nodes": "4", "reasons": [EMPTY]}])
    assert [pool_allowance(budgets, r, NOW, 100) for r in (EMPTY, DRIFTED, UNDERUTILIZED)] == [4, 5, 10]


def test_a_pool_with_no_budgets_is_unbounded() -> None:
    assert allowed_disruptions(parse_budgets([]), EMPTY, NOW, total_nodes=10, disrupting=3) is None


def test_a_pool_whose_budgets_all_name_other_reasons_is_unbounded_for_this_one() -> None:
    budgets = parse_budgets([{"nodes": "1", "reasons": [DRIFTED]}])
    assert allowed_disruptions(budgets, EMPTY, NOW, total_nodes=10, disrupting=0) is None
    assert allowed_disruptions(budgets, DRIFTED, NOW, total_nodes=10, disrupting=0) == 1


def test_a_pool_whose_only_budget_is_inactive_is_unbounded() -> None:
    assert pool_allowance([business_hours("0")], EMPTY, SATURDAY_10, 10) is None


def test_an_empty_reasons_list_applies_to_no_reason() -> None:
    budgets = parse_budgets([{"nodes": "0", "reasons": []}])
    assert pool_allowance(budgets, DRIFTED, NOW, 10) is None


def test_a_malformed_nodes_value_on_an_active_budget_blocks_the_whole_pool() -> None:
    budgets = [Budget(nodes="10"), Budget(nodes="lots", reasons=frozenset({DRIFTED}))]
    assert pool_allowance(budgets, EMPTY, NOW, 100) == 0


def test_a_malformed_nodes_value_on_an_inactive_budget_is_never_looked_at() -> None:
    budgets = [Budget(nodes="10"), business_hours("lots")]
    assert pool_allowance(budgets, EMPTY, SATURDAY_10, 100) == 10


def test_a_schedule_that_does_not_parse_blocks_the_whole_pool() -> None:
    # The CRD pattern only wants five space-separated parts, so "60 * * * *" reaches Karpenter.
    bad = Budget.from_spec({"nodes": "100%", "schedule": "60 * * * *", "duration": "1h", "reasons": [DRIFTED]})
    assert bad.schedule is None and bad.schedule_error is not None and "minute" in bad.schedule_error
    assert not bad.active(NOW)
    assert pool_allowance([Budget(nodes="10"), bad], UNDERUTILIZED, NOW, 100) == 0


def test_a_duration_without_a_schedule_fails_closed() -> None:
    bad = Budget.from_spec({"nodes": "10", "duration": "1h"})
    assert pool_allowance([bad], EMPTY, NOW, 100) == 0


def test_a_schedule_without_a_duration_is_never_active() -> None:
    assert not Budget.from_spec({"nodes": "0", "schedule": "* * * * *"}).active(NOW)


# -- reading NodePools ---------------------------------------------------------------------------------


def test_a_nodepool_without_a_disruption_block_gets_the_default_budget() -> None:
    assert nodepool_budgets({"spec": {"template": {}}}) == (Budget(nodes="10%"),)


def test_a_nodepool_budget_is_read_with_its_schedule_duration_and_reasons() -> None:
    pool = {"spec": {"disruption": {"budgets": [
        {"nodes": "20%", "schedule": "0 9 * * mon-fri", "duration": "8h", "reasons": ["Drifted", "Empty"]},
    ]}}}
    (b,) = nodepool_budgets(pool)
    assert b == Budget(nodes="20%", schedule=Cron.parse("0 9 * * mon-fri"), duration_s=8 * 3600.0,
                       reasons=frozenset({DRIFTED, EMPTY}))


def test_a_budget_without_nodes_defaults_to_ten_percent() -> None:
    assert parse_budgets([{"schedule": "@daily", "duration": "1h"}])[0].nodes == "10%"


def test_an_integer_nodes_value_from_yaml_reads_as_that_integer() -> None:
    assert parse_budgets([{"nodes": 7}])[0].allowed(100) == 7


def test_an_unknown_reason_is_refused_with_its_location() -> None:
    with pytest.raises(InvalidInput, match="unknown disruption reason 'Expired'") as err:
        parse_budgets([{"nodes": "1"}, {"nodes": "1", "reasons": ["Expired"]}])
    assert err.value.field == "spec.disruption.budgets[1].reasons"


def test_an_unreadable_duration_is_refused_with_its_location() -> None:
    with pytest.raises(InvalidInput) as err:
        parse_budgets([{"nodes": "1", "schedule": "@daily", "duration": "soon"}])
    assert err.value.field == "spec.disruption.budgets[0].duration"


# -- events --------------------------------------------------------------------------------------------


def test_the_blocked_event_names_the_reason() -> None:
    assert blocked_message(DRIFTED) == "No allowed disruptions for disruption reason Drifted due to blocking budget"
    assert BLOCKED_EVENT.format(reason=EMPTY).endswith("reason Empty due to blocking budget")


def test_a_pool_is_reported_blocked_only_when_it_has_nodes_and_a_zero_allowance() -> None:
    assert blocked(0, total_nodes=3)
    assert not blocked(0, total_nodes=0)
    assert not blocked(1, total_nodes=3)
    assert not blocked(None, total_nodes=3)


def test_unbounded_is_reported_to_metrics_as_max_int32() -> None:
    assert MAX_INT32 == 2_147_483_647
