"""Karpenter's requirement algebra (pkg/scheduling requirement(s).go semantics)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ekstwin.errors import InvalidInput
from ekstwin.model.requirements import (
    ZONE,
    Requirement,
    Requirements,
    is_restricted_label,
    matches_label,
    normalize_key,
)


def R(key: str, op: str, *values: str, min_values: int | None = None) -> Requirement:
    return Requirement.new(key, op, values, min_values)


def test_in_intersect_notin_removes_the_excluded_values() -> None:
    r = R("k", "In", "a", "b", "c").intersection(R("k", "NotIn", "b"))
    assert r.operator == "In" and r.values == {"a", "c"}


def test_gt_and_lt_that_do_not_overlap_collapse_to_does_not_exist() -> None:
    assert R("k", "Gt", "5").intersection(R("k", "Lt", "5")).operator == "DoesNotExist"


def test_gt_lt_window_keeps_integers_strictly_inside() -> None:
    r = R("k", "Gt", "2").intersection(R("k", "Lt", "6"))
    assert [v for v in ("2", "3", "5", "6", "x") if r.has(v)] == ["3", "5"]


def test_min_values_of_an_intersection_is_the_larger_one() -> None:
    r = R("k", "In", "a", "b", min_values=2).intersection(R("k", "Exists", min_values=3))
    assert r.min_values == 3


def test_same_key_twice_intersects() -> None:
    reqs = Requirements([R("k", "In", "a", "b"), R("k", "In", "b", "c")])
    assert reqs["k"].values == {"b"}


def test_two_negative_operators_never_conflict() -> None:
    node = Requirements([R("k", "NotIn", "a")])
    pod = Requirements([R("k", "DoesNotExist")])
    assert node.intersects(pod) is None


def test_disjoint_in_sets_conflict() -> None:
    assert Requirements([R("k", "In", "a")]).intersects(Requirements([R("k", "In", "b")])) is not None


def test_undefined_well_known_label_is_compatible() -> None:
    assert Requirements([]).compatible(Requirements([R(ZONE, "In", "us-east-1a")])) is None


def test_undefined_custom_label_is_incompatible_with_karpenters_message() -> None:
    err = Requirements([]).compatible(Requirements([R("team", "In", "a")]))
    assert err == 'label "team" does not have known values'


def test_undefined_custom_label_with_negative_operator_is_compatible() -> None:
    assert Requirements([]).compatible(Requirements([R("team", "NotIn", "a")])) is None


def test_deprecated_zone_label_is_normalised() -> None:
    assert normalize_key("failure-domain.beta.kubernetes.io/zone") == ZONE
    assert R("failure-domain.beta.kubernetes.io/zone", "In", "a").key == ZONE


def test_hostname_and_karpenter_domains_are_restricted_but_well_known_keys_are_not() -> None:
    assert is_restricted_label("kubernetes.io/hostname")
    assert is_restricted_label("karpenter.sh/custom")
    assert not is_restricted_label("karpenter.sh/capacity-type")
    assert not is_restricted_label("node-restriction.kubernetes.io/team")
    assert not is_restricted_label("team")


def test_gt_needs_one_integer_value() -> None:
    with pytest.raises(InvalidInput, match="exactly one integer"):
        R("k", "Gt", "x")


def test_kube_scheduler_semantics_notin_matches_absent_label() -> None:
    assert matches_label(R("k", "NotIn", "a"), {})
    assert not matches_label(R("k", "Exists"), {})
    assert matches_label(R("k", "Gt", "3"), {"k": "4"})


def test_custom_multi_valued_requirement_becomes_one_concrete_label() -> None:
    assert Requirements([R("team", "In", "b", "a")]).labels() == {"team": "a"}


_values = st.sets(st.sampled_from("abcdef"), max_size=4)
_ops = st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist"])


@given(_ops, _values, _ops, _values, st.sampled_from("abcdefg"))
def test_intersection_allows_exactly_the_values_both_allow(op1: str, v1: set[str], op2: str, v2: set[str],
                                                           probe: str) -> None:
    if (op1 == "In" and not v1) or (op2 == "In" and not v2):
        return
    a, b = R("k", op1, *v1), R("k", op2, *v2)
    assert a.intersection(b).has(probe) == (a.has(probe) and b.has(probe))
    assert a.intersection(b) == b.intersection(a)


def test_conflicting_expressions_on_one_key_match_no_node_even_without_the_label() -> None:
    merged = Requirements([R("k", "In", "a"), R("k", "In", "b")])["k"]
    assert merged.operator == "DoesNotExist"  # how Karpenter prints an empty intersection
    assert not matches_label(merged, {}) and not matches_label(merged, {"k": "a"})
    assert not matches_label(Requirements([R("k", "Exists"), R("k", "DoesNotExist")])["k"], {})


def test_negative_expressions_on_one_key_still_match_a_node_without_the_label() -> None:
    assert matches_label(Requirements([R("k", "NotIn", "a"), R("k", "DoesNotExist")])["k"], {})
