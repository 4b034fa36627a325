"""The Kubernetes API's request rate and watch fan-out, measured with real HTTP clients.

A Store is filled directly with ``nodes`` Nodes and ``pods`` Pods (pods spread round-robin over the nodes and
over a few namespaces, each with an ``app`` label out of ``APPS``), and the app is served by uvicorn on
127.0.0.1 (random port, plain HTTP) in a background thread of a *child process*: clients in the same
interpreter would share its GIL with the server and measure their own cost as much as the server's.

The parent then runs keep-alive httpx clients from several threads, each phase for ``seconds``:

- ``get``: GET one pod by name;
- ``list_label``: LIST pods in one namespace with ``labelSelector=app=…``;
- ``list_node``: LIST pods with ``fieldSelector=spec.nodeName=…`` (all namespaces);
- ``patch``: merge-PATCH one label of a pod.

Then ``watchers`` watches on all pods start from the current resourceVersion and ``patches`` merge patches
are written; each patch carries its send time (``time.monotonic``, system-wide on Linux) in an annotation,
so every watcher measures delivery latency from write to receipt. The run fails unless every watcher got
exactly the resourceVersions the PATCH replies returned, once each, in increasing order.

``create_app`` is passed in (the CLI passes ``ekstwin.api.create_app``): bench and api are sibling layers.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import resource
import socket
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import httpx

from ekstwin.rng import stable_random
from ekstwin.sim.clock import SimClock
from ekstwin.store.store import Store

Obj = dict[str, Any]
AppFactory = Callable[[Store], Any]

NAMESPACES = ("default", "team-a", "team-b", "team-c")
APPS = 50
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
TYPES = ("m5.large", "m5.xlarge", "c5.2xlarge", "r5.xlarge")
SENT = "bench.ekstwin.io/sent"
PHASES = ("get", "list_label", "list_node", "patch")


# ---- the store ---------------------------------------------------------------------------------------

def node_name(i: int) -> str:
    return f"ip-10-0-{i // 250}-{i % 250}.ec2.internal"


def make_node(i: int) -> Obj:
    itype, zone = TYPES[i % len(TYPES)], ZONES[i % len(ZONES)]
    name = node_name(i)
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
            "node.kubernetes.io/instance-type": itype, "topology.kubernetes.io/zone": zone,
            "topology.kubernetes.io/region": "us-east-1", "karpenter.sh/nodepool": "default",
            "karpenter.sh/capacity-type": "spot" if i % 2 else "on-demand"}},
        "spec": {"providerID": f"aws:///{zone}/i-{i:017x}"},
        "status": {"capacity": {"cpu": "4", "memory": "16Gi", "pods": "58"},
                   "allocatable": {"cpu": "3920m", "memory": "15Gi", "pods": "58"},
                   "conditions": [{"type": "Ready", "status": "True"}],
                   "addresses": [{"type": "InternalIP", "address": f"10.0.{i // 250}.{i % 250}"}]},
    }


def make_pod(i: int, nodes: int, seed: int = 42) -> Obj:
    r = stable_random(seed, f"bench.api.pod-{i}")
    app = f"app-{i % APPS}"
    ns = NAMESPACES[(i // APPS) % len(NAMESPACES)]
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": f"{app}-{i:06d}", "namespace": ns,
                     "labels": {"app": app, "tier": r.choice(("web", "worker", "cache")),
                                "pod-template-hash": f"{i % APPS:08x}"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"{app}-rs",
                                          "uid": f"rs-{i % APPS}", "controller": True}]},
        "spec": {"nodeName": node_name(i % nodes), "schedulerName": "default-scheduler",
                 "containers": [{"name": "app", "image": "public.ecr.aws/eks-distro/kubernetes/pause:3.7",
                                 "resources": {"requests": {"cpu": r.choice(("100m", "250m", "500m")),
                                                            "memory": r.choice(("128Mi", "256Mi", "1Gi"))}}}],
                 "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                                  "effect": "NoExecute", "tolerationSeconds": 300}]},
        "status": {"phase": "Running", "podIP": f"10.1.{i // 250 % 250}.{i % 250}",
                   "conditions": [{"type": "Ready", "status": "True"}]},
    }


def fill_store(nodes: int, pods: int, seed: int = 42) -> Store:
    """A store holding the namespaces, ``nodes`` Nodes and ``pods`` Pods."""
    store = Store(SimClock().now)
    for ns in NAMESPACES:
        store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    for i in range(nodes):
        store.create(make_node(i))
    for i in range(pods):
        store.create(make_pod(i, nodes, seed))
    return store


# ---- the server (child process) ----------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(create_app: AppFactory, nodes: int, pods: int, seed: int, conn: Connection) -> None:
    """Child process: build the store, serve it in a thread, report the port; on "stop", report peak RSS."""
    import uvicorn  # only the server process needs it

    start = time.perf_counter()
    store = fill_store(nodes, pods, seed)
    fill_s = time.perf_counter() - start
    port = _free_port()
    config = uvicorn.Config(create_app(store), host="127.0.0.1", port=port, log_level="warning",
                            lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    conn.send({"port": port if server.started else None, "fill_s": fill_s,
               "rv": store.resource_version})
    conn.recv()  # "stop"
    server.should_exit = True
    thread.join(10)
    conn.send({"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


# ---- the clients -------------------------------------------------------------------------------------

def _request(phase: str, i: int, nodes: int, pods: int, seed: int) -> tuple[str, str, Obj | None]:
    """(method, path, merge-patch body) of the i-th request of ``phase``."""
    idx = (i * 7919) % pods
    pod = make_pod(idx, nodes, seed)["metadata"]
    base = f"/api/v1/namespaces/{pod['namespace']}/pods"
    if phase == "get":
        return "GET", f"{base}/{pod['name']}", None
    if phase == "list_label":
        return "GET", f"{base}?labelSelector=app%3D{pod['labels']['app']}", None
    if phase == "list_node":
        return "GET", f"/api/v1/pods?fieldSelector=spec.nodeName%3D{node_name(i % nodes)}", None
    return "PATCH", f"{base}/{pod['name']}", {"metadata": {"labels": {"bench": str(i)}}}


def _drive(base: str, phase: str, seconds: float, clients: int, nodes: int, pods: int,
           seed: int) -> dict[str, Any]:
    """``clients`` threads issue ``phase`` requests back to back for ``seconds``; returns the rate."""
    counts = [0] * clients
    sizes: list[int] = []
    errors: list[str] = []
    stop = time.monotonic() + seconds
    barrier = threading.Barrier(clients)

    def client(k: int) -> None:
        headers = {"Content-Type": "application/merge-patch+json"}
        with httpx.Client(base_url=base, timeout=60) as http:
            barrier.wait()
            i = k
            while time.monotonic() < stop:
                method, path, body = _request(phase, i, nodes, pods, seed)
                reply = http.request(method, path, headers=headers,
                                     content=None if body is None else json.dumps(body))
                if reply.status_code != 200:
                    errors.append(f"{method} {path}: {reply.status_code} {reply.text[:200]}")
                    return
                if phase.startswith("list") and len(sizes) < 100:
                    sizes.append(len(reply.json()["items"]))
                counts[k] += 1
                i += clients

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    if errors:
        raise AssertionError(errors[0])
    out: dict[str, Any] = {"requests": sum(counts), "per_second": round(sum(counts) / elapsed, 1)}
    if sizes:
        out["list_size"] = round(sum(sizes) / len(sizes), 1)
    return out


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _watch_fanout(base: str, watchers: int, patches: int, writers: int, nodes: int, pods: int,
                  seed: int) -> dict[str, Any]:
    """``watchers`` watches from the current resourceVersion while ``writers`` threads write ``patches``."""
    with httpx.Client(base_url=base) as http:
        rv = http.get("/api/v1/namespaces/default/pods?limit=1").json()["metadata"]["resourceVersion"]
    received: list[list[int]] = [[] for _ in range(watchers)]
    latencies: list[list[float]] = [[] for _ in range(watchers)]
    ready = threading.Barrier(watchers + 1)
    errors: list[str] = []

    def watch(k: int) -> None:
        url = f"/api/v1/pods?watch=1&resourceVersion={rv}&timeoutSeconds=600"
        try:
            with httpx.Client(base_url=base, timeout=120) as http, http.stream("GET", url) as stream:
                ready.wait()  # headers are in: the server has subscribed this watch
                for line in stream.iter_lines():
                    if not line:
                        continue
                    event = json.loads(line)
                    got = time.monotonic()
                    meta = event["object"]["metadata"]
                    received[k].append(int(meta["resourceVersion"]))
                    latencies[k].append(got - float(meta["annotations"][SENT]))
                    if len(received[k]) >= patches:
                        return
        except Exception as e:  # reported as the run's failure below
            errors.append(f"watcher {k}: {e!r}")
            ready.abort()

    threads = [threading.Thread(target=watch, args=(k,), daemon=True) for k in range(watchers)]
    for t in threads:
        t.start()
    ready.wait(60)
    written: list[int] = []
    lock = threading.Lock()

    def write(w: int) -> None:
        headers = {"Content-Type": "application/merge-patch+json"}
        with httpx.Client(base_url=base, timeout=60) as http:
            for i in range(w, patches, writers):
                method, path, _ = _request("patch", i, nodes, pods, seed)
                body = {"metadata": {"labels": {"bench": f"w{i}"}, "annotations": {SENT: repr(time.monotonic())}}}
                reply = http.request(method, path, headers=headers, content=json.dumps(body))
                reply.raise_for_status()
                with lock:
                    written.append(int(reply.json()["metadata"]["resourceVersion"]))

    start = time.monotonic()
    writer_threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in writer_threads:
        t.start()
    for t in writer_threads:
        t.join()
    write_s = time.monotonic() - start
    for t in threads:
        t.join(120)
    delivered_s = time.monotonic() - start
    if errors:
        raise AssertionError(errors[0])
    expected = sorted(written)
    lost = sum(len(set(expected) - set(r)) for r in received)
    duplicated = sum(len(r) - len(set(r)) for r in received)
    out_of_order = sum(sum(1 for a, b in itertools.pairwise(r) if b <= a) for r in received)
    all_lat = [x for lat in latencies for x in lat]
    return {"watchers": watchers, "patches": len(written),
            "events_delivered": sum(len(r) for r in received),
            "lost": lost, "duplicated": duplicated, "out_of_order": out_of_order,
            "write_per_second": round(len(written) / write_s, 1),
            "delivered_per_second": round(sum(len(r) for r in received) / delivered_s, 1),
            "latency_p50_ms": round(_percentile(all_lat, 0.5) * 1000, 1) if all_lat else None,
            "latency_p99_ms": round(_percentile(all_lat, 0.99) * 1000, 1) if all_lat else None,
            "latency_max_ms": round(max(all_lat) * 1000, 1) if all_lat else None}


def run(create_app: AppFactory, *, nodes: int = 1000, pods: int = 20_000, watchers: int = 50,
        seconds: float = 5.0, clients: int = 4, patches: int = 2000, writers: int = 2,
        seed: int = 42) -> dict[str, Any]:
    """Run every phase once and return the metrics ``ekstwin bench api`` prints.

    Raises:
        AssertionError: the server did not start, a request failed, or a watcher lost, repeated or
            reordered an event.
    """
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_serve, args=(create_app, nodes, pods, seed, child), daemon=True)
    proc.start()
    try:
        info = parent.recv()
        if info["port"] is None:
            raise AssertionError("uvicorn did not start")
        base = f"http://127.0.0.1:{info['port']}"
        metrics: dict[str, Any] = {"nodes": nodes, "pods": pods, "clients": clients,
                                   "seconds_per_phase": seconds, "fill_store_s": round(info["fill_s"], 2)}
        for phase in PHASES:
            result = _drive(base, phase, seconds, clients, nodes, pods, seed)
            metrics[f"{phase}_per_second"] = result["per_second"]
            if "list_size" in result:
                metrics[f"{phase}_items"] = result["list_size"]
        watch = _watch_fanout(base, watchers, patches, writers, nodes, pods, seed)
        metrics.update({f"watch_{k}": v for k, v in watch.items()})
        parent.send("stop")
        metrics["server_peak_rss_mib"] = round(parent.recv()["peak_rss_mib"], 1)
        metrics["client_peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    finally:
        proc.join(15)
        if proc.is_alive():
            proc.terminate()
            proc.join(5)
    if watch["lost"] or watch["duplicated"] or watch["out_of_order"] or watch["patches"] != patches:
        raise AssertionError(f"watch fan-out was not exact: {watch}")
    return metrics
