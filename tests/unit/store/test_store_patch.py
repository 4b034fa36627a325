"""RFC 7386 merge patches, as a pure function and through the store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ekstwin.errors import Conflict, InvalidInput
from ekstwin.store.store import Store, merge_patch, thaw

Make = Callable[..., dict[str, Any]]


@pytest.mark.parametrize(("target", "patch", "expected"), [
    pytest.param({"a": 1}, {"a": 2}, {"a": 2}, id="a scalar replaces a scalar"),
    pytest.param({"a": 1}, {"b": 2}, {"a": 1, "b": 2}, id="a new key is added"),
    pytest.param({"a": 1, "b": 2}, {"a": None}, {"b": 2}, id="null deletes a key"),
    pytest.param({"a": 1}, {"z": None}, {"a": 1}, id="null for a missing key changes nothing"),
    pytest.param({"a": {"x": 1, "y": 2}}, {"a": {"y": 3}}, {"a": {"x": 1, "y": 3}},
                 id="nested objects merge key by key"),
    pytest.param({"a": {"x": 1}}, {"a": {"x": None}}, {"a": {}}, id="null deletes a nested key"),
    pytest.param({"a": [1, 2, 3]}, {"a": [4]}, {"a": [4]}, id="a list replaces a list whole"),
    pytest.param({"a": [{"x": 1}]}, {"a": [{"y": None}]}, {"a": [{"y": None}]},
                 id="objects inside a list are not merged"),
    pytest.param({"a": 1}, {"a": {"b": {"c": None, "d": 1}}}, {"a": {"b": {"d": 1}}},
                 id="an object replacing a scalar has its nulls removed"),
    pytest.param({"a": {"x": 1}}, {"a": 5}, {"a": 5}, id="a scalar replaces an object"),
    pytest.param({"a": 1}, {}, {"a": 1}, id="an empty patch changes nothing"),
])
def test_merge_patch(target: Any, patch: Any, expected: Any) -> None:
    before = thaw({"t": target})
    assert merge_patch(target, patch) == expected
    assert {"t": target} == before


def test_a_non_object_patch_replaces_the_target() -> None:
    assert merge_patch({"a": 1}, ["x"]) == ["x"]


def test_merge_patch_shares_untouched_subtrees() -> None:
    target = {"spec": {"big": [1, 2]}, "status": {"phase": "Pending"}}
    out = merge_patch(target, {"status": {"phase": "Running"}})
    assert out["spec"] is target["spec"]


def test_store_patch_with_null_removes_a_label(store: Store, pod: Make) -> None:
    store.create(pod(labels={"a": "1", "b": "2"}))
    out = store.patch("Pod", "p", "default", {"metadata": {"labels": {"a": None}}})
    assert out["metadata"]["labels"] == {"b": "2"}


def test_a_patch_carrying_a_stale_resource_version_conflicts(store: Store, pod: Make) -> None:
    store.create(pod())
    store.patch("Pod", "p", None, {"spec": {"nodeName": "n"}})
    with pytest.raises(Conflict):
        store.patch("Pod", "p", None, {"metadata": {"resourceVersion": "1"}, "spec": {"nodeName": "m"}})


def test_a_patch_carrying_the_current_resource_version_applies(store: Store, pod: Make) -> None:
    store.create(pod())
    out = store.patch("Pod", "p", None, {"metadata": {"resourceVersion": "1"}, "spec": {"nodeName": "m"}})
    assert out["metadata"]["resourceVersion"] == "2"


def test_a_patch_cannot_rename_the_object(store: Store, pod: Make) -> None:
    store.create(pod())
    with pytest.raises(InvalidInput, match="name"):
        store.patch("Pod", "p", None, {"metadata": {"name": "q"}})


def test_a_patch_cannot_remove_the_uid(store: Store, pod: Make) -> None:
    uid = store.create(pod())["metadata"]["uid"]
    assert store.patch("Pod", "p", None, {"metadata": {"uid": None}})["metadata"]["uid"] == uid


def test_a_patch_must_be_an_object(store: Store, pod: Make) -> None:
    store.create(pod())
    with pytest.raises(InvalidInput, match="JSON object"):
        store.patch("Pod", "p", None, ["spec"])  # type: ignore[arg-type]
