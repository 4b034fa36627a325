"""Secondary indexes follow every write."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ekstwin.store import indexes
from ekstwin.store.store import Store

Make = Callable[..., dict[str, Any]]


def names(objs: list[dict[str, Any]]) -> list[str]:
    return [o["metadata"]["name"] for o in objs]


def test_pods_by_node_follow_node_name_changes(store: Store, pod: Make) -> None:
    store.create(pod("a", node="n1"))
    store.create(pod("b", node="n1"))
    store.patch("Pod", "a", None, {"spec": {"nodeName": "n2"}})
    assert names(store.by_index("Pod", indexes.POD_NODE_NAME, "n1")) == ["b"]
    assert names(store.by_index("Pod", indexes.POD_NODE_NAME, "n2")) == ["a"]
    store.check_valid()


def test_unbound_pods_are_filed_under_the_empty_node_name(store: Store, pod: Make) -> None:
    store.create(pod("pending"))
    store.create(pod("bound", node="n1"))
    assert names(store.by_index("Pod", indexes.POD_NODE_NAME, "")) == ["pending"]


def test_index_lookups_return_the_current_version(store: Store, pod: Make) -> None:
    store.create(pod("a", node="n1"))
    newest = store.patch("Pod", "a", None, {"metadata": {"labels": {"v": "2"}}})
    assert store.by_index("Pod", indexes.POD_NODE_NAME, "n1") == [newest]


def test_deleted_pods_leave_the_index(store: Store, pod: Make) -> None:
    store.create(pod("a", node="n1"))
    store.delete("Pod", "a", grace_seconds=0)
    assert store.by_index("Pod", indexes.POD_NODE_NAME, "n1") == []
    store.check_valid()


def test_pods_are_filed_under_every_owner_uid(store: Store, pod: Make) -> None:
    refs = [{"kind": "ReplicaSet", "name": "rs", "uid": "u1"}, {"kind": "Job", "name": "j", "uid": "u2"}]
    store.create(pod("a", ownerReferences=refs))
    assert names(store.by_index("Pod", indexes.POD_OWNER_UID, "u1")) == ["a"]
    assert names(store.by_index("Pod", indexes.POD_OWNER_UID, "u2")) == ["a"]


def test_nodes_by_nodepool_follow_the_label(store: Store, node: Make) -> None:
    store.create(node("a", labels={"karpenter.sh/nodepool": "default"}))
    assert names(store.by_index("Node", indexes.NODE_POOL, "default")) == ["a"]
    store.patch("Node", "a", None, {"metadata": {"labels": {"karpenter.sh/nodepool": None}}})
    assert store.by_index("Node", indexes.NODE_POOL, "default") == []
    store.check_valid()


def test_nodeclaims_are_found_by_provider_id_and_node_name(store: Store) -> None:
    store.create({"apiVersion": "karpenter.sh/v1", "kind": "NodeClaim", "metadata": {"name": "default-x"},
                  "spec": {}})
    store.patch("NodeClaim", "default-x", None,
                {"status": {"providerID": "aws:///eu-west-1a/i-0abc", "nodeName": "ip-10-0-0-1"}})
    assert names(store.by_index("NodeClaim", indexes.CLAIM_PROVIDER_ID, "aws:///eu-west-1a/i-0abc")) == [
        "default-x"]
    assert names(store.by_index("NodeClaim", indexes.CLAIM_NODE_NAME, "ip-10-0-0-1")) == ["default-x"]


def test_a_new_index_files_existing_objects_and_follows_later_writes(store: Store, pod: Make) -> None:
    store.create(pod("a", labels={"app": "web"}))
    store.add_index("Pod", "label:app", lambda o: o["metadata"].get("labels", {}).get("app"))
    store.create(pod("b", labels={"app": "web"}))
    store.patch("Pod", "a", None, {"metadata": {"labels": {"app": "db"}}})
    assert names(store.by_index("Pod", "label:app", "web")) == ["b"]
    assert names(store.by_index("Pod", "label:app", "db")) == ["a"]
    store.check_valid()


def test_adding_an_index_twice_is_an_error(store: Store) -> None:
    with pytest.raises(ValueError, match="already has an index"):
        store.add_index("Pod", indexes.POD_NODE_NAME, lambda o: None)


def test_asking_for_an_unknown_index_is_an_error(store: Store) -> None:
    with pytest.raises(KeyError, match="no index"):
        store.by_index("Pod", "nope", "x")


def test_check_valid_notices_an_object_mutated_in_place(store: Store, pod: Make) -> None:
    p = store.create(pod("a", node="n1"))
    p["spec"]["nodeName"] = "n2"  # breaking the ownership rule on purpose
    with pytest.raises(AssertionError, match="stale"):
        store.check_valid()


def test_deleting_a_bound_pod_is_graceful_until_deleted_with_grace_zero(store: Store, pod: Make) -> None:
    store.create(pod("a", node="n1"))
    marked = store.delete("Pod", "a")
    assert marked["metadata"]["deletionTimestamp"] and marked["metadata"]["deletionGracePeriodSeconds"] == 30
    assert store.try_get("Pod", "a") is not None
    store.delete("Pod", "a", grace_seconds=0)
    assert store.try_get("Pod", "a") is None


def test_deleting_an_unbound_pod_removes_it_at_once(store: Store, pod: Make) -> None:
    store.create(pod("b"))
    store.delete("Pod", "b")
    assert store.try_get("Pod", "b") is None
