"""kube-scheduler as a controller: binds pending pods with ``scheduling.cycle.schedule_one``.

A cycle schedules pending pods in queue order (priority desc, then creation time) on the scheduler cache's
snapshot (``snapshot_cache``: kept across cycles and synced from the watch log at the start of each),
updated with ``assume`` after each binding. Pods that fit nowhere get
``PodScheduled=False, reason=Unschedulable`` (what Karpenter and the Cluster Autoscaler watch) and a
``FailedScheduling`` event in kube-scheduler's words.

Like kube-scheduler's scheduling queue, a pod that failed is not retried on every event: only after
something that can make it fit — a node added or changed, or a bound pod going away — and once its
backoff has passed (1 s, doubling per failed attempt, at most 10 s), or after the 5-minute periodic flush
(``podMaxInUnschedulablePodsDuration``). New pending pods are tried at once.
"""

from __future__ import annotations

from ekstwin.controllers import snapshot_cache
from ekstwin.controllers.base import Deps, Obj, condition, pod_info, with_condition
from ekstwin.scheduling import cycle, registry
from ekstwin.sim import driver
from ekstwin.sim.reconcile import Result
from ekstwin.store import indexes
from ekstwin.store.watch import WatchEvent

NAME = "kube-scheduler"
PENDING, FREED, NODES = "pending", "freed", "nodes"
FLUSH_S = 300.0
BACKOFF_INITIAL_S, BACKOFF_MAX_S = 1.0, 10.0


def _pod_key(ev: WatchEvent) -> str | None:
    spec = ev.obj.get("spec") or {}
    if spec.get("nodeName"):
        gone = ev.type == "DELETED" or ev.obj["metadata"].get("deletionTimestamp")
        return FREED if gone else None
    return None if ev.type == "DELETED" or ev.obj["metadata"].get("deletionTimestamp") else PENDING


WATCHES = [driver.Watch("Pod", _pod_key), driver.Watch("Node", lambda ev: NODES)]


def pending_pods(deps: Deps) -> list[Obj]:
    """Pods waiting for a node: unbound, not deleting, not gated, for the default scheduler."""
    out = []
    for p in deps.store.by_index("Pod", indexes.POD_NODE_NAME, ""):
        spec = p.get("spec") or {}
        if p["metadata"].get("deletionTimestamp") or spec.get("schedulingGates"):
            continue
        if spec.get("schedulerName", "default-scheduler") != "default-scheduler":
            continue
        out.append(p)
    return out


def reconcile(deps: Deps, key: str, now: float) -> Result:
    """Schedule the pending pods that are due an attempt, in priority order."""
    st = deps.state.setdefault(NAME, {"epoch": 0, "failed": {}, "flushed": 0.0})
    if key in (FREED, NODES) or now - st["flushed"] >= FLUSH_S:
        st["epoch"] += 1
        if now - st["flushed"] >= FLUSH_S:
            st["flushed"] = now
    failed: dict[str, tuple[int, int, float]] = st["failed"]  # uid → (epoch, attempts, backoff until)
    waiting = pending_pods(deps)
    pending = [p for p in waiting if _due(failed.get(p["metadata"]["uid"]), st["epoch"], now)]
    if pending:
        _cycle(deps, pending, failed, st["epoch"], now)
    live = {p["metadata"]["uid"] for p in waiting}
    for uid in [u for u in failed if u not in live]:  # bound or deleted meanwhile
        del failed[uid]
    retry = [until for epoch, _, until in failed.values() if epoch < st["epoch"] and until > now]
    if retry:
        return Result(requeue_after=min(retry) - now)
    return Result(requeue_after=FLUSH_S) if failed else Result()


def _due(entry: tuple[int, int, float] | None, epoch: int, now: float) -> bool:
    return entry is None or (entry[0] < epoch and now >= entry[2])


def _cycle(deps: Deps, pending: list[Obj], failed: dict[str, tuple[int, int, float]], epoch: int,
           now: float) -> None:
    pending.sort(key=lambda p: (-int((p.get("spec") or {}).get("priority") or 0),
                                p["metadata"].get("creationTimestamp", ""), p["metadata"]["name"]))
    snap = snapshot_cache.cache(deps).snapshot(deps)
    profile = registry.default_profile()
    rng = deps.rngs.stream("kube-scheduler.ties")
    ts = deps.store.format_time()
    for pod in pending:
        info = pod_info(deps, pod)
        decision = cycle.schedule_one(info, snap, profile, rng)
        if decision.node is not None:
            failed.pop(info.uid, None)
            _bind(deps, pod, decision.node, ts)
            snap.assume(info, decision.node)
            continue
        attempts = failed.get(info.uid, (0, 0, 0.0))[1] + 1
        backoff = min(BACKOFF_INITIAL_S * 2 ** (attempts - 1), BACKOFF_MAX_S)
        failed[info.uid] = (epoch, attempts, now + backoff)
        _mark_unschedulable(deps, pod, decision.message or "no nodes available to schedule pods", ts)


def _bind(deps: Deps, pod: Obj, node: str, ts: str) -> None:
    bound_pod = with_condition({**pod, "spec": {**pod["spec"], "nodeName": node}}, "PodScheduled", "True", ts)
    deps.store.update(bound_pod)
    deps.recorder.event(pod, "Normal", "Scheduled",
                        f"Successfully assigned {pod['metadata'].get('namespace', 'default')}/"
                        f"{pod['metadata']['name']} to {node}", component="default-scheduler")


def _mark_unschedulable(deps: Deps, pod: Obj, message: str, ts: str) -> None:
    old = condition(pod, "PodScheduled")
    if old is None or old.get("message") != message or old.get("status") != "False":
        deps.store.update_status(with_condition(pod, "PodScheduled", "False", ts, "Unschedulable", message))
        deps.recorder.event(pod, "Warning", "FailedScheduling", message, component="default-scheduler")
