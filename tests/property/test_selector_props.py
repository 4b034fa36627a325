"""Properties of label selectors and node-selector requirements (Hypothesis)."""

from hypothesis import given
from hypothesis import strategies as st

from ekstwin.model.requirements import Requirement, Requirements, matches_label
from ekstwin.model.selectors import EVERYTHING, NOTHING, LabelSelector

keys = st.sampled_from(["app", "tier", "zone", "team"])
values = st.sampled_from(["a", "b", "c"])
labelsets = st.dictionaries(keys, values, max_size=4)
exprs = st.lists(st.fixed_dictionaries({"key": keys, "operator": st.sampled_from(["In", "NotIn", "Exists",
                                                                                  "DoesNotExist"]),
                                        "values": st.lists(values, min_size=1, max_size=2)}), max_size=3)


@given(labelsets)
def test_a_selector_made_of_an_objects_labels_matches_it(labels: dict[str, str]) -> None:
    assert LabelSelector.parse({"matchLabels": labels}).matches(labels)


@given(labelsets)
def test_the_empty_selector_matches_everything_and_a_null_selector_nothing(labels: dict[str, str]) -> None:
    assert EVERYTHING.matches(labels) and not NOTHING.matches(labels)
    assert LabelSelector.parse({}).matches(labels) and not LabelSelector.parse(None).matches(labels)


@given(labelsets, exprs, labelsets)
def test_adding_terms_never_widens_a_selector(match: dict[str, str], expressions: list[dict[str, object]],
                                              labels: dict[str, str]) -> None:
    sel = LabelSelector.parse({"matchExpressions": expressions})
    narrower = sel.with_labels(match)
    assert not narrower.matches(labels) or sel.matches(labels)


@given(exprs, labelsets)
def test_a_requirement_set_matches_labels_exactly_when_every_requirement_does(
        expressions: list[dict[str, object]], labels: dict[str, str]) -> None:
    reqs = Requirements.from_node_selector_terms(expressions)
    singles = [Requirement.new(str(e["key"]), str(e["operator"]), [str(v) for v in e["values"]])  # type: ignore[attr-defined]
               for e in expressions]
    # intersecting same-key requirements must not change which label sets pass
    assert all(matches_label(r, labels) for r in reqs.values()) == all(matches_label(r, labels) for r in singles)
