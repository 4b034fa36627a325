"""Go-style durations for scenarios and reports, and kubectl's human ages."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ekstwin.errors import InvalidInput
from ekstwin.units.durations import format_age, format_duration, parse_duration


@pytest.mark.parametrize(("text", "seconds"), [
    ("4m", 240.0), ("90s", 90.0), ("1h30m", 5400.0), ("1.5h", 5400.0), ("500ms", 0.5), ("0", 0.0),
    ("2h45m30.5s", 9930.5), ("1m30s500ms", 90.5), ("-1m", -60.0), (".5s", 0.5), ("100us", 0.0001),
])
def test_go_duration_text_parses_to_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "4", "m", "4x", "1h 30m", "4 m", "1.2.3s", "four minutes", "1d"])
def test_text_that_is_not_a_go_duration_is_an_input_error_naming_it(text: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_duration(text)
    assert repr(text) in str(err.value)


@pytest.mark.parametrize(("seconds", "text"), [
    (240, "4m"), (3723, "1h2m3s"), (0, "0s"), (3600, "1h"), (3605, "1h5s"), (1.5, "1.5s"), (0.5, "500ms"),
    (0.0015, "1.5ms"), (90061, "25h1m1s"), (-240, "-4m"),
])
def test_durations_format_without_zero_components(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@given(st.integers(min_value=-10**10, max_value=10**10))
def test_formatted_durations_parse_back_to_the_same_seconds(millis: int) -> None:
    seconds = millis / 1000
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize(("seconds", "age"), [
    (0, "0s"), (45, "45s"), (119.9, "119s"),          # exact seconds below two minutes
    (120, "2m"), (303, "5m3s"), (599, "9m59s"),          # minutes and seconds below ten minutes
    (600, "10m"), (605, "10m"), (179 * 60 + 59, "179m"),  # whole minutes below three hours
    (3 * 3600 + 240, "3h4m"), (7 * 3600, "7h"),           # hours and minutes below eight hours
    (8 * 3600 + 59 * 60, "8h"), (47 * 3600, "47h"),       # whole hours below two days
    (51 * 3600, "2d3h"), (7 * 86400 + 23 * 3600, "7d23h"),  # days and hours below eight days
    (8 * 86400 + 5 * 3600, "8d"), (729 * 86400, "729d"),  # whole days below two years
    (731 * 86400, "2y1d"), (8 * 365 * 86400 + 86400, "8y"),
])
def test_ages_follow_kubectl_human_duration(seconds: float, age: str) -> None:
    assert format_age(seconds) == age


def test_an_age_slightly_in_the_future_reads_as_zero_and_further_as_invalid() -> None:
    assert format_age(-1.5) == "0s"
    assert format_age(-2) == "<invalid>"
