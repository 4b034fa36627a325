"""kube-scheduler as a controller: binds pending pods with ``scheduling.cycle.schedule_one``.

One key ("cycle") schedules every pending pod in queue order (priority desc, then creation time), on a
snapshot built once per cycle and updated with ``assume`` after each binding. Pods that fit nowhere get
``PodScheduled=False, reason=Unschedulable`` (what Karpenter and the Cluster Autoscaler watch) and a
``FailedScheduling`` event in kube-scheduler's words; they are retried when nodes or pods change.
"""

from __future__ import annotations

from ekstwin.controllers.base import Deps, Obj, condition, with_condition
from ekstwin.model.pod import PodInfo
from ekstwin.scheduling import cycle, registry
from ekstwin.scheduling.snapshot import Snapshot
from ekstwin.sim import driver
from ekstwin.sim.reconcile import Result
from ekstwin.store import indexes
from ekstwin.store.watch import WatchEvent

NAME = "kube-scheduler"
KEY = "cycle"


def _pod_key(ev: WatchEvent) -> str | None:
    spec = ev.obj.get("spec") or {}
    if ev.type == "DELETED" or not spec.get("nodeName") or ev.obj["metadata"].get("deletionTimestamp"):
        return KEY
    return None


WATCHES = [driver.Watch("Pod", _pod_key), driver.Watch("Node", lambda ev: KEY)]


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
    """Schedule every pending pod once, in priority order."""
    pending = pending_pods(deps)
    if not pending:
        return Result()
    pending.sort(key=lambda p: (-int((p.get("spec") or {}).get("priority") or 0),
                                p["metadata"].get("creationTimestamp", ""), p["metadata"]["name"]))
    nodes = [n for n in deps.store.list("Node")]
    bound = [p for p in deps.store.list("Pod") if (p.get("spec") or {}).get("nodeName")
             and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
    snap = Snapshot.build(nodes, bound)
    profile = registry.default_profile()
    rng = deps.rngs.stream("kube-scheduler.ties")
    ts = deps.store.format_time()
    for pod in pending:
        info = PodInfo.parse(pod)
        decision = cycle.schedule_one(info, snap, profile, rng)
        if decision.node is not None:
            bound_pod = with_condition({**pod, "spec": {**pod["spec"], "nodeName": decision.node}},
                                       "PodScheduled", "True", ts)
            deps.store.update(bound_pod)
            snap.assume(info, decision.node)
            deps.recorder.event(pod, "Normal", "Scheduled",
                                f"Successfully assigned {info.key} to {decision.node}", component="default-scheduler")
            continue
        message = decision.message or "no nodes available to schedule pods"
        old = condition(pod, "PodScheduled")
        if old is None or old.get("message") != message or old.get("status") != "False":
            deps.store.update_status(with_condition(pod, "PodScheduled", "False", ts, "Unschedulable", message))
            deps.recorder.event(pod, "Warning", "FailedScheduling", message, component="default-scheduler")
    return Result()
