"""Karpenter's provisioner: batch pending pods, run the scheduling simulation, create NodeClaims.

Batching follows Karpenter: the window opens at the first trigger and closes after ``batch_idle_s``
without a new trigger or ``batch_max_s`` after it opened. A provisionable pod (marked Unschedulable by
kube-scheduler, unbound, not a daemon or static pod) triggers once, and again every 10 s while pending.
No new batch is solved while any NodeClaim still lacks a providerID ("waiting on cluster sync").
In-flight NodeClaims count as nodes, so pods already covered by one are *nominated* instead of
provisioned twice.
"""

from __future__ import annotations

from typing import Any

from ekstwin.autoscaling.karpenter import scheduler, templates
from ekstwin.controllers import capacity_reservations, nodeclaim, nodeclaim_disruption, nodes_view, snapshot_cache
from ekstwin.controllers.base import Deps, Obj, condition, pods_of
from ekstwin.model import requirements as rq
from ekstwin.model.pod import PodInfo
from ekstwin.model.taints import DISRUPTED
from ekstwin.sim import driver
from ekstwin.sim.reconcile import Result
from ekstwin.store import indexes
from ekstwin.store.watch import WatchEvent

NAME = "provisioner"
KEY = "batch"
RECHECK_S = 10.0
NOMINATION_S = 20.0


def _trigger(ev: WatchEvent) -> str | None:
    return KEY if ev.type != "DELETED" and is_provisionable(ev.obj) else None


def _node_trigger(ev: WatchEvent) -> str | None:
    return KEY if ev.type != "DELETED" and is_going(ev.obj) else None


WATCHES = [driver.Watch("Pod", _trigger), driver.Watch("NodeClaim", lambda ev: KEY),
           driver.Watch("Node", _node_trigger)]


def is_going(node: Obj) -> bool:
    """A node being deleted or tainted ``karpenter.sh/disrupted``: its pods need a place elsewhere."""
    return bool(node["metadata"].get("deletionTimestamp")) or any(
        t.get("key") == DISRUPTED for t in (node.get("spec") or {}).get("taints") or ())


def reschedulable_on_going_nodes(deps: Deps) -> list[Obj]:
    """Active pods of going nodes that a controller will recreate or evict (not daemon or static pods)."""
    return pods_of(deps, _going_pods(deps))


def _going_pods(deps: Deps) -> list[PodInfo]:
    """``reschedulable_on_going_nodes`` as parsed pods, read from the scheduler cache's pods by node (the
    provisioner asks on every wake-up; only a closing batch needs the Pod objects)."""
    cache = snapshot_cache.cache(deps)
    cache.snapshot(deps)
    out = []
    for node in deps.store.list("Node"):
        if not is_going(node):
            continue
        for info in cache.by_node.get(node["metadata"]["name"], {}).values():
            if not (info.is_daemonset or info.owner_kind == "Node" or info.deleting):
                out.append(info)  # the cache holds only bound, non-terminal pods
    return out


def is_provisionable(pod: Obj) -> bool:
    """Unschedulable per kube-scheduler, unbound, not nominated, not owned by a DaemonSet or Node."""
    return awaits_node(pod) and is_unschedulable(pod)


def awaits_node(pod: Obj) -> bool:
    """Unbound, not deleting, not nominated, not owned by a DaemonSet or Node (kube-scheduler's verdict aside)."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName") or pod["metadata"].get("deletionTimestamp"):
        return False
    if (pod.get("status") or {}).get("nominatedNodeName"):
        return False
    return not any(o.get("kind") in ("DaemonSet", "Node") for o in pod["metadata"].get("ownerReferences") or ())


def is_unschedulable(pod: Obj) -> bool:
    """kube-scheduler set PodScheduled=False with reason Unschedulable."""
    cond = condition(pod, "PodScheduled")
    return cond is not None and cond.get("status") == "False" and cond.get("reason") == "Unschedulable"


def _window(deps: Deps) -> dict[str, Any]:
    w: dict[str, Any] = deps.state.setdefault("provisioner", {"start": None, "last": None, "seen": {}})
    return w


def reconcile(deps: Deps, key: str, now: float) -> Result:
    """Advance the batch window; when it closes, solve and create NodeClaims."""
    w = _window(deps)
    # pending pods, plus the pods of nodes being deleted, so replacements launch while those nodes drain
    pending = [p for p in deps.store.by_index("Pod", indexes.POD_NODE_NAME, "") if is_provisionable(p)]
    going = _going_pods(deps)
    uids = [p["metadata"]["uid"] for p in pending] + [i.uid for i in going]
    seen: dict[str, float] = w["seen"]
    live = set(uids)
    for uid in [u for u in seen if u not in live]:
        del seen[uid]
    for uid in uids:
        # written as seen + RECHECK_S <= now (not now - seen >= RECHECK_S) so the requeue below, computed the
        # same way, is always > 0: the two forms can round differently and a 0 requeue loops at one instant
        if uid not in seen or seen[uid] + RECHECK_S <= now:
            seen[uid] = now
            w["last"] = now
            if w["start"] is None:
                w["start"] = now
    if w["start"] is None:
        return Result(requeue_after=min(seen.values()) + RECHECK_S - now) if seen else Result()
    closes = min(w["last"] + deps.settings.batch_idle_s, w["start"] + deps.settings.batch_max_s)
    if now < closes:
        return Result(requeue_after=closes - now)
    if any(not (c.get("status") or {}).get("providerID") for c in deps.store.list("NodeClaim")
           if not c["metadata"].get("deletionTimestamp")):
        return Result(requeue_after=1.0)  # waiting on cluster sync
    w["start"] = w["last"] = None
    if uids:
        provision(deps, pending + pods_of(deps, going), now)
    return Result(requeue_after=RECHECK_S) if uids else Result()


def provision(deps: Deps, pods: list[Obj], now: float) -> scheduler.SolveResult:
    """One provisioning pass over ``pods``: solve, then create NodeClaims and record the outcome."""
    started = now
    infos = [PodInfo.parse(p) for p in pods]
    shown = ", ".join(i.key for i in infos[:5]) + (f" and {len(infos) - 5} other(s)" if len(infos) > 5 else "")
    deps.recorder.log(NAME, "found provisionable pod(s)", Pods=shown, duration="0s")
    view = nodes_view.ClusterView.build(deps)
    table = nodeclaim.available_table(deps, now)  # ICE-cached offerings are not launchable for 3 minutes
    tpls, problems = templates.build_templates(view.nodepools, table, view.daemonset_pods, view.pool_usage,
                                               pool_reservation_scope(deps, view.nodepools, now))
    for prob in problems:
        np_obj = next(p for p in view.nodepools if p["metadata"]["name"] == prob.nodepool)
        deps.recorder.event(np_obj, "Warning", prob.reason, prob.message)
    # provisioning never trades a reservation away for another pod (Karpenter's strict reserved-offering mode)
    result = scheduler.solve(infos, table, tpls, [n.fresh() for n in view.existing_nodes(deps, tpls)],
                             domains=view.domains(table, tpls),
                             prefer_no_schedule_pools=any(t.effect == "PreferNoSchedule"
                                                          for tpl in tpls for t in tpl.taints),
                             reservations=capacity_reservations.counts(deps, now), strict_reservations=True)
    for msg in result.messages:
        deps.recorder.log(NAME, msg, level="DEBUG")
    if result.new_claims:
        deps.recorder.log(NAME, "computed new nodeclaim(s) to fit pod(s)", nodeclaims=len(result.new_claims),
                          pods=sum(len(c.pods) for c in result.new_claims))
    for claim in result.new_claims:
        create_nodeclaim(deps, claim, view.nodepool(claim.template.nodepool), reason="provisioned")
    _nominate(deps, result, view, now)
    for info in infos:
        err = result.errors.get(info.key)
        if err and not isinstance(err, scheduler.ReservedOfferingError):  # retried silently next batch
            pod = deps.store.try_get("Pod", info.name, info.namespace)
            if pod is not None:
                deps.recorder.event(pod, "Warning", "FailedScheduling", f"Failed to schedule pod, {err}")
                deps.recorder.log(NAME, "could not schedule pod", level="ERROR", Pod={"name": info.name,
                                  "namespace": info.namespace}, error=err)
    deps.recorder.decide("provisioning", f"{len(infos)} pod(s): {len(result.new_claims)} new nodeclaim(s), "
                         f"{sum(len(v) for v in result.existing.values())} on existing/in-flight nodes, "
                         f"{len(result.errors)} unschedulable", started=started)
    return result


def pool_reservation_scope(deps: Deps, nodepools: list[Obj], now: float) -> dict[str, frozenset[str]]:
    """Per NodePool, the usable capacity reservations its EC2NodeClass does not select."""
    return capacity_reservations.excluded_by_pool(deps, nodepools, capacity_reservations.usable(deps, now))


def _nominate(deps: Deps, result: scheduler.SolveResult, view: nodes_view.ClusterView, now: float) -> None:
    nominated: dict[str, float] = deps.state.setdefault("nominated", {})
    for node_name, pods in result.existing.items():
        nominated[node_name] = now + NOMINATION_S
        claim_name = view.claim_of_node.get(node_name, node_name)
        node_part = f", node/{node_name}" if node_name in view.node_names else ""
        for info in pods:
            pod = deps.store.try_get("Pod", info.name, info.namespace)
            if pod is not None:
                deps.recorder.event(pod, "Normal", "Nominated",
                                    f"Pod should schedule on: nodeclaim/{claim_name}{node_part}")


def create_nodeclaim(deps: Deps, claim: scheduler.PlannedClaim, nodepool: Obj, reason: str) -> Obj:
    """Write a NodeClaim for a planned claim (requirements incl. the ≤60 price-ordered instance types)."""
    tpl = claim.template
    names = [deps.table.names[i] for i in claim.options]
    reqs = claim.requirements.without(rq.HOSTNAME).add(
        rq.Requirement(rq.INSTANCE_TYPE, False, frozenset(names)))
    own = templates.pool_requirements(nodepool)
    scoped = reqs.get(rq.CAPACITY_RESERVATION_ID)
    if scoped is not None and scoped.complement and rq.CAPACITY_RESERVATION_ID not in own:
        reqs = reqs.without(rq.CAPACITY_RESERVATION_ID)  # the simulation's per-EC2NodeClass scope, not a requirement
    pool_spec = nodepool["spec"]["template"].get("spec") or {}
    labels = {**tpl.labels, rq.NODEPOOL: tpl.nodepool,
              rq.NODECLASS: (pool_spec.get("nodeClassRef") or {}).get("name", "default")}
    labels.update(reqs.labels())
    spec: dict[str, Any] = {"nodeClassRef": pool_spec.get("nodeClassRef") or {},
                            "requirements": _requirements_in_order(reqs, names),
                            "resources": {"requests": claim.requests.to_k8s()},
                            "expireAfter": pool_spec.get("expireAfter", "720h")}
    if tpl.taints:
        spec["taints"] = [t.to_k8s() for t in tpl.taints]
    if tpl.startup_taints:
        spec["startupTaints"] = [t.to_k8s() for t in tpl.startup_taints]
    if pool_spec.get("terminationGracePeriod"):
        spec["terminationGracePeriod"] = pool_spec["terminationGracePeriod"]
    obj = deps.store.create({
        "apiVersion": "karpenter.sh/v1", "kind": "NodeClaim",
        "metadata": {"generateName": f"{tpl.nodepool}-", "labels": labels,
                     "annotations": {templates.NODEPOOL_HASH: templates.nodepool_hash(nodepool),
                                     templates.NODEPOOL_HASH_VERSION: templates.HASH_VERSION,
                                     nodeclaim_disruption.NODECLASS_HASH: nodeclaim_disruption.nodeclass_hash(
                                         deps.store.try_get("EC2NodeClass",
                                                            (pool_spec.get("nodeClassRef") or {}).get("name", "")))},
                     "finalizers": ["karpenter.sh/termination"],
                     "ownerReferences": [{"apiVersion": "karpenter.sh/v1", "kind": "NodePool",
                                          "name": tpl.nodepool, "uid": nodepool["metadata"]["uid"],
                                          "blockOwnerDeletion": True}]},
        "spec": spec, "status": {}})
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} other(s)" if len(names) > 5 else "")
    deps.recorder.log(NAME, "created nodeclaim", NodePool={"name": tpl.nodepool},
                      NodeClaim={"name": obj["metadata"]["name"]}, requests=claim.requests.to_k8s(),
                      **{"instance-types": shown})
    deps.recorder.decide("nodeclaim", f"created {obj['metadata']['name']} for {len(claim.pods)} pod(s)",
                         nodeclaim=obj["metadata"]["name"], nodepool=tpl.nodepool, pods=[p.key for p in claim.pods],
                         cheapest=names[:5], options=len(names))
    deps.recorder.count("karpenter_nodeclaims_created_total", reason=reason, nodepool=tpl.nodepool)
    deps.enqueue("nodeclaim", obj["metadata"]["name"], None)
    return obj


def _requirements_in_order(reqs: rq.Requirements, names: list[str]) -> list[dict[str, Any]]:
    """Requirements sorted by key; the instance-type values keep Karpenter's price order."""
    out = reqs.to_k8s()
    for r in out:
        if r["key"] == rq.INSTANCE_TYPE:
            r["values"] = list(names)
    return out
