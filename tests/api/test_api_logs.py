"""The pod ``log`` subresource: in-process over httpx, the served world's provider, and the real kubectl."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from conftest import _free_port, run

from ekstwin.api import create_app
from ekstwin.model.pod import CONTROL_PLANE_SCHEDULER
from ekstwin.scenario import serve
from ekstwin.sim.clock import SimClock
from ekstwin.store.store import Store

KARPENTER_LINES = [json.dumps({"level": "INFO", "time": f"2024-01-01T00:00:0{i}Z", "logger": "controller",
                               "message": f"line {i}"}, separators=(",", ":")) for i in range(1, 8)]
CACHE = f"--cache-dir={tempfile.gettempdir()}/ekstwin-kubectl-cache"
SPOT_TO_SPOT = "examples/scenarios/spot-to-spot.yaml"


def _provider(lines: list[str]) -> Any:
    return lambda ns, name: list(lines) if (ns, name) == ("default", "web-1") else []


def _get(store: Store, path: str, lines: list[str] | None = None, **kw: Any) -> httpx.Response:
    app = create_app(store, pod_logs=_provider(KARPENTER_LINES if lines is None else lines), **kw)

    async def go(c: httpx.AsyncClient) -> httpx.Response:
        return await c.get(path)
    return run(go, app)


def test_log_returns_the_providers_lines_as_plain_text(store: Store) -> None:
    r = _get(store, "/api/v1/namespaces/default/pods/web-1/log?container=app")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert r.text.splitlines() == KARPENTER_LINES and r.text.endswith("\n")


def test_tail_lines_keeps_the_last_n(store: Store) -> None:
    assert _get(store, "/api/v1/namespaces/default/pods/web-1/log?tailLines=2").text.splitlines() == \
        KARPENTER_LINES[-2:]
    assert _get(store, "/api/v1/namespaces/default/pods/web-1/log?tailLines=0").text == ""
    assert _get(store, "/api/v1/namespaces/default/pods/web-1/log?tailLines=99").text.splitlines() == \
        KARPENTER_LINES
    bad = _get(store, "/api/v1/namespaces/default/pods/web-1/log?tailLines=x")
    assert bad.status_code == 400 and bad.json()["reason"] == "BadRequest"


def test_timestamps_prefix_each_line_with_its_own_time_or_the_current_one(store: Store) -> None:
    r = _get(store, "/api/v1/namespaces/default/pods/web-1/log?timestamps=true&tailLines=1",
             lines=[KARPENTER_LINES[0], "plain text"])
    assert r.text == f"{store.format_time()[:-1]}.000000000Z plain text\n"
    r = _get(store, "/api/v1/namespaces/default/pods/web-1/log?timestamps=true&tailLines=2",
             lines=[KARPENTER_LINES[0], "plain text"])
    assert r.text.splitlines()[0] == f"2024-01-01T00:00:01.000000000Z {KARPENTER_LINES[0]}"


def test_other_pods_have_an_empty_log_and_a_missing_pod_is_a_404_status(store: Store) -> None:
    r = _get(store, "/api/v1/namespaces/data/pods/db-1/log")
    assert r.status_code == 200 and r.text == ""
    missing = _get(store, "/api/v1/namespaces/default/pods/nope/log")
    assert missing.status_code == 404
    body = missing.json()
    assert (body["kind"], body["reason"], body["details"]["name"]) == ("Status", "NotFound", "nope")
    assert _get(store, "/api/v1/namespaces/default/deployments/x/log").status_code == 404


def test_without_a_provider_every_log_is_empty(store: Store) -> None:
    async def go(c: httpx.AsyncClient) -> httpx.Response:
        return await c.get("/api/v1/namespaces/default/pods/web-1/log")
    assert run(go, create_app(store)).text == ""


def test_discovery_lists_pods_log(store: Store) -> None:
    resources = _get(store, "/api/v1").json()["resources"]
    (log,) = [r for r in resources if r["name"] == "pods/log"]
    assert (log["kind"], log["verbs"], log["namespaced"]) == ("Pod", ["get"], True)


def test_follow_streams_new_lines_until_the_timeout(store: Store) -> None:
    lines = list(KARPENTER_LINES[:2])
    app = create_app(store, pod_logs=_provider(lines), follow_timeout=0.6)

    async def go(c: httpx.AsyncClient) -> list[str]:
        async def grow() -> None:
            await asyncio.sleep(0.25)
            lines.append("later")
        task = asyncio.create_task(grow())
        got: list[str] = []
        async with c.stream("GET", "/api/v1/namespaces/default/pods/web-1/log?follow=true&tailLines=1") as r:
            async for line in r.aiter_lines():
                got.append(line)
        await task
        return got
    assert run(go, app) == [KARPENTER_LINES[1], "later"]


# the served world's provider -------------------------------------------------------------------------

def test_the_served_world_gives_karpenters_lines_to_its_controller_pod_only() -> None:
    served = serve.serve_world(SPOT_TO_SPOT, None, wall=SimClock())
    served.driver.start()
    served.driver.run_until(120)
    (pod,) = served.world.store.list("Pod", "karpenter")
    assert pod["metadata"]["labels"]["app.kubernetes.io/name"] == "karpenter"
    assert pod["spec"]["schedulerName"] == CONTROL_PLANE_SCHEDULER and not pod["spec"].get("nodeName")
    assert pod["status"]["phase"] == "Running"
    lines = served.pod_logs("karpenter", pod["metadata"]["name"])
    recorded = served.world.deps.recorder.logs
    assert recorded and [json.loads(line) for line in lines] == recorded
    assert all(" " not in line.split('"message"')[0] for line in lines)  # compact separators
    other = next(p for p in served.world.store.list("Pod") if p["metadata"]["namespace"] != "karpenter")
    assert served.pod_logs(other["metadata"]["namespace"], other["metadata"]["name"]) == []
    assert served.pod_logs("karpenter", "nope") == []


# the real kubectl ------------------------------------------------------------------------------------

@pytest.fixture
def served_url() -> Iterator[tuple[str, serve.ServedWorld]]:
    """A served spot-to-spot world (clock run to t=120 s, not pumped) under uvicorn with its log provider."""
    served = serve.serve_world(SPOT_TO_SPOT, None, wall=SimClock())
    served.driver.start()
    served.driver.run_until(120)
    port = _free_port()
    app = create_app(served.world.store, pod_logs=served.pod_logs)
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}", served
    srv.should_exit = True
    thread.join(5)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_logs_by_label_prints_karpenters_json_lines(served_url: tuple[str, serve.ServedWorld]) -> None:
    url, served = served_url

    def kubectl(*args: str) -> str:
        done = subprocess.run(["kubectl", CACHE, "--server", url, *args], capture_output=True, text=True,
                              timeout=30, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

    out = kubectl("-n", "karpenter", "logs", "-l", "app.kubernetes.io/name=karpenter", "--tail=5")
    expected = [json.dumps(line, separators=(",", ":")) for line in served.world.deps.recorder.logs[-5:]]
    assert len(expected) == 5 and out.splitlines() == expected
    assert all(json.loads(line)["logger"] == "controller" for line in out.splitlines())
    other = next(p for p in served.world.store.list("Pod") if p["metadata"]["namespace"] != "karpenter")
    assert kubectl("-n", other["metadata"]["namespace"], "logs", other["metadata"]["name"]) == ""
