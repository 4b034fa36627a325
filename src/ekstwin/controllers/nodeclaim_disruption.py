"""Karpenter's per-NodeClaim disruption bookkeeping: pod events, Consolidatable, Drifted, expiration.

* ``status.lastPodEventTime`` is set when a non-daemon pod is bound to the node, or a pod on it starts
  terminating, goes terminal or is removed; writes within 10 s of the last one are skipped.
* ``Consolidatable`` (v1): consolidateAfter ≠ Never and the NodeClaim Initialized; True once
  ``now − (lastPodEventTime, else the Initialized transition) ≥ consolidateAfter``.
* ``Drifted``: ``NodePoolDrifted`` when the NodePool template hash differs from the one the NodeClaim was
  created with, ``RequirementsDrifted`` when its labels no longer satisfy the pool's requirements,
  ``NodeClassDrifted`` when the EC2NodeClass spec changed, ``CapacityReservationDrift`` when the instance is in a
  capacity reservation its EC2NodeClass no longer selects (ReservedCapacity on). Re-checked whenever the pool or
  class changes
  (Karpenter also re-checks every 5 minutes for what it cannot watch; in the twin everything is watched).
* Expiration (v1, forceful): at ``creationTimestamp + expireAfter`` the NodeClaim is deleted, no budgets.
"""

from __future__ import annotations

from typing import Any

from ekstwin.autoscaling.karpenter import templates
from ekstwin.controllers import capacity_reservations
from ekstwin.controllers.base import Deps, Obj, condition, is_true, with_condition
from ekstwin.model import requirements as rq
from ekstwin.sim import driver
from ekstwin.sim.reconcile import Result, result_min
from ekstwin.store import indexes
from ekstwin.store.watch import WatchEvent
from ekstwin.units.durations import parse_duration

NAME = "nodeclaim.disruption"
POD_EVENT_DEDUP_S = 10.0
NODECLASS_HASH = "karpenter.k8s.aws/ec2nodeclass-hash"
TERMINAL = ("Succeeded", "Failed")
_POD_ON = "pod-on:"
_POOL = "pool:"


def _pod_event(ev: WatchEvent) -> str | None:
    """A bind, start of termination, terminal phase or removal of a non-daemon pod on a node."""
    pod, old = ev.obj, ev.old
    if any(o.get("kind") == "DaemonSet" for o in pod["metadata"].get("ownerReferences") or ()):
        return None
    node = str((pod.get("spec") or {}).get("nodeName") or "")
    if not node:
        return None
    if ev.type in ("ADDED", "DELETED") or old is None:
        return _POD_ON + node
    was_bound = bool((old.get("spec") or {}).get("nodeName"))
    started_deleting = bool(pod["metadata"].get("deletionTimestamp")) and not old["metadata"].get("deletionTimestamp")
    went_terminal = ((pod.get("status") or {}).get("phase") in TERMINAL
                     and (old.get("status") or {}).get("phase") not in TERMINAL)
    return _POD_ON + node if (not was_bound or started_deleting or went_terminal) else None


WATCHES = [driver.Watch("NodeClaim", driver.by_object), driver.Watch("Pod", _pod_event),
           driver.Watch("NodePool", lambda ev: _POOL + ev.obj["metadata"]["name"]),
           driver.Watch("EC2NodeClass", lambda ev: _POOL + "*")]


def reconcile(deps: Deps, key: str, now: float) -> Result:
    """Dispatch: pod events stamp lastPodEventTime; pool/class changes re-check every claim's drift."""
    if key.startswith(_POD_ON):
        for c in deps.store.by_index("NodeClaim", indexes.CLAIM_NODE_NAME, key[len(_POD_ON):]):
            _stamp_pod_event(deps, c, now)
        return Result()
    if key.startswith(_POOL):
        pool_name = key[len(_POOL):]
        for c in deps.store.list("NodeClaim"):
            if pool_name == "*" or (c["metadata"].get("labels") or {}).get(rq.NODEPOOL) == pool_name:
                deps.enqueue(NAME, c["metadata"]["name"], None)
        return Result()
    claim = deps.store.try_get("NodeClaim", key)
    if claim is None or claim["metadata"].get("deletionTimestamp"):
        return Result()
    expiry = _expire(deps, claim, now)
    if expiry is None:
        return Result()
    pool = deps.store.try_get("NodePool", (claim["metadata"].get("labels") or {}).get(rq.NODEPOOL, ""))
    results = [expiry, _consolidatable(deps, claim, pool, now)]
    claim = deps.store.get("NodeClaim", key)
    results.append(_drift(deps, claim, pool))
    return result_min(*results)


def _stamp_pod_event(deps: Deps, claim: Obj, now: float) -> None:
    st = claim.get("status") or {}
    last = st.get("lastPodEventTime")
    if last and now - deps.store.parse_time(last) < POD_EVENT_DEDUP_S:
        return
    deps.store.update_status({**claim, "status": {**st, "lastPodEventTime": deps.store.format_time()}})


def duration_or_never(text: Any) -> float | None:
    """Seconds of a Karpenter duration; None for "Never" (or absent)."""
    if text is None or str(text) == "Never":
        return None
    return parse_duration(str(text))


def _expire(deps: Deps, claim: Obj, now: float) -> Result | None:
    """Delete an expired NodeClaim (None: it is gone); otherwise requeue at its expiry."""
    expire_after = duration_or_never(claim["spec"].get("expireAfter"))
    if expire_after is None:
        return Result()
    expires_at = deps.store.parse_time(claim["metadata"]["creationTimestamp"]) + expire_after
    if now < expires_at:
        return Result(requeue_after=expires_at - now)
    labels = claim["metadata"].get("labels") or {}
    deps.recorder.count("karpenter_nodeclaims_disrupted_total", reason="expired",
                        nodepool=labels.get(rq.NODEPOOL, ""), capacity_type=labels.get(rq.CAPACITY_TYPE, ""))
    deps.recorder.decide("expiration", f"{claim['metadata']['name']} expired after {claim['spec']['expireAfter']}",
                         nodeclaim=claim["metadata"]["name"], node=(claim.get("status") or {}).get("nodeName"))
    deps.store.delete("NodeClaim", claim["metadata"]["name"])
    return None


def consolidate_after(pool: Obj | None) -> float | None:
    """The pool's consolidateAfter in seconds (None = Never, or no pool)."""
    if pool is None:
        return None
    return duration_or_never((pool["spec"].get("disruption") or {}).get("consolidateAfter", "0s"))


def _consolidatable(deps: Deps, claim: Obj, pool: Obj | None, now: float) -> Result:
    after = consolidate_after(pool)
    init = condition(claim, "Initialized")
    if after is None or init is None or init.get("status") != "True":
        if is_true(claim, "Consolidatable"):
            deps.store.update_status(with_condition(claim, "Consolidatable", "False", deps.store.format_time(),
                                                    "NotConsolidatable"))
        return Result()
    last = (claim.get("status") or {}).get("lastPodEventTime") or init["lastTransitionTime"]
    due = deps.store.parse_time(last) + after
    ready = now >= due
    if ready != is_true(claim, "Consolidatable"):
        deps.store.update_status(with_condition(claim, "Consolidatable", "True" if ready else "False",
                                                deps.store.format_time(), "Consolidatable" if ready else
                                                "NotConsolidatable"))
    return Result() if ready else Result(requeue_after=due - now)


_NODECLASS_HASH_IGNORED = ("capacityReservationSelectorTerms",)  # hash:"ignore" in the EC2NodeClass API


def nodeclass_hash(nodeclass: Obj | None) -> str:
    """Hash of an EC2NodeClass spec (drift when it changes)."""
    if nodeclass is None:
        return ""
    spec = {k: v for k, v in (nodeclass.get("spec") or {}).items() if k not in _NODECLASS_HASH_IGNORED}
    return templates.nodepool_hash({"spec": {"template": {"spec": spec}}})


def drift_reason(deps: Deps, claim: Obj, pool: Obj | None) -> str | None:
    """Why the NodeClaim drifted from its NodePool/EC2NodeClass, or None."""
    if pool is None or not (claim.get("status") or {}).get("providerID"):
        return None
    ann = claim["metadata"].get("annotations") or {}
    if ann.get(templates.NODEPOOL_HASH_VERSION) == templates.HASH_VERSION and \
            ann.get(templates.NODEPOOL_HASH) != templates.nodepool_hash(pool):
        return "NodePoolDrifted"
    labels = claim["metadata"].get("labels") or {}
    reqs = templates.pool_requirements(pool)
    if not all(rq.matches_label(r, labels) for r in reqs.values()):
        return "RequirementsDrifted"
    ref = (pool["spec"]["template"].get("spec") or {}).get("nodeClassRef") or {}
    nodeclass = deps.store.try_get("EC2NodeClass", ref.get("name", ""))
    if NODECLASS_HASH in ann and ann[NODECLASS_HASH] != nodeclass_hash(nodeclass):
        return "NodeClassDrifted"
    return _reservation_drift(deps, claim, nodeclass)


def _reservation_drift(deps: Deps, claim: Obj, nodeclass: Obj | None) -> str | None:
    """Karpenter's ``CapacityReservationDrift``: the instance holds a slot of a reservation the EC2NodeClass no
    longer selects (checked dynamically, from the instance, so a fallback to on-demand never drifts)."""
    if not deps.catalog.reservations or not capacity_reservations.enabled(deps):
        return None
    held = deps.ec2.reservations.holder_of(str(claim["status"]["providerID"]).rsplit("/", 1)[-1])
    if held is None or held in {r.id for r in capacity_reservations.selected(deps, nodeclass)}:
        return None
    return "CapacityReservationDrift"


def _drift(deps: Deps, claim: Obj, pool: Obj | None) -> Result:
    reason = drift_reason(deps, claim, pool)
    current = condition(claim, "Drifted")
    if reason is not None and (current is None or current.get("status") != "True" or current.get("reason") != reason):
        deps.store.update_status(with_condition(claim, "Drifted", "True", deps.store.format_time(), reason))
        deps.recorder.decide("drift", f"{claim['metadata']['name']} drifted: {reason}",
                             nodeclaim=claim["metadata"]["name"], node=(claim.get("status") or {}).get("nodeName"))
    elif reason is None and current is not None and current.get("status") == "True":
        deps.store.update_status(with_condition(claim, "Drifted", "False", deps.store.format_time(), "NotDrifted"))
    return Result()
