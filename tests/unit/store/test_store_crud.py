"""Create, read and update: metadata the store owns, optimistic concurrency, ownership rules."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from ekstwin.errors import Conflict, InvalidInput, NotFound
from ekstwin.sim.clock import SimClock
from ekstwin.store.store import Store, thaw

Obj = dict[str, Any]
Make = Callable[..., Obj]
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_create_fills_uid_resource_version_timestamp_and_generation(store: Store, clock: SimClock,
                                                                     pod: Make) -> None:
    clock.set(5.7)
    meta = store.create(pod())["metadata"]
    assert UUID_RE.match(meta["uid"])
    assert meta["resourceVersion"] == "1"
    assert meta["creationTimestamp"] == "2024-01-01T00:00:05Z"
    assert meta["generation"] == 1


def test_resource_version_goes_up_by_one_on_every_write(store: Store, pod: Make) -> None:
    rvs = [store.create(pod(f"p{i}"))["metadata"]["resourceVersion"] for i in range(3)]
    rvs.append(store.patch("Pod", "p0", "default", {"metadata": {"labels": {"a": "b"}}})["metadata"]
               ["resourceVersion"])
    assert [int(r) for r in rvs] == [1, 2, 3, 4]
    assert store.resource_version == 4


def test_uids_repeat_for_the_same_seed_and_differ_for_another(pod: Make) -> None:
    def uids(seed: int) -> list[str]:
        s = Store(SimClock().now, seed=seed)
        return [s.create(pod(f"p{i}"))["metadata"]["uid"] for i in range(3)]
    assert uids(1) == uids(1)
    assert uids(1) != uids(2)
    assert len(set(uids(1))) == 3


def test_epoch_sets_the_rendered_timestamps(pod: Make) -> None:
    clock = SimClock(90.0)
    s = Store(clock.now, datetime(2025, 6, 30, 23, 59, tzinfo=UTC))
    assert s.create(pod())["metadata"]["creationTimestamp"] == "2025-07-01T00:00:30Z"
    assert s.parse_time("2025-07-01T00:00:30Z") == 90.0


def test_namespace_defaults_for_namespaced_kinds_and_is_dropped_for_cluster_kinds(store: Store, pod: Make,
                                                                                  node: Make) -> None:
    p = pod()
    del p["metadata"]["namespace"]
    assert store.create(p)["metadata"]["namespace"] == "default"
    assert "namespace" not in store.create(node(namespace="kube-system"))["metadata"]


def test_generate_name_appends_five_deterministic_characters(pod: Make) -> None:
    def names() -> list[str]:
        s = Store(SimClock().now)
        return [s.create(pod(name="", generateName="inflate-"))["metadata"]["name"] for _ in range(3)]
    first = names()
    assert all(re.match(r"^inflate-[bcdfghjklmnpqrstvwxz2456789]{5}$", n) for n in first)
    assert first == names()
    assert len(set(first)) == 3


def test_creating_an_existing_name_conflicts(store: Store, pod: Make) -> None:
    store.create(pod())
    with pytest.raises(Conflict, match="already exists"):
        store.create(pod())


def test_the_same_name_in_another_namespace_is_another_object(store: Store, pod: Make) -> None:
    store.create(pod())
    store.create(pod(namespace="other"))
    assert store.count("Pod") == 2


def test_creating_without_name_or_generate_name_is_invalid(store: Store, pod: Make) -> None:
    with pytest.raises(InvalidInput, match="name"):
        store.create(pod(name=""))


def test_creating_an_unknown_kind_is_invalid(store: Store) -> None:
    with pytest.raises(InvalidInput, match="Widget"):
        store.create({"apiVersion": "v1", "kind": "Widget", "metadata": {"name": "w"}})


def test_a_mismatched_api_version_is_invalid(store: Store, pod: Make) -> None:
    with pytest.raises(InvalidInput, match="apps/v1"):
        store.create({**pod(), "apiVersion": "apps/v1"})


def test_get_of_a_missing_object_raises_not_found_and_try_get_returns_none(store: Store) -> None:
    with pytest.raises(NotFound, match='Pod "nope" not found in namespace default'):
        store.get("Pod", "nope")
    assert store.try_get("Pod", "nope") is None


def test_update_with_a_stale_resource_version_conflicts(store: Store, pod: Make) -> None:
    v1 = store.create(pod())
    store.update({**v1, "spec": {"x": 1}})
    with pytest.raises(Conflict, match="modified"):
        store.update({**v1, "spec": {"x": 2}})


def test_update_without_resource_version_is_unconditional(store: Store, pod: Make) -> None:
    store.create(pod())
    p = pod()
    p["spec"]["priority"] = 7
    assert store.update(p)["spec"]["priority"] == 7


def test_update_with_another_uid_conflicts(store: Store, pod: Make) -> None:
    v1 = store.create(pod())
    with pytest.raises(Conflict, match="uid"):
        store.update({**v1, "metadata": {**v1["metadata"], "uid": "someone-else"}})


def test_update_of_a_missing_object_raises_not_found(store: Store, pod: Make) -> None:
    with pytest.raises(NotFound):
        store.update(pod())


def test_generation_goes_up_when_spec_changes_but_not_for_status_or_labels(store: Store, pod: Make) -> None:
    v1 = store.create(pod())
    v2 = store.update({**v1, "status": {"phase": "Running"}})
    v3 = store.patch("Pod", "p", None, {"metadata": {"labels": {"a": "b"}}})
    v4 = store.update({**v3, "spec": {**v3["spec"], "nodeName": "n1"}})
    assert [v["metadata"]["generation"] for v in (v1, v2, v3, v4)] == [1, 1, 1, 2]


def test_an_update_that_changes_nothing_is_a_no_op(store: Store, pod: Make) -> None:
    v1 = store.create(pod())
    assert store.update(thaw(v1)) is v1
    assert store.resource_version == 1
    assert len(store.watch) == 1


def test_update_keeps_the_fields_the_store_owns(store: Store, clock: SimClock, pod: Make) -> None:
    v1 = store.create(pod())
    clock.set(60)
    edited = thaw(v1)
    edited["metadata"]["creationTimestamp"] = "1999-01-01T00:00:00Z"
    edited["metadata"]["generation"] = 40
    edited["spec"]["nodeName"] = "n"
    v2 = store.update(edited)
    assert v2["metadata"]["creationTimestamp"] == v1["metadata"]["creationTimestamp"]
    assert v2["metadata"]["uid"] == v1["metadata"]["uid"]
    assert v2["metadata"]["generation"] == 2


def test_update_status_writes_only_the_status(store: Store, pod: Make) -> None:
    v1 = store.create(pod())
    v2 = store.update_status({**v1, "spec": {"nodeName": "ignored"}, "status": {"phase": "Running"}})
    assert v2["status"] == {"phase": "Running"}
    assert v2["spec"] == v1["spec"]


def test_the_store_never_mutates_the_dict_it_was_given(store: Store, pod: Make) -> None:
    given = pod()
    snapshot = thaw(given)
    store.create(given)
    assert given == snapshot


def test_a_returned_object_stays_a_stable_snapshot_after_later_writes(store: Store, pod: Make) -> None:
    v1 = store.create(pod())
    snapshot = thaw(v1)
    store.patch("Pod", "p", None, {"metadata": {"labels": {"a": "b"}}, "spec": {"nodeName": "n"}})
    assert v1 == snapshot


def test_list_filters_by_namespace_and_labels_in_creation_order(store: Store, pod: Make) -> None:
    for name, ns, app in [("b", "x", "web"), ("a", "y", "web"), ("c", "x", "db")]:
        store.create(pod(name, ns, labels={"app": app}))
    assert [p["metadata"]["name"] for p in store.list("Pod")] == ["b", "a", "c"]
    assert [p["metadata"]["name"] for p in store.list("Pod", "x")] == ["b", "c"]
    web = store.list("Pod", label_selector=lambda labels: labels.get("app") == "web")
    assert [p["metadata"]["name"] for p in web] == ["b", "a"]
    assert store.list("Node") == []


def test_listing_an_unknown_kind_raises_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="Widget"):
        store.list("Widget")


def test_thaw_copies_every_level(store: Store, pod: Make) -> None:
    v1 = store.create(pod(labels={"a": "b"}))
    copy = thaw(v1)
    copy["metadata"]["labels"]["a"] = "changed"
    copy["spec"]["containers"][0]["name"] = "changed"
    assert v1["metadata"]["labels"] == {"a": "b"}
    assert v1["spec"]["containers"][0]["name"] == "c"
