"""Karpenter's node termination controller: the ``karpenter.sh/termination`` finalizer of the Nodes it made.

A Node marked for deletion with that finalizer is taken down in Karpenter's order:

1. its NodeClaim is deleted too (if it was not already), and a Node whose instance is gone while the Node is
   not Ready is let go at once;
2. the Node gets the ``karpenter.sh/disrupted:NoSchedule`` taint and the
   ``node.kubernetes.io/exclude-from-external-load-balancers=karpenter`` label (``tainted node``);
3. drain: the pods still to wait for (not terminal, not tolerating the disrupted taint, not static, not stuck
   terminating for more than a minute past their grace period) fall into four groups — non-critical
   non-daemon, non-critical daemon, critical non-daemon, critical daemon (critical = priority class
   ``system-cluster-critical``/``system-node-critical``) — and only the first non-empty group is evicted
   through the Eviction API. ``karpenter.sh/do-not-disrupt`` pods are waited for but never evicted. A 429/500
   is retried per pod after 100 ms, doubling to at most 10 s;
4. with the NodeClaim's ``terminationGracePeriod`` the deadline is the NodeClaim's
   ``karpenter.sh/nodeclaim-termination-timestamp`` (its deletion time + the grace period): a pod whose own
   ``terminationGracePeriodSeconds`` would run past it is deleted — not evicted, so PDBs and do-not-disrupt do
   not apply — at ``deadline − terminationGracePeriodSeconds``, and at the deadline the instance is
   terminated whatever is left;
5. the instance is terminated (NodeClaim ``InstanceTerminating=True``), polled every 5 s until EC2 says
   ``terminated``, and the finalizer removed (``deleted node``); the store then deletes the Node and the
   kubelet controller collects any pods left on it.

The controller is woken by its Node, by pods on draining Nodes and by the NodeClaim, and requeues itself for
eviction retries, grace-period deletions, stuck pods and instance polls. Karpenter's extra one-second
requeues after each status patch (to read its own writes) are not reproduced.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

from ekstwin.cloud.ec2 import Instance
from ekstwin.controllers import capacity_reservations, eviction
from ekstwin.controllers.base import Deps, Obj, is_true, ns_name, with_condition
from ekstwin.controllers.pdb import is_ready
from ekstwin.errors import CloudError
from ekstwin.model import requirements as rq
from ekstwin.model import taints as tn
from ekstwin.sim import driver
from ekstwin.sim.reconcile import Result
from ekstwin.store import indexes
from ekstwin.store.watch import WatchEvent
from ekstwin.units.durations import parse_duration

NAME = "termination"
LOGGER = "node.termination"
FINALIZER = "karpenter.sh/termination"
TERMINATION_TIMESTAMP = "karpenter.sh/nodeclaim-termination-timestamp"
EXCLUDE_LB = "node.kubernetes.io/exclude-from-external-load-balancers"
CRITICAL_CLASSES = frozenset(("system-cluster-critical", "system-node-critical"))
EVICT_BACKOFF_BASE_S, EVICT_BACKOFF_MAX_S = 0.1, 10.0
STUCK_TERMINATING_S = 60.0
"""A terminating pod is no longer waited for this long after its grace period ended."""
INSTANCE_POLL_S = 5.0
EVENT_DEDUPE_S = 120.0
"""Karpenter's recorder drops an event with the same reason about the same object for 2 minutes."""
FORCEFUL = "Forceful Termination"
_DRAINING = "termination.draining"


# -- watches -----------------------------------------------------------------------------------------
def watches(deps: Deps) -> list[driver.Watch]:
    """Nodes wake themselves; pods on draining Nodes and NodeClaims of draining Nodes wake the Node."""
    return [driver.Watch("Node", driver.by_object), driver.Watch("Pod", partial(_pod_node, deps)),
            driver.Watch("NodeClaim", partial(_claim_node, deps))]


def _draining(deps: Deps) -> set[str]:
    nodes: set[str] = deps.state.setdefault(_DRAINING, set())
    return nodes


def _pod_node(deps: Deps, ev: WatchEvent) -> str | None:
    node = (ev.obj.get("spec") or {}).get("nodeName")
    return str(node) if node and node in _draining(deps) else None


def _claim_node(deps: Deps, ev: WatchEvent) -> str | None:
    node = (ev.obj.get("status") or {}).get("nodeName")
    return str(node) if node and node in _draining(deps) else None


# -- reconcile ---------------------------------------------------------------------------------------
def reconcile(deps: Deps, key: str, now: float) -> Result:
    """Drive one deleting Node through taint, drain, instance termination and finalizer removal."""
    node = deps.store.try_get("Node", key)
    if node is None or not node["metadata"].get("deletionTimestamp") \
            or FINALIZER not in (node["metadata"].get("finalizers") or ()):
        _draining(deps).discard(key)
        return Result()
    _draining(deps).add(key)
    claim = _claim_of(deps, node)
    if claim is None:
        # Karpenter stops here too: the NodeClaim carries the state termination needs.
        deps.recorder.log(LOGGER, "failed to terminate node, expected a single associated nodeclaim",
                          level="ERROR", Node={"name": key})
        return Result()
    if not claim["metadata"].get("deletionTimestamp"):
        claim = deps.store.delete("NodeClaim", claim["metadata"]["name"])
    instance = _instance(deps, str((node.get("spec") or {}).get("providerID") or ""), now)
    if not is_ready(node) and (instance is None or instance.state == "terminated"):
        return _remove_finalizer(deps, key, claim)  # nothing left to drain on a dead, vanished machine
    deadline = _deadline(deps, node, claim, now)
    _taint(deps, node, claim)
    waiting, wake = _drain(deps, key, claim, deadline, now)
    if waiting and (deadline is None or now < deadline):
        _publish(deps, deps.store.get("Node", key), "Warning", "FailedDraining",
                 f"Failed to drain node, {waiting} pods are waiting to be evicted", now)
        _set_claim_condition(deps, claim, "Drained", "Unknown", "Draining")
        wakes = [t for t in (wake, deadline) if t is not None]
        return Result(requeue_after=max(0.0, min(wakes) - now)) if wakes else Result()
    _drain_done(deps, key, claim, drained=not waiting, now=now)
    if ensure_terminated(deps, claim, now):
        return _remove_finalizer(deps, key, claim)
    return Result(requeue_after=INSTANCE_POLL_S)


def _claim_of(deps: Deps, node: Obj) -> Obj | None:
    """The one NodeClaim with the Node's provider id (Karpenter's NodeClaimForNode)."""
    pid = (node.get("spec") or {}).get("providerID")
    claims = deps.store.by_index("NodeClaim", indexes.CLAIM_PROVIDER_ID, str(pid)) if pid else []
    return claims[0] if len(claims) == 1 else None


def _instance(deps: Deps, provider_id: str, now: float) -> Instance | None:
    if not provider_id:
        return None
    deps.ec2.due(now)  # apply the transitions that are due, so ``state`` is current
    try:
        return deps.ec2.get(provider_id.rsplit("/", 1)[-1])
    except CloudError:
        return None


def _deadline(deps: Deps, node: Obj, claim: Obj, now: float) -> float | None:
    """The NodeClaim's termination time, announced on the Node (once per dedupe window) while it is set."""
    stamp = (claim["metadata"].get("annotations") or {}).get(TERMINATION_TIMESTAMP)
    if not stamp:
        return None
    _publish(deps, node, "Warning", "TerminationGracePeriodExpiring", f"All pods will be deleted by {stamp}", now)
    return deps.store.parse_time(str(stamp))


# -- taint -------------------------------------------------------------------------------------------
def _taint(deps: Deps, node: Obj, claim: Obj) -> None:
    taints = list((node.get("spec") or {}).get("taints") or ())
    labels = node["metadata"].get("labels") or {}
    wanted = eviction.DISRUPTED_TAINT.to_k8s()
    has = any(tn.Taint.parse(t) == eviction.DISRUPTED_TAINT for t in taints)
    if has and labels.get(EXCLUDE_LB) == "karpenter":
        return
    if not has:  # a disrupted taint with another value or effect is replaced
        taints = [*(t for t in taints if t.get("key") != tn.DISRUPTED), wanted]
    deps.store.update({**node, "spec": {**node["spec"], "taints": taints},
                       "metadata": {**node["metadata"], "labels": {**labels, EXCLUDE_LB: "karpenter"}}})
    deps.recorder.log(LOGGER, "tainted node", Node={"name": node["metadata"]["name"]},
                      NodeClaim={"name": claim["metadata"]["name"]},
                      **{"taint.Key": tn.DISRUPTED, "taint.Value": "", "taint.Effect": tn.NO_SCHEDULE})


# -- drain -------------------------------------------------------------------------------------------
def _drain(deps: Deps, node_name: str, claim: Obj, deadline: float | None, now: float) -> tuple[int, float | None]:
    """Delete expiring pods, evict the first waiting group; (pods still waited for, next time to look)."""
    wakes: list[float] = []
    if deadline is not None:
        wakes += _delete_expiring(deps, node_name, claim, deadline, now)
    waiting = [p for p in deps.store.by_index("Pod", indexes.POD_NODE_NAME, node_name) if _waited_for(deps, p, now)]
    wakes += [_stuck_at(deps, p) for p in waiting if eviction.is_terminating(p)]
    for group in _groups(waiting):
        if group:
            wakes += _evict_group(deps, node_name, claim, group, now)
            break
    return len(waiting), min(wakes, default=None)


def _waited_for(deps: Deps, pod: Obj, now: float) -> bool:
    """Karpenter's IsWaitingEviction: the drain is not done while such a pod is on the node."""
    if eviction.is_terminal(pod) or eviction.tolerates_disrupted(pod) or eviction.is_static(pod):
        return False
    return not (eviction.is_terminating(pod) and now >= _stuck_at(deps, pod))


def _stuck_at(deps: Deps, pod: Obj) -> float:
    """When a terminating pod stops being waited for: a minute after its grace period ended.

    Kubernetes' deletionTimestamp already includes the grace period; the store keeps the two apart.
    """
    meta = pod["metadata"]
    grace = float(meta.get("deletionGracePeriodSeconds") or 0)
    return deps.store.parse_time(str(meta["deletionTimestamp"])) + grace + STUCK_TERMINATING_S


def _groups(pods: list[Obj]) -> list[list[Obj]]:
    """Non-critical non-daemon, non-critical daemon, critical non-daemon, critical daemon."""
    groups: list[list[Obj]] = [[], [], [], []]
    for p in pods:
        critical = (p.get("spec") or {}).get("priorityClassName") in CRITICAL_CLASSES
        groups[2 * critical + eviction.owned_by(p, "DaemonSet")].append(p)
    return groups


def _evict_group(deps: Deps, node_name: str, claim: Obj, group: list[Obj], now: float) -> list[float]:
    """Evict the group's evictable pods whose retry is due; the times of the retries still ahead."""
    backoff = _backoff(deps, node_name)
    wakes: list[float] = []
    for p in group:
        if not eviction.is_evictable(p):
            continue  # terminating, or do-not-disrupt: waited for, never evicted
        uid = str(p["metadata"].get("uid", ""))
        failures, retry_at = backoff.get(uid, (0, now))
        if now < retry_at:
            wakes.append(retry_at)
            continue
        result = eviction.evict(deps, p, now)
        if result.code in (200, 404, 409):  # 404/409: that pod is gone already
            backoff.pop(uid, None)
            if result.code == 200:
                _evicted(deps, node_name, claim, p)
            continue
        delay = min(EVICT_BACKOFF_BASE_S * 2.0 ** failures, EVICT_BACKOFF_MAX_S)
        backoff[uid] = (failures + 1, now + delay)
        wakes.append(now + delay)
        _eviction_refused(deps, node_name, p, result, now)
    return wakes


def _backoff(deps: Deps, node_name: str) -> dict[str, tuple[int, float]]:
    """Per pod uid on the Node: (refused evictions so far, when to try again)."""
    per_node: dict[str, dict[str, tuple[int, float]]] = deps.state.setdefault("termination.backoff", {})
    return per_node.setdefault(node_name, {})


def _evicted(deps: Deps, node_name: str, claim: Obj, pod: Obj) -> None:
    reason = _disruption_reason(deps, claim)
    deps.recorder.event(pod, "Normal", "Evicted", f"Evicted pod: {reason}")
    deps.recorder.count("karpenter_pods_drained_total", reason=reason)
    _stats(deps, node_name)["evicted"] += 1


def _disruption_reason(deps: Deps, claim: Obj) -> str:
    """The NodeClaim's DisruptionReason when Karpenter disrupted it, else a forceful termination."""
    fresh = deps.store.try_get("NodeClaim", claim["metadata"]["name"]) or claim
    for c in (fresh.get("status") or {}).get("conditions") or ():
        if c.get("type") == "DisruptionReason" and c.get("status") == "True":
            return str(c.get("reason") or FORCEFUL)
    return FORCEFUL


def _eviction_refused(deps: Deps, node_name: str, pod: Obj, result: eviction.EvictionResult, now: float) -> None:
    node = deps.store.try_get("Node", node_name)
    if result.code in (429, 500) and node is not None:
        why = "eviction does not support multiple PDBs" if result.code == 500 else "evicting pod violates a PDB"
        _publish(deps, node, "Warning", "FailedDraining", f"Failed to drain node, {why} (Pod={ns_name(pod)})", now)
        return
    deps.recorder.log(LOGGER, "failed evicting pod", level="ERROR", Pod={"name": pod["metadata"]["name"],
                      "namespace": pod["metadata"].get("namespace")}, error=result.message)


def _delete_expiring(deps: Deps, node_name: str, claim: Obj, deadline: float, now: float) -> list[float]:
    """Delete the pods whose own grace period would outlast the deadline; the later deletion times."""
    wakes: list[float] = []
    for p in deps.store.by_index("Pod", indexes.POD_NODE_NAME, node_name):
        spec_grace = (p.get("spec") or {}).get("terminationGracePeriodSeconds")
        if spec_grace is None or eviction.is_terminating(p) or not _waited_for(deps, p, now):
            continue
        delete_at = deadline - int(spec_grace)
        if now < delete_at:
            wakes.append(delete_at)
            continue
        grace = max(0, int(deadline - now))  # whatever is left until the deadline, whole seconds
        _delete_for_deadline(deps, claim, p, int(spec_grace), grace, deadline)
        _stats(deps, node_name)["deleted"] += 1
    return wakes


def _delete_for_deadline(deps: Deps, claim: Obj, pod: Obj, spec_grace: int, grace: int, deadline: float) -> None:
    meta = pod["metadata"]
    when = _go_time(deps, deadline)
    deps.recorder.event(pod, "Normal", "Disrupted",
                        f"Deleting the pod to accommodate the terminationTime {when} of the node. The pod was granted "
                        f"{grace} seconds of grace-period of its {spec_grace} terminationGracePeriodSeconds. This "
                        "bypasses the PDB of the pod and the do-not-disrupt annotation.")
    deps.store.delete("Pod", str(meta["name"]), str(meta.get("namespace") or "default"), grace_seconds=grace)
    fields: dict[str, Any] = {"pod.terminationGracePeriodSeconds": spec_grace, "delete.gracePeriodSeconds": grace,
                              "nodeclaim.expirationTime": when}
    deps.recorder.log(LOGGER, "deleting pod", NodeClaim={"name": claim["metadata"]["name"]},
                      namespace=meta.get("namespace"), name=meta["name"], **fields)


def _go_time(deps: Deps, t: float) -> str:
    """Go's ``time.Time`` default text (``2024-01-01 00:05:00 +0000 UTC``), as Karpenter's message prints it."""
    stamp = datetime.fromisoformat(deps.store.format_time(t).replace("Z", "+00:00"))
    return stamp.strftime("%Y-%m-%d %H:%M:%S +0000 UTC")


def _drain_done(deps: Deps, node_name: str, claim: Obj, *, drained: bool, now: float) -> None:
    """Once per Node: Drained (unless the deadline cut the drain short), metrics and the decision record."""
    stats = _stats(deps, node_name)
    if stats.get("done"):
        return
    stats["done"] = 1
    nodepool = str((claim["metadata"].get("labels") or {}).get(rq.NODEPOOL, ""))
    if drained:
        _set_claim_condition(deps, claim, "Drained", "True", "Drained")
        deps.recorder.count("karpenter_nodes_drained_total", nodepool=nodepool)
    _set_claim_condition(deps, claim, "VolumesDetached", "True", "VolumesDetached")  # the twin has no volumes
    started = _deletion_time(deps, claim, now)
    outcome = "drained" if drained else "terminationGracePeriod elapsed"
    deps.recorder.decide("termination", f"{node_name}: {outcome} after {now - started:g}s, {stats['evicted']} "
                         f"pods evicted, {stats['deleted']} deleted at the grace period deadline",
                         node=node_name, nodeclaim=claim["metadata"]["name"], nodepool=nodepool, outcome=outcome,
                         evicted=stats["evicted"], deleted=stats["deleted"], duration_s=round(now - started, 3))


def _deletion_time(deps: Deps, obj: Obj, default: float) -> float:
    stamp = obj["metadata"].get("deletionTimestamp")
    return deps.store.parse_time(str(stamp)) if stamp else default


def _stats(deps: Deps, node_name: str) -> dict[str, int]:
    all_stats: dict[str, dict[str, int]] = deps.state.setdefault("termination.stats", {})
    return all_stats.setdefault(node_name, {"evicted": 0, "deleted": 0})


def stamp_deadline(deps: Deps, claim: Obj) -> Obj:
    """The deleting NodeClaim with its termination time annotated (deletion + ``terminationGracePeriod``).

    Karpenter's NodeClaim finalizer writes it once; the drain reads the deadline from it. Without a grace
    period, or when already stamped, the NodeClaim is returned unchanged.
    """
    meta = claim["metadata"]
    tgp = (claim.get("spec") or {}).get("terminationGracePeriod")
    annotations = meta.get("annotations") or {}
    if not tgp or not meta.get("deletionTimestamp") or TERMINATION_TIMESTAMP in annotations:
        return claim
    stamp = deps.store.format_time(deps.store.parse_time(str(meta["deletionTimestamp"])) + parse_duration(str(tgp)))
    stamped = deps.store.update({**claim, "metadata": {**meta, "annotations": {**annotations,
                                                                               TERMINATION_TIMESTAMP: stamp}}})
    deps.recorder.log("nodeclaim.lifecycle", "annotated nodeclaim", NodeClaim={"name": meta["name"]},
                      **{TERMINATION_TIMESTAMP: stamp})
    deps.recorder.event(stamped, "Warning", "TerminationGracePeriodExpiring", f"All pods will be deleted by {stamp}")
    return stamped


# -- instance and finalizer --------------------------------------------------------------------------
def ensure_terminated(deps: Deps, claim: Obj, now: float) -> bool:
    """Karpenter's EnsureTerminated: True once the NodeClaim's instance is ``terminated`` (or never existed).

    The first call terminates the instance and sets ``InstanceTerminating=True``; it answers True at once only
    when EC2 had already terminated the instance (a reclaim). Later calls just look.
    """
    pid = str((claim.get("status") or {}).get("providerID") or "")
    if not pid:
        return True
    instance = _instance(deps, pid, now)
    gone = instance is None or instance.state == "terminated"
    if not is_true(deps.store.try_get("NodeClaim", claim["metadata"]["name"]) or claim, "InstanceTerminating"):
        if not gone:
            try:
                deps.ec2.terminate(now, pid.rsplit("/", 1)[-1])
            except CloudError as e:
                deps.recorder.log(LOGGER, "failed terminating instance", level="ERROR",
                                  NodeClaim={"name": claim["metadata"]["name"]}, error=str(e))
                return False
            reservation = (claim["metadata"].get("labels") or {}).get(rq.CAPACITY_RESERVATION_ID)
            if reservation:  # Karpenter counts the slot free again as soon as it asks for the termination
                capacity_reservations.mark_terminated(deps, reservation)
        _set_claim_condition(deps, claim, "InstanceTerminating", "True", "InstanceTerminating")
    return gone


def _set_claim_condition(deps: Deps, claim: Obj, ctype: str, status: str, reason: str) -> None:
    fresh = deps.store.try_get("NodeClaim", claim["metadata"]["name"])
    if fresh is not None:
        deps.store.update_status(with_condition(fresh, ctype, status, deps.store.format_time(), reason))


def _remove_finalizer(deps: Deps, node_name: str, claim: Obj) -> Result:
    node = deps.store.try_get("Node", node_name)
    _draining(deps).discard(node_name)
    if node is None or FINALIZER not in (node["metadata"].get("finalizers") or ()):
        return Result()
    deps.state.setdefault("termination.backoff", {}).pop(node_name, None)
    deps.state.setdefault("termination.stats", {}).pop(node_name, None)
    sent: dict[tuple[str, str, str], float] = deps.state.setdefault("termination.events", {})
    for key in [k for k in sent if k[1] == node_name]:
        del sent[key]
    rest = [f for f in node["metadata"].get("finalizers") or () if f != FINALIZER]
    deps.store.update({**node, "metadata": {**node["metadata"], "finalizers": rest}})
    deps.recorder.count("karpenter_nodes_terminated_total",
                        nodepool=str((node["metadata"].get("labels") or {}).get(rq.NODEPOOL, "")))
    deps.recorder.log(LOGGER, "deleted node", Node={"name": node_name}, NodeClaim={"name": claim["metadata"]["name"]})
    return Result()


def _publish(deps: Deps, obj: Obj, type_: str, reason: str, message: str, now: float) -> None:
    """Publish an event unless one with this reason about this object went out in the last 2 minutes."""
    sent: dict[tuple[str, str, str], float] = deps.state.setdefault("termination.events", {})
    key = (obj["kind"], str(obj["metadata"]["name"]), reason)
    last = sent.get(key)
    if last is not None and now - last < EVENT_DEDUPE_S:
        return
    sent[key] = now
    deps.recorder.event(obj, type_, reason, message)
