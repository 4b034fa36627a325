"""Fixtures for store tests: a virtual clock, a store reading it, and object builders with overrides."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ekstwin.sim.clock import SimClock
from ekstwin.store.store import Store

Obj = dict[str, Any]


@pytest.fixture
def clock() -> SimClock:
    return SimClock()


@pytest.fixture
def store(clock: SimClock) -> Store:
    return Store(clock.now)


@pytest.fixture
def pod() -> Callable[..., Obj]:
    def make(name: str = "p", namespace: str = "default", node: str | None = None,
             labels: dict[str, str] | None = None, **meta: Any) -> Obj:
        spec: Obj = {"containers": [{"name": "c", "image": "pause"}]}
        if node is not None:
            spec["nodeName"] = node
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": namespace, "labels": labels or {}, **meta},
                "spec": spec}
    return make


@pytest.fixture
def node() -> Callable[..., Obj]:
    def make(name: str = "n", labels: dict[str, str] | None = None, **meta: Any) -> Obj:
        return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels or {}, **meta},
                "spec": {}}
    return make
