"""The kubelet and pod garbage collection, reduced to what capacity planning needs.

A pod bound to a Ready node starts after a short seeded delay (``pod_startup_s``) and becomes Running and
Ready. A pod marked for deletion stops after ``pod_shutdown_s`` (at most its grace period) and is removed.
Pods bound to a node that no longer exists are deleted (PodGC).
"""

from __future__ import annotations

from ekstwin.controllers.base import Deps, Obj, is_true, with_condition
from ekstwin.sim import driver
from ekstwin.sim.reconcile import Result
from ekstwin.store import indexes
from ekstwin.store.watch import WatchEvent

NAME = "kubelet"


def _node_pods(ev: WatchEvent) -> list[str]:
    return [f"pods-of/{ev.obj['metadata']['name']}"]


WATCHES = [driver.Watch("Pod", driver.by_object), driver.Watch("Node", _node_pods)]


def reconcile(deps: Deps, key: str, now: float) -> Result:
    """Advance one pod's lifecycle (or every pod of a node, for node events)."""
    if key.startswith("pods-of/"):
        for p in deps.store.by_index("Pod", indexes.POD_NODE_NAME, key.split("/", 1)[1]):
            deps.enqueue(NAME, driver.key_of(p), None)
        return Result()
    ns, name = driver.split_key(key)
    pod = deps.store.try_get("Pod", name, ns)
    starts: dict[str, float] = deps.state.setdefault("kubelet.start", {})
    if pod is None:
        return Result()
    uid = pod["metadata"]["uid"]
    node_name = (pod.get("spec") or {}).get("nodeName")
    node = deps.store.try_get("Node", node_name) if node_name else None
    if node_name and node is None:  # PodGC: the node is gone
        deps.store.delete("Pod", name, ns, grace_seconds=0)
        starts.pop(uid, None)
        return Result()
    if pod["metadata"].get("deletionTimestamp"):
        return _terminate(deps, pod, now)
    if node is None or (pod.get("status") or {}).get("phase") != "Pending" or not is_true(node, "Ready"):
        return Result()
    start_at = starts.get(uid)
    if start_at is None:
        low, high = deps.settings.pod_startup_s
        start_at = now + deps.rngs.stream("kubelet.pod-startup").uniform(low, high)
        starts[uid] = start_at
    if now < start_at:
        return Result(requeue_after=start_at - now)
    starts.pop(uid, None)
    ts = deps.store.format_time()
    ip = _pod_ip(deps)
    status = {**(pod.get("status") or {}), "phase": "Running", "startTime": ts, "podIP": ip,
              "hostIP": _node_ip(node), "containerStatuses": [
                  {"name": c.get("name", ""), "ready": True, "restartCount": 0, "started": True,
                   "state": {"running": {"startedAt": ts}}} for c in pod["spec"].get("containers") or ()]}
    running = with_condition(with_condition({**pod, "status": status}, "Ready", "True", ts), "ContainersReady",
                             "True", ts)
    deps.store.update_status(with_condition(running, "Initialized", "True", ts))
    created = deps.store.parse_time(pod["metadata"]["creationTimestamp"])
    deps.recorder.observe("karpenter_pods_startup_duration_seconds", now - created)
    return Result()


def _terminate(deps: Deps, pod: Obj, now: float) -> Result:
    meta = pod["metadata"]
    deleted_at = deps.store.parse_time(str(meta["deletionTimestamp"]))
    grace = float(meta.get("deletionGracePeriodSeconds", 30) or 0)
    done_at = deleted_at + min(grace, deps.settings.pod_shutdown_s)
    if now < done_at:
        return Result(requeue_after=done_at - now)
    deps.store.delete("Pod", str(meta["name"]), str(meta.get("namespace", "default")), grace_seconds=0)
    return Result()


def _pod_ip(deps: Deps) -> str:
    n = deps.state.get("kubelet.ip", 0) + 1
    deps.state["kubelet.ip"] = n
    return f"10.0.{(n // 250) % 250}.{n % 250 + 2}"


def _node_ip(node: Obj) -> str:
    for a in (node.get("status") or {}).get("addresses") or ():
        if a.get("type") == "InternalIP":
            return str(a.get("address"))
    return ""
