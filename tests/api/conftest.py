"""Fixtures for the API tests: a small store, an in-process client, and a real server on a random port."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn

from ekstwin.api import create_app
from ekstwin.sim.clock import SimClock
from ekstwin.store.store import Store

T = TypeVar("T")

DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "inflate", "namespace": "default"},
    "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "inflate"}},
             "template": {"metadata": {"labels": {"app": "inflate"}},
                          "spec": {"containers": [{"name": "inflate", "image": "pause:3.7",
                                                   "resources": {"requests": {"cpu": "1"}}}]}}},
}


def pod(name: str, *, ns: str = "default", node: str | None = None, phase: str = "Pending",
        labels: dict[str, str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "app", "image": "pause:3.7"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns, "labels": labels or {}},
            "spec": spec, "status": {"phase": phase}}


def node(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}


@pytest.fixture
def clock() -> SimClock:
    return SimClock()


@pytest.fixture
def store(clock: SimClock) -> Store:
    s = Store(clock.now)
    s.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
    s.create(node("n1", **{"topology.kubernetes.io/zone": "eu-west-1a", "karpenter.sh/nodepool": "default"}))
    s.create(pod("web-1", node="n1", phase="Running", labels={"app": "web", "tier": "front"}))
    s.create(pod("web-2", labels={"app": "web"}))
    s.create(pod("db-1", ns="data", node="n1", phase="Running", labels={"app": "db"}))
    clock.advance(300)
    return s


def run(make: Callable[[httpx.AsyncClient], Awaitable[T]], app: Any, **headers: str) -> T:
    """Run ``make(client)`` against ``app`` in-process on a fresh event loop."""
    async def main() -> T:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://twin", headers=headers) as client:
            return await make(client)
    return asyncio.run(main())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(store: Store) -> Iterator[str]:
    """The app over ``store`` under uvicorn in a thread; yields its base URL."""
    port = _free_port()
    config = uvicorn.Config(create_app(store, bookmark_interval=0.2), host="127.0.0.1", port=port,
                            log_level="warning", lifespan="off")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(5)
