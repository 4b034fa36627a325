"""The watch log: resume by resourceVersion, the bounded window, subscribers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ekstwin.sim.clock import SimClock
from ekstwin.store.store import Store
from ekstwin.store.watch import Gone, WatchEvent, WatchLog

Make = Callable[..., dict[str, Any]]


def test_events_since_resumes_right_after_the_given_resource_version(store: Store, pod: Make) -> None:
    for i in range(5):
        store.create(pod(f"p{i}"))
    assert [e.resource_version for e in store.events_since(2)] == [3, 4, 5]
    assert store.events_since(5) == []
    assert len(store.events_since(0)) == 5


def test_events_since_can_filter_one_kind(store: Store, pod: Make, node: Make) -> None:
    store.create(pod())
    store.create(node())
    store.create(pod("q"))
    assert [e.obj["metadata"]["name"] for e in store.events_since(0, "Pod")] == ["p", "q"]


def test_modified_events_carry_the_old_and_the_new_state(store: Store, pod: Make) -> None:
    v1 = store.create(pod())
    v2 = store.patch("Pod", "p", None, {"spec": {"nodeName": "n"}})
    ev = store.events_since(1)[0]
    assert (ev.type, ev.old, ev.obj) == ("MODIFIED", v1, v2)


def test_resuming_from_before_the_window_raises_gone(pod: Make) -> None:
    s = Store(SimClock().now, watch_window=3)
    for i in range(10):
        s.create(pod(f"p{i}"))
    assert [e.resource_version for e in s.events_since(7)] == [8, 9, 10]
    with pytest.raises(Gone, match="too old resource version: 6"):
        s.events_since(6)
    s.check_valid()


def test_the_window_keeps_exactly_the_newest_events_over_many_appends() -> None:
    log = WatchLog(window=4)
    for rv in range(1, 50):
        log.append(WatchEvent("ADDED", "Pod", {"metadata": {"resourceVersion": str(rv)}}, rv))
        assert [e.resource_version for e in log.retained()] == list(range(max(1, rv - 3), rv + 1))


def test_a_subscriber_sees_every_change_in_order(store: Store, pod: Make) -> None:
    seen: list[tuple[str, int]] = []
    store.subscribe(lambda e: seen.append((e.type, e.resource_version)))
    store.create(pod())
    store.patch("Pod", "p", None, {"spec": {"nodeName": "n"}})
    store.delete("Pod", "p", grace_seconds=0)
    assert seen == [("ADDED", 1), ("MODIFIED", 2), ("DELETED", 3)]


def test_a_kind_subscriber_sees_only_that_kind_and_can_unsubscribe(store: Store, pod: Make,
                                                                   node: Make) -> None:
    seen: list[str] = []
    stop = store.subscribe(lambda e: seen.append(e.obj["metadata"]["name"]), kind="Node")
    store.create(pod())
    store.create(node("n1"))
    stop()
    store.create(node("n2"))
    assert seen == ["n1"]


def test_a_subscriber_that_writes_does_not_reorder_delivery(store: Store, pod: Make, node: Make) -> None:
    seen: list[tuple[str, int]] = []

    def writer(e: WatchEvent) -> None:
        seen.append(("writer", e.resource_version))
        if e.kind == "Pod":
            store.create(node())

    store.subscribe(writer)
    store.subscribe(lambda e: seen.append(("reader", e.resource_version)))
    store.create(pod())
    assert seen == [("writer", 1), ("reader", 1), ("writer", 2), ("reader", 2)]


def test_a_no_op_write_notifies_nobody(store: Store, pod: Make) -> None:
    v1 = store.create(pod())
    seen: list[WatchEvent] = []
    store.subscribe(seen.append)
    store.update(v1)
    store.patch("Pod", "p", None, {"spec": {}})
    assert seen == []
