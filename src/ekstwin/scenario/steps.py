"""Forced Karpenter passes: one provisioning or one disruption pass *now*.

The step API (``Twin.provision_once`` / ``Twin.disrupt_once``) and the timeline actions ``provision`` and
``disrupt`` both call these, so a script makes the same decisions whichever way it is driven. A forced pass
runs the controllers' own code (``provisioner.provision``, ``disruption.run_pass``) without waiting for the
provisioner's batch window or the disruption controller's next poll, and leaves a decision record
(``forced-provisioning`` / ``forced-disruption``) saying who forced it and what it did.

A pass settles its instant before it looks at the cluster: everything due at ``now`` runs first, so
Deployments have their pods and kube-scheduler has tried them, as if the pass were the last thing to happen
at that instant. It settles again afterwards, so a new NodeClaim's CreateFleet call is made at once. A
timeline step already runs inside the driver's loop; the nested ``run_until(now)`` is safe because the
kernel looks at its heap again after every entry, and ``run.schedule_timeline`` holds back the timeline
steps that follow a pass at the same instant, so settling cannot run them before the pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ekstwin.autoscaling.karpenter.disruption.types import Command
from ekstwin.controllers import disruption, provisioner
from ekstwin.controllers.base import Obj, condition
from ekstwin.model.pod import is_control_plane
from ekstwin.scenario.world import World
from ekstwin.store import indexes

PASSES = ("provision", "disrupt")
"""Timeline actions that force a pass (``run.schedule_timeline`` orders the steps around them)."""


@dataclass(frozen=True)
class ProvisionPass:
    """What one provisioning pass decided."""

    pods: list[str]
    """``namespace/name`` of the pods the pass considered."""
    nodeclaims: list[str]
    """Names of the NodeClaims it created."""
    nominated: dict[str, list[str]] = field(default_factory=dict)
    """Existing or in-flight node (or NodeClaim) → pods the simulation placed there."""
    unschedulable: dict[str, str] = field(default_factory=dict)
    """Pod → why no NodePool could take it."""


def provision(world: World, by: str) -> ProvisionPass:
    """One Karpenter provisioning pass over the pods pending now, forced by ``by`` (recorded).

    1. Settle the current instant.
    2. Take the pending pods Karpenter provisions for — unbound, not deleting, not nominated, not
       DaemonSet or static pods — plus the pods of nodes being disrupted.
    3. Solve them against the NodePools and the existing and in-flight nodes, create the NodeClaims
       the solution needs and nominate the pods placed on existing nodes (``provisioner.provision``).
    4. Settle again: each new NodeClaim's CreateFleet call is made now. Launch, registration,
       initialization and kube-scheduler binding the pods happen as simulated time moves on; the pass
       binds no pod itself (binding is kube-scheduler's job, as in a real cluster).
    """
    driver, deps = world.driver, world.deps
    now = driver.now()
    driver.run_until(now)
    deps.ec2.due(now)  # instance states current at `now`, as the NodeClaim controller keeps them
    pods = [p for p in deps.store.by_index("Pod", indexes.POD_NODE_NAME, "") if _pending(p)]
    pods += provisioner.reschedulable_on_going_nodes(deps)
    done = ProvisionPass([], [])
    if pods:
        before = {c["metadata"]["name"] for c in deps.store.list("NodeClaim")}
        result = provisioner.provision(deps, pods, now)
        created = sorted(c["metadata"]["name"] for c in deps.store.list("NodeClaim")
                         if c["metadata"]["name"] not in before)
        done = ProvisionPass(pods=[f"{p['metadata'].get('namespace', 'default')}/{p['metadata']['name']}"
                                   for p in pods], nodeclaims=created,
                             nominated={n: [i.key for i in infos] for n, infos in result.existing.items()},
                             unschedulable=dict(result.errors))
    _record_provisioning(world, by, done)
    driver.run_until(now)
    return done


def disrupt(world: World, by: str) -> Command | None:
    """One disruption pass now, forced by ``by`` (recorded): the command it started, or None.

    The command starts as Karpenter starts it: drift at once, consolidation after its 15 s validation
    (which the disruption controller's loop performs when simulated time reaches it). A command the loop
    already found and that still waits for its validation is returned as it is.
    """
    now = world.driver.now()
    world.driver.run_until(now)
    outcome = disruption.run_pass(world.deps, now)
    _record_disruption(world, by, outcome)
    world.driver.run_until(now)
    return outcome.command


def _pending(pod: Obj) -> bool:
    """Unbound and waiting: what a provisioning pass takes. kube-scheduler's verdict is not awaited (a pod it
    has not tried yet counts); a pod it marked for another reason than Unschedulable (e.g. gated) does not."""
    if is_control_plane(pod) or (pod.get("status") or {}).get("phase", "Pending") != "Pending":
        return False
    untried = condition(pod, "PodScheduled") is None
    return provisioner.awaits_node(pod) and (untried or provisioner.is_unschedulable(pod))


def _record_provisioning(world: World, by: str, done: ProvisionPass) -> None:
    if not done.pods:
        world.deps.recorder.decide("forced-provisioning", "forced provisioning pass: no pending pods", by=by)
        return
    placed = sum(len(v) for v in done.nominated.values())
    world.deps.recorder.decide(
        "forced-provisioning",
        f"forced provisioning pass: {len(done.pods)} pod(s): {len(done.nodeclaims)} new nodeclaim(s), "
        f"{placed} nominated to existing/in-flight nodes, {len(done.unschedulable)} unschedulable",
        # copies: the caller gets ``done`` and may change it; the record must not change with it
        by=by, nodeclaims=list(done.nodeclaims), nominated={n: list(p) for n, p in done.nominated.items()},
        unschedulable=dict(done.unschedulable))


def _record_disruption(world: World, by: str, outcome: disruption.PassOutcome) -> None:
    cmd, notes = outcome.command, outcome.notes
    fields: dict[str, Any] = {"by": by, "status": outcome.status}
    if cmd is None:
        message = f"forced disruption pass: no command ({len(notes.candidates)} candidate(s))"
        fields["candidates"] = list(notes.candidates)
        fields["verdicts"] = dict(notes.verdicts)
    else:
        if outcome.status == "executed":
            started = "started at once"
        elif outcome.status == "validating":
            started = f"validating until t={outcome.validate_at:g}s, then executed if still valid"
        else:
            started = f"is the controller's own command, validating until t={outcome.validate_at:g}s"
        message = (f"forced disruption pass: {cmd.method} command ({cmd.reason}, {cmd.decision} "
                   f"{len(cmd.candidates)} node(s)) {started}")
        fields.update(method=cmd.method, reason=cmd.reason, decision=cmd.decision,
                      nodes=[c.node for c in cmd.candidates], planned_replacements=len(cmd.replacements),
                      why=cmd.message)
    world.deps.recorder.decide("forced-disruption", message, **fields)
