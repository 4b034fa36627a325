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

A provisioning pass may also *wait* (``provision_waiting``): it then lets simulated time run, every
controller with it, until the NodeClaims it created are Initialized (or gone) and the pods it placed are
bound, or a timeout passes. The wait is a check scheduled on the driver every second, not a loop of its
own, so it works the same inside ``ekstwin run``, ``ekstwin serve`` and the Python step API, and it never
moves the clock past what the caller asked for (a run that ends first simply ends).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from ekstwin.autoscaling.karpenter.disruption.types import Command
from ekstwin.controllers import disruption, provisioner
from ekstwin.controllers.base import Obj, condition, is_true
from ekstwin.model.pod import is_control_plane
from ekstwin.scenario.world import World
from ekstwin.store import indexes

WAIT_STEP_S = 1.0
"""How often a waiting pass checks: node launch takes tens of seconds, so 1 s is exact enough and cheap."""

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
    placed: list[str] = field(default_factory=list)
    """Pods the pass placed (on its new NodeClaims or nominated onto existing/in-flight nodes)."""
    waited_s: float | None = None
    """Simulated seconds the pass waited afterwards, or None when it did not wait."""
    bound: dict[str, str] = field(default_factory=dict)
    """After a wait: each placed pod bound by then → its node."""
    not_ready: list[str] = field(default_factory=list)
    """After a wait: the pass's NodeClaims that exist but are not Initialized (only when it timed out)."""
    failed: list[str] = field(default_factory=list)
    """After a wait: the pass's NodeClaims deleted before they were Initialized (e.g. launch failed)."""
    timed_out: bool = False
    """After a wait: the timeout stopped it before every NodeClaim was Initialized and every placed pod bound."""


def provision(world: World, by: str, *, wait: bool = False) -> ProvisionPass:
    """One Karpenter provisioning pass over the pods pending now, forced by ``by`` (recorded).

    1. Settle the current instant.
    2. Take the pending pods Karpenter provisions for — unbound, not deleting, not nominated, not
       DaemonSet or static pods — plus the pods of nodes being disrupted.
    3. Solve them against the NodePools and the existing and in-flight nodes, create the NodeClaims
       the solution needs and nominate the pods placed on existing nodes (``provisioner.provision``).
    4. Settle again: each new NodeClaim's CreateFleet call is made now. Launch, registration,
       initialization and kube-scheduler binding the pods happen as simulated time moves on; the pass
       binds no pod itself (binding is kube-scheduler's job, as in a real cluster).

    ``wait`` is only recorded here; ``provision_waiting`` does the waiting.
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
                             unschedulable=dict(result.errors),
                             placed=[i.key for c in result.new_claims for i in c.pods]
                             + [i.key for infos in result.existing.values() for i in infos])
    _record_provisioning(world, by, done, wait)
    driver.run_until(now)
    return done


def provision_waiting(world: World, by: str, timeout: float, then: Callable[[ProvisionPass], None]) -> Waiting:
    """One provisioning pass now, then simulated time runs until it completes; ``then(result)`` is called at
    that instant, after everything else due then (``ProvisionPass`` with ``waited_s``, ``bound``...).

    Complete means: every NodeClaim the pass created is Initialized or gone, and every pod it placed is bound
    or gone. It stops at ``timeout`` simulated seconds otherwise (``timed_out``). Whoever drives the clock
    makes the time pass: the returned ``Waiting`` says when it checks next (``wait_here`` drives it itself).
    """
    done = provision(world, by, wait=True)
    waiting = Waiting(world, by, done, world.driver.now(), timeout, then)
    waiting.check()
    return waiting


def wait_here(world: World, waiting: Waiting) -> None:
    """Drive the clock until ``waiting`` completes (the Python step API: nothing else advances time)."""
    while waiting.result is None:
        world.driver.run_until(waiting.next_at)


class Waiting:
    """A provisioning pass waiting for its NodeClaims and pods; checks every ``WAIT_STEP_S`` until done."""

    def __init__(self, world: World, by: str, done: ProvisionPass, started: float, timeout: float,
                 then: Callable[[ProvisionPass], None]) -> None:
        self.world, self.by, self.done, self.started, self.then = world, by, done, started, then
        self.deadline = started + timeout
        self.next_at = started
        self.result: ProvisionPass | None = None

    def check(self) -> None:
        driver, store = self.world.driver, self.world.store
        now = driver.now()
        # settle first: the check (and what ``then`` does) is the last thing to happen at this instant, as
        # when a Python caller gets control back after ``run_until(now)``
        driver.run_until(now)
        claims = {n: store.try_get("NodeClaim", n) for n in self.done.nodeclaims}
        pods = {k: store.try_get("Pod", k.split("/", 1)[1], k.split("/", 1)[0]) for k in self.done.placed}
        not_ready = [n for n, c in claims.items() if c is not None and not is_true(c, "Initialized")]
        unbound = [k for k, p in pods.items() if p is not None and not p["spec"].get("nodeName")]
        if (not_ready or unbound) and now < self.deadline:
            self.next_at = min(self.deadline, now + WAIT_STEP_S)
            driver.schedule_callback(self.next_at, self.check)
            return
        self.result = replace(
            self.done, waited_s=now - self.started,
            bound={k: p["spec"]["nodeName"] for k, p in pods.items() if p is not None and p["spec"].get("nodeName")},
            not_ready=not_ready, failed=[n for n, c in claims.items() if c is None],
            timed_out=bool(not_ready or unbound))
        _record_wait(self.world, self.by, self.result)
        self.then(self.result)


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


def _record_provisioning(world: World, by: str, done: ProvisionPass, wait: bool) -> None:
    if not done.pods:
        world.deps.recorder.decide("forced-provisioning", "forced provisioning pass: no pending pods", by=by,
                                   wait=wait)
        return
    placed = sum(len(v) for v in done.nominated.values())
    world.deps.recorder.decide(
        "forced-provisioning",
        f"forced provisioning pass: {len(done.pods)} pod(s): {len(done.nodeclaims)} new nodeclaim(s), "
        f"{placed} nominated to existing/in-flight nodes, {len(done.unschedulable)} unschedulable",
        # copies: the caller gets ``done`` and may change it; the record must not change with it
        by=by, wait=wait, nodeclaims=list(done.nodeclaims),
        nominated={n: list(p) for n, p in done.nominated.items()}, unschedulable=dict(done.unschedulable))


def _record_wait(world: World, by: str, done: ProvisionPass) -> None:
    """The second record of a waiting pass, when it stops: how long it waited and what got bound."""
    assert done.waited_s is not None
    how = "timed out" if done.timed_out else "complete"
    ready = len(done.nodeclaims) - len(done.not_ready) - len(done.failed)
    world.deps.recorder.decide(
        "forced-provisioning",
        f"forced provisioning pass {how} after waiting {done.waited_s:g}s: {len(done.bound)}/{len(done.placed)} "
        f"placed pod(s) bound, {ready}/{len(done.nodeclaims)} nodeclaim(s) initialized",
        by=by, wait=True, waited_s=done.waited_s, timed_out=done.timed_out, bound=dict(done.bound),
        not_ready=list(done.not_ready), failed=list(done.failed))


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
