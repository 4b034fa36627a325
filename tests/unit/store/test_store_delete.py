"""Deletion: immediate without finalizers, two-phase with them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ekstwin.errors import Conflict, InvalidInput, NotFound
from ekstwin.sim.clock import SimClock
from ekstwin.store.store import Store

Make = Callable[..., dict[str, Any]]
FIN = "karpenter.sh/termination"


def test_delete_without_finalizers_removes_the_object(store: Store, pod: Make) -> None:
    store.create(pod())
    gone = store.delete("Pod", "p")
    assert store.try_get("Pod", "p") is None
    assert gone["metadata"]["resourceVersion"] == "2"
    assert [e.type for e in store.events_since(0)] == ["ADDED", "DELETED"]


def test_the_deleted_event_carries_the_last_state_at_a_new_resource_version(store: Store, pod: Make) -> None:
    created = store.create(pod())
    store.delete("Pod", "p")
    ev = store.events_since(1)[0]
    assert ev.old is created
    assert ev.obj["spec"] == created["spec"]
    assert ev.obj["metadata"]["resourceVersion"] == str(ev.resource_version) == "2"


def test_delete_with_finalizers_marks_the_object_and_keeps_it(store: Store, clock: SimClock,
                                                              node: Make) -> None:
    store.create(node(finalizers=[FIN]))
    clock.set(42)
    marked = store.delete("Node", "n", grace_seconds=30)
    assert store.get("Node", "n") is marked
    assert marked["metadata"]["deletionTimestamp"] == "2024-01-01T00:00:42Z"
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 30
    assert marked["metadata"]["generation"] == 2


def test_deleting_an_object_already_being_deleted_changes_nothing(store: Store, clock: SimClock,
                                                                  node: Make) -> None:
    store.create(node(finalizers=[FIN]))
    first = store.delete("Node", "n")
    clock.set(10)
    assert store.delete("Node", "n") is first
    assert store.resource_version == 2


def test_removing_the_last_finalizer_removes_the_object_with_one_deleted_event(store: Store,
                                                                               node: Make) -> None:
    store.create(node(finalizers=[FIN, "other"]))
    marked = store.delete("Node", "n")
    store.update({**marked, "metadata": {**marked["metadata"], "finalizers": ["other"]}})
    assert store.try_get("Node", "n") is not None
    store.patch("Node", "n", None, {"metadata": {"finalizers": None}})
    assert store.try_get("Node", "n") is None
    assert [e.type for e in store.events_since(0)] == ["ADDED", "MODIFIED", "MODIFIED", "DELETED"]
    store.check_valid()


def test_emptying_finalizers_of_a_live_object_does_not_delete_it(store: Store, node: Make) -> None:
    store.create(node(finalizers=[FIN]))
    store.patch("Node", "n", None, {"metadata": {"finalizers": []}})
    assert store.try_get("Node", "n") is not None


def test_a_finalizer_cannot_be_added_to_an_object_being_deleted(store: Store, node: Make) -> None:
    store.create(node(finalizers=[FIN]))
    store.delete("Node", "n")
    with pytest.raises(InvalidInput, match="finalizers"):
        store.patch("Node", "n", None, {"metadata": {"finalizers": [FIN, "new"]}})


def test_an_update_cannot_clear_the_deletion_timestamp(store: Store, node: Make) -> None:
    store.create(node(finalizers=[FIN]))
    marked = store.delete("Node", "n")
    out = store.patch("Node", "n", None, {"metadata": {"deletionTimestamp": None, "labels": {"a": "b"}}})
    assert out["metadata"]["deletionTimestamp"] == marked["metadata"]["deletionTimestamp"]


def test_delete_preconditions_conflict_when_they_do_not_hold(store: Store, pod: Make) -> None:
    store.create(pod())
    with pytest.raises(Conflict):
        store.delete("Pod", "p", uid="other")
    with pytest.raises(Conflict):
        store.delete("Pod", "p", resource_version="99")
    store.delete("Pod", "p", resource_version="1")


def test_deleting_a_missing_object_raises_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        store.delete("Pod", "p")


def test_a_name_is_free_again_after_deletion(store: Store, pod: Make) -> None:
    first = store.create(pod())
    store.delete("Pod", "p")
    again = store.create(pod())
    assert again["metadata"]["uid"] != first["metadata"]["uid"]
    store.check_valid()
