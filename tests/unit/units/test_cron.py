"""Cron schedules read the way Karpenter's budget code reads them (robfig/cron v3, standard parser, UTC)."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ekstwin.errors import InvalidInput
from ekstwin.units.cron import Cron


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0,
        micro: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


# -- fields --------------------------------------------------------------------------------------------


def test_a_plain_five_field_line_selects_the_listed_values() -> None:
    c = Cron.parse("5 9 1 6 3")
    assert (c.minutes, c.hours) == ((5,), (9,))
    assert (c.days, c.months, c.weekdays) == (frozenset({1}), frozenset({6}), frozenset({3}))


def test_star_and_question_mark_select_the_whole_field() -> None:
    c = Cron.parse("* ? * ? *")
    assert c.minutes == tuple(range(60))
    assert c.hours == tuple(range(24))
    assert c.days == set(range(1, 32)) and c.months == set(range(1, 13)) and c.weekdays == set(range(7))


def test_lists_and_ranges_combine_and_empty_list_items_are_skipped() -> None:
    assert Cron.parse("1,5-7,,30, * * * *").minutes == (1, 5, 6, 7, 30)


def test_a_step_on_a_star_counts_from_the_field_minimum() -> None:
    assert Cron.parse("*/15 * * * *").minutes == (0, 15, 30, 45)
    assert Cron.parse("* * */10 * *").days == {1, 11, 21, 31}


def test_a_step_on_a_single_value_runs_to_the_field_maximum() -> None:
    assert Cron.parse("5/20 * * * *").minutes == (5, 25, 45)


def test_a_step_on_a_range_stays_inside_the_range() -> None:
    assert Cron.parse("10-20/5 * * * *").minutes == (10, 15, 20)


def test_a_step_larger_than_the_field_keeps_only_the_start() -> None:
    assert Cron.parse("*/90 * * * *").minutes == (0,)


def test_month_and_weekday_names_work_in_any_case_and_inside_ranges() -> None:
    c = Cron.parse("0 0 * JAN-mar Mon-FRI")
    assert c.months == {1, 2, 3}
    assert c.weekdays == {1, 2, 3, 4, 5}


def test_sunday_is_zero() -> None:
    assert Cron.parse("0 0 * * sun").weekdays == {0}


def test_surrounding_whitespace_and_tabs_between_fields_are_accepted() -> None:
    assert Cron.parse("  0\t9   * * *  ").hours == (9,)


# -- macros --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("macro", "fires", "does_not_fire"), [
    ("@yearly", utc(2024, 1, 1), utc(2024, 2, 1)),
    ("@annually", utc(2025, 1, 1), utc(2025, 1, 2)),
    ("@monthly", utc(2024, 3, 1), utc(2024, 3, 2)),
    ("@weekly", utc(2024, 6, 2), utc(2024, 6, 3)),  # 2024-06-02 is a Sunday
    ("@daily", utc(2024, 6, 3), utc(2024, 6, 3, 1)),
    ("@midnight", utc(2024, 6, 4), utc(2024, 6, 4, 0, 1)),
    ("@hourly", utc(2024, 6, 4, 7), utc(2024, 6, 4, 7, 30)),
])
def test_each_macro_fires_when_its_five_field_equivalent_does(macro: str, fires: datetime,
                                                              does_not_fire: datetime) -> None:
    c = Cron.parse(macro)
    assert c.matches(fires)
    assert not c.matches(does_not_fire)


def test_macros_are_case_sensitive() -> None:
    with pytest.raises(InvalidInput, match="unknown macro '@DAILY'"):
        Cron.parse("@DAILY")


def test_every_is_refused_because_no_nodepool_can_carry_one() -> None:
    with pytest.raises(InvalidInput, match="@every is not supported"):
        Cron.parse("@every 1h")


def test_reboot_is_not_a_macro() -> None:
    with pytest.raises(InvalidInput, match="descriptor: unknown macro"):
        Cron.parse("@reboot")


# -- day-of-month / day-of-week ------------------------------------------------------------------------


def test_restricted_day_of_month_and_day_of_week_fire_on_either() -> None:
    c = Cron.parse("0 0 13 * fri")
    assert c.matches(utc(2024, 6, 13))  # a Thursday, the 13th
    assert c.matches(utc(2024, 6, 14))  # a Friday, the 14th
    assert not c.matches(utc(2024, 6, 15))


def test_a_star_day_of_week_leaves_only_the_day_of_month() -> None:
    c = Cron.parse("0 0 13 * *")
    assert c.matches(utc(2024, 6, 13))
    assert not c.matches(utc(2024, 6, 14))


def test_a_stepped_star_is_a_restriction_so_the_days_combine_with_or() -> None:
    # "*/2" loses the star mark: odd days OR Mondays. 2024-06-10 is an even-dated Monday.
    c = Cron.parse("0 0 */2 * mon")
    assert c.matches(utc(2024, 6, 10))
    assert c.matches(utc(2024, 6, 11))
    assert not c.matches(utc(2024, 6, 12))


def test_a_star_anywhere_in_a_list_marks_the_field_so_the_days_combine_with_and() -> None:
    c = Cron.parse("0 0 5,* * mon")
    assert c.days_and
    assert c.matches(utc(2024, 6, 10))
    assert not c.matches(utc(2024, 6, 5))  # a Wednesday


# -- errors --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "field", "problem"), [
    ("60 * * * *", "minute", "60 is above the maximum 59"),
    ("* 24 * * *", "hour", "24 is above the maximum 23"),
    ("* * 0 * *", "day-of-month", "0 is below the minimum 1"),
    ("* * * 13 *", "month", "13 is above the maximum 12"),
    ("* * * * 7", "day-of-week", "7 is above the maximum 6"),
    ("0 0 * * tue-mon", "day-of-week", "starts at 2, after its end 1"),
    ("*/0 * * * *", "minute", "step in '\\*/0' must be positive"),
    ("1/2/3 * * * *", "minute", "more than one '/'"),
    ("1-2-3 * * * *", "minute", "more than one '-'"),
    ("x * * * *", "minute", "'x' is not a number"),
    ("* * * * monday", "day-of-week", "'monday' is not a number"),
    ("-5 * * * *", "minute", "'' is not a number"),
])
def test_a_bad_field_is_named_in_the_error(text: str, field: str, problem: str) -> None:
    with pytest.raises(InvalidInput, match=f"{field} field .*{problem}") as err:
        Cron.parse(text)
    assert repr(text) in str(err.value)


def test_a_name_may_start_a_step_but_not_be_one() -> None:
    assert Cron.parse("0 0 * jan/3 *").months == {1, 4, 7, 10}
    with pytest.raises(InvalidInput, match="day-of-week field '\\*/mon': 'mon' is not a number"):
        Cron.parse("0 0 * * */mon")


def test_six_fields_are_refused_as_there_is_no_seconds_field() -> None:
    with pytest.raises(InvalidInput, match="found 6 \\(a seconds field is not supported\\)"):
        Cron.parse("0 0 9 * * *")


@pytest.mark.parametrize("text", ["", "* * * *", "0 9 * * 1-5 2024"])
def test_a_wrong_number_of_fields_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="expected 5 fields"):
        Cron.parse(text)


def test_a_wildcard_ignores_what_follows_its_hyphen_as_robfig_does() -> None:
    assert Cron.parse("*-5 * * * *").minutes == tuple(range(60))


# -- last firing ---------------------------------------------------------------------------------------


def test_the_last_firing_can_be_the_instant_itself() -> None:
    assert Cron.parse("0 9 * * *").last_fire_at_or_before(utc(2024, 6, 4, 9)) == utc(2024, 6, 4, 9)


def test_seconds_inside_a_firing_minute_find_that_minute() -> None:
    t = utc(2024, 6, 4, 9, 0, 59, 999_999)
    assert Cron.parse("0 9 * * *").last_fire_at_or_before(t) == utc(2024, 6, 4, 9)


def test_the_last_firing_before_the_first_time_of_day_is_the_previous_matching_day() -> None:
    c = Cron.parse("30 9,17 * * mon-fri")
    assert c.last_fire_at_or_before(utc(2024, 6, 3, 9, 29)) == utc(2024, 5, 31, 17, 30)  # Mon -> Fri


def test_the_last_firing_uses_the_latest_minute_of_the_latest_hour_before_t() -> None:
    c = Cron.parse("10,40 8-12 * * *")
    assert c.last_fire_at_or_before(utc(2024, 6, 4, 11, 39)) == utc(2024, 6, 4, 11, 10)
    assert c.last_fire_at_or_before(utc(2024, 6, 4, 11, 9)) == utc(2024, 6, 4, 10, 40)


def test_the_last_firing_crosses_a_month_boundary() -> None:
    assert Cron.parse("0 0 31 * *").last_fire_at_or_before(utc(2024, 7, 15)) == utc(2024, 5, 31)


def test_the_last_firing_crosses_a_year_boundary() -> None:
    assert Cron.parse("0 12 * dec *").last_fire_at_or_before(utc(2025, 3, 1)) == utc(2024, 12, 31, 12)


def test_a_leap_day_schedule_finds_the_last_leap_year() -> None:
    assert Cron.parse("0 0 29 feb *").last_fire_at_or_before(utc(2027, 1, 1)) == utc(2024, 2, 29)


def test_a_leap_day_schedule_looks_back_across_a_century_that_is_not_a_leap_year() -> None:
    assert Cron.parse("0 0 29 2 *").last_fire_at_or_before(utc(2104, 2, 28)) == utc(2096, 2, 29)


def test_a_schedule_that_can_never_fire_has_no_last_firing() -> None:
    assert Cron.parse("0 0 30 2 *").last_fire_at_or_before(utc(2024, 6, 1)) is None
    assert Cron.parse(", * * * *").last_fire_at_or_before(utc(2024, 6, 1)) is None


def test_a_time_with_another_offset_is_read_in_utc() -> None:
    plus_two = datetime(2024, 6, 4, 11, 0, tzinfo=timezone(timedelta(hours=2)))
    assert Cron.parse("0 9 * * *").last_fire_at_or_before(plus_two) == utc(2024, 6, 4, 9)


def test_a_naive_time_is_taken_as_utc() -> None:
    assert Cron.parse("0 9 * * *").matches(datetime(2024, 6, 4, 9))


# -- next firing (robfig's Next) ----------------------------------------------------------------------


def test_the_next_firing_is_strictly_after_t() -> None:
    c = Cron.parse("0 9 * * *")
    assert c.next_fire_after(utc(2024, 6, 4, 9)) == utc(2024, 6, 5, 9)
    assert c.next_fire_after(utc(2024, 6, 4, 8, 59, 59, 500_000)) == utc(2024, 6, 4, 9)


def test_the_next_firing_crosses_into_a_leap_year_february() -> None:
    assert Cron.parse("0 0 29 2 *").next_fire_after(utc(2021, 3, 1)) == utc(2024, 2, 29)


def test_the_next_firing_gives_up_after_robfigs_five_year_horizon() -> None:
    # 2096-03-01 -> the next Feb 29 is in 2104, beyond 2096 + 5.
    assert Cron.parse("0 0 29 2 *").next_fire_after(utc(2096, 3, 1)) is None
    assert Cron.parse("0 0 1 1 *").next_fire_after(utc(2030, 1, 2)) == utc(2031, 1, 1)


# -- agreement with brute force -----------------------------------------------------------------------

_ITEMS = {
    "minute": st.sampled_from(["*", "0", "*/7", "15-45/10", "5,50", "59"]),
    "hour": st.sampled_from(["*", "0", "9-17", "*/5", "23", "3,4"]),
    "dom": st.sampled_from(["*", "1", "15-20", "*/3", "31", "29"]),
    "month": st.sampled_from(["*", "feb", "1-3", "*/4", "dec"]),
    "dow": st.sampled_from(["*", "mon-fri", "sun", "*/2", "sat,3"]),
}


def _brute_last(c: Cron, t: datetime, window: timedelta) -> datetime | None:
    m = t.replace(second=0, microsecond=0)
    while m >= t - window:
        if c.matches(m):
            return m
        m -= timedelta(minutes=1)
    return None


@settings(max_examples=60, deadline=None)
@given(minute=_ITEMS["minute"], hour=_ITEMS["hour"], dom=_ITEMS["dom"], month=_ITEMS["month"],
       dow=_ITEMS["dow"], offset=st.integers(min_value=0, max_value=4 * 365 * 24 * 60))
def test_the_field_walk_agrees_with_a_minute_by_minute_search(minute: str, hour: str, dom: str, month: str,
                                                              dow: str, offset: int) -> None:
    c = Cron.parse(f"{minute} {hour} {dom} {month} {dow}")
    t = utc(2023, 1, 1) + timedelta(minutes=offset, seconds=17)
    window = timedelta(days=3)
    last = c.last_fire_at_or_before(t)
    expected = _brute_last(c, t, window)
    if expected is not None:
        assert last == expected
    else:
        assert last is None or last < t - window
    nxt = c.next_fire_after(t - window)
    assert (nxt is not None and nxt <= t) == (expected is not None)
