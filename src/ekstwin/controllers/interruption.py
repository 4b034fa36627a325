"""Karpenter's interruption controller (AWS provider): act on EC2's spot notices.

Karpenter reads EventBridge messages from an SQS queue; here the queue is the EC2 emulator's notices, polled
exactly when the next one is due (``EC2.next_notice_at``). For each notice the instance's NodeClaim (and Node,
if registered) is found by provider id, and, as Karpenter does:

* an event is published on both: ``SpotInterrupted`` / ``SpotRebalanceRecommendation`` /
  ``InstanceTerminating``;
* a spot interruption warning marks the (spot, type, zone) offering unavailable for 3 minutes, so the
  replacement is launched from another pool;
* a warning or a reclaim (instance state change) deletes the NodeClaim unless it is already deleting
  (``TerminatingOnInterruption``); a rebalance recommendation does nothing more. Deleting the NodeClaim starts
  the normal termination path; the evicted pods go pending and normal provisioning replaces the capacity.

The controller has no object of its own: one key, woken by NodeClaim changes (a spot launch may plan a new
notice) and by ``interrupt`` (a forced interruption), and requeued for the next notice.
"""

from __future__ import annotations

from typing import Any

from ekstwin.cloud.spot import INSTANCE_TERMINATED, REBALANCE_RECOMMENDATION, SPOT_INTERRUPTED, Interruption, Notice
from ekstwin.controllers.base import Deps, Obj
from ekstwin.controllers.nodeclaim import ICE_TTL_S
from ekstwin.model import requirements as rq
from ekstwin.sim import driver
from ekstwin.sim.reconcile import Result
from ekstwin.store import indexes

NAME = "interruption"
KEY = "queue"
CORDON_AND_DRAIN = "CordonAndDrain"
NO_ACTION = "NoAction"

# kind → (event reason, event type, message on the NodeClaim, message on the Node), Karpenter's texts.
_EVENTS = {
    SPOT_INTERRUPTED: ("SpotInterrupted", "Warning", "Spot interruption warning was triggered",
                       "Spot interruption warning was triggered"),
    REBALANCE_RECOMMENDATION: ("SpotRebalanceRecommendation", "Normal", "Spot rebalance recommendation was triggered",
                               "Spot rebalance recommendation was triggered"),
    INSTANCE_TERMINATED: ("InstanceTerminating", "Warning", "Instance is terminating", "Instance is terminating"),
}
_ACTIONS = {SPOT_INTERRUPTED: CORDON_AND_DRAIN, INSTANCE_TERMINATED: CORDON_AND_DRAIN,
            REBALANCE_RECOMMENDATION: NO_ACTION}
_TERMINATING = ("TerminatingOnInterruption", "Warning", "Interruption triggered termination for the NodeClaim",
                "Interruption triggered termination for the Node")

WATCHES = [driver.Watch("NodeClaim", lambda ev: KEY)]


def reconcile(deps: Deps, key: str, now: float) -> Result:
    """Handle every notice EC2 has sent by ``now``; requeue for the next one."""
    del key  # one queue
    for notice in deps.ec2.notices(now):
        _handle(deps, notice, now)
    nxt = deps.ec2.next_notice_at()
    return Result() if nxt is None else Result(requeue_after=max(0.0, nxt - now))


def interrupt(deps: Deps, now: float, instance_id: str, at: float | None = None) -> Interruption:
    """Force a spot interruption of ``instance_id`` (``EC2.interrupt``) and wake the controller for it.

    Raises:
        CloudError: unknown instance.
        InvalidInput: not an interruptible spot instance, or ``at`` in the past.
    """
    plan = deps.ec2.interrupt(now, instance_id, at)
    deps.enqueue(NAME, KEY, plan.rebalance_at)
    return plan


def _queue(deps: Deps) -> str:
    # Karpenter's getting-started guide names the interruption queue after the cluster.
    return deps.settings.cluster_name


def _handle(deps: Deps, notice: Notice, now: float) -> None:
    deps.recorder.count("karpenter_interruption_received_messages_total", message_type=notice.kind)
    claim = _claim_of(deps, notice.instance_id)
    if claim is not None:
        node = _node_of(deps, claim)
        _notify(deps, notice.kind, claim, node)
        if notice.kind == SPOT_INTERRUPTED:
            _mark_unavailable(deps, claim, now)
        if _ACTIONS[notice.kind] != NO_ACTION:
            _delete(deps, notice.kind, claim, node)
    # Karpenter deletes each message from the queue once handled, matched or not.
    deps.recorder.count("karpenter_interruption_deleted_messages_total")


def _claim_of(deps: Deps, instance_id: str) -> Obj | None:
    provider_id = deps.ec2.get(instance_id).provider_id
    claims = deps.store.by_index("NodeClaim", indexes.CLAIM_PROVIDER_ID, provider_id)
    return claims[0] if claims else None


def _node_of(deps: Deps, claim: Obj) -> Obj | None:
    nodes = deps.store.by_index("Node", indexes.NODE_PROVIDER_ID, claim["status"]["providerID"])
    return nodes[0] if nodes else None


def _publish(deps: Deps, event: tuple[str, str, str, str], claim: Obj, node: Obj | None) -> None:
    reason, type_, on_claim, on_node = event
    deps.recorder.event(claim, type_, reason, on_claim)
    if node is not None:
        deps.recorder.event(node, type_, reason, on_node)


def _notify(deps: Deps, kind: str, claim: Obj, node: Obj | None) -> None:
    _publish(deps, _EVENTS[kind], claim, node)


def _mark_unavailable(deps: Deps, claim: Obj, now: float) -> None:
    """Put the interrupted (spot, type, zone) pool in the unavailable-offerings cache for 3 minutes."""
    labels = claim["metadata"].get("labels") or {}
    itype, zone = labels.get(rq.INSTANCE_TYPE, ""), labels.get(rq.ZONE, "")
    if not itype or not zone:
        return  # Karpenter skips the marking when the NodeClaim lacks either label
    cache: dict[tuple[str, str, str], float] = deps.state.setdefault("ice", {})
    cache[("spot", itype, zone)] = now + ICE_TTL_S


def _delete(deps: Deps, kind: str, claim: Obj, node: Obj | None) -> None:
    meta = claim["metadata"]
    if meta.get("deletionTimestamp"):
        return
    deps.store.delete("NodeClaim", meta["name"])
    labels = meta.get("labels") or {}
    fields: dict[str, Any] = {"queue": _queue(deps), "messageKind": kind, "NodeClaim": {"name": meta["name"]},
                                 "action": _ACTIONS[kind]}
    if node is not None:
        fields["Node"] = {"name": node["metadata"]["name"]}
    deps.recorder.log(NAME, "initiating delete from interruption message", **fields)
    _publish(deps, _TERMINATING, claim, node)
    deps.recorder.count("karpenter_nodeclaims_disrupted_total", reason=kind,
                        nodepool=labels.get(rq.NODEPOOL, ""), capacity_type=labels.get(rq.CAPACITY_TYPE, ""))
