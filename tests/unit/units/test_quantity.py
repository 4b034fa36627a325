"""Kubernetes quantity parsing: exact, rounded up like the API server."""

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ekstwin.errors import InvalidQuantity
from ekstwin.units import quantity, resources


@pytest.mark.parametrize(("text", "cpu_m"), [("1", 1000), ("250m", 250), ("0.5", 500), ("1.5", 1500),
                                             ("100u", 1), ("2e3", 2_000_000), (3, 3000)])
def test_cpu_parses_to_millicores_rounding_up(text: str, cpu_m: int) -> None:
    assert quantity.milli(text) == cpu_m


@pytest.mark.parametrize(("text", "value"), [("1.5Gi", 1536 * 2**20), ("100Mi", 100 * 2**20), ("1k", 1000),
                                             ("1M", 10**6), ("0.1", 1), ("1Ki", 1024), ("1e3", 1000)])
def test_memory_parses_to_whole_bytes_rounding_up(text: str, value: int) -> None:
    assert quantity.whole(text) == value


def test_unknown_suffix_error_names_the_suffix() -> None:
    with pytest.raises(InvalidQuantity, match="unknown suffix 'x'"):
        quantity.parse("1x")


def test_text_without_a_number_is_rejected() -> None:
    with pytest.raises(InvalidQuantity, match="does not start with a number"):
        quantity.parse("Gi")


@given(st.integers(min_value=0, max_value=10**12), st.sampled_from(["Ki", "Mi", "Gi", "m", "", "k"]))
def test_parse_is_exact_for_integer_mantissas(n: int, suffix: str) -> None:
    factor = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "m": Fraction(1, 1000), "": 1, "k": 1000}[suffix]
    assert quantity.parse(f"{n}{suffix}") == n * factor


@given(st.integers(min_value=0, max_value=2**50))
def test_bytes_render_and_parse_round_trip(n: int) -> None:
    assert quantity.whole(resources.render("memory", n)) == n


@given(st.integers(min_value=0, max_value=10**9))
def test_cpu_render_and_parse_round_trip(m: int) -> None:
    assert quantity.milli(resources.render("cpu", m)) == m


def test_resources_fit_only_checks_requested_keys() -> None:
    req = resources.Resources.parse({"cpu": "1", "memory": "1Gi"})
    assert req.fits(resources.Resources.parse({"cpu": "2", "memory": "1Gi"}))
    assert not req.fits(resources.Resources.parse({"cpu": "2", "memory": "1023Mi"}))
    assert req.exceeding(resources.Resources.parse({"cpu": "500m", "memory": "2Gi"})) == ["cpu"]
