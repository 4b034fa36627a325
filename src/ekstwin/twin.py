"""Step through Karpenter's decisions from Python: ``Twin.from_scenario(path)``.

A ``Twin`` is a built world whose simulated time only moves when you call ``advance``. Every controller
(workloads, kube-scheduler, kubelet, Karpenter's provisioner, NodeClaim lifecycle, disruption,
termination) keeps running as time advances, exactly as in ``ekstwin run``; ``provision_once`` and
``disrupt_once`` force one pass of Karpenter's provisioner or disruption controller *now*, without
waiting for its batch window or polling interval.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ekstwin.autoscaling.karpenter.disruption.types import Command
from ekstwin.controllers import disruption, provisioner
from ekstwin.controllers.base import Obj
from ekstwin.errors import InvalidInput
from ekstwin.model.pod import is_control_plane
from ekstwin.scenario import loader
from ekstwin.scenario.run import _PLURAL_KIND, schedule_timeline
from ekstwin.scenario.world import World, build
from ekstwin.store import indexes


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


class Twin:
    """A simulated cluster you drive step by step. Build one with ``Twin.from_scenario``."""

    def __init__(self, world: World) -> None:
        self.world = world

    @classmethod
    def from_scenario(cls, path: str, seed: int | None = None) -> Twin:
        """Load and build the scenario at t=0 (initial objects applied and adopted, timeline scheduled).

        Raises:
            InvalidScenario: the file does not load or its objects cannot be adopted.
        """
        world = build(loader.load_scenario(path), seed)
        schedule_timeline(world)
        return cls(world)

    @property
    def now(self) -> float:
        """Simulated seconds since t=0."""
        return self.world.driver.now()

    def advance(self, seconds: float) -> None:
        """Run every controller and timeline step for ``seconds`` of simulated time."""
        if seconds < 0:
            raise InvalidInput("must be >= 0", field="seconds")
        self.world.driver.run_until(self.now + seconds)

    def provision_once(self) -> ProvisionPass:
        """One Karpenter provisioning pass over the pods pending now.

        1. Settle the current instant: every controller runs what is due at ``now`` (so Deployments have
           their pods and kube-scheduler has tried them).
        2. Take the pending pods Karpenter provisions for — unbound, not deleting, not nominated, not
           DaemonSet or static pods — plus the pods of nodes being disrupted.
        3. Solve them against the NodePools and the existing and in-flight nodes, create the NodeClaims
           the solution needs and nominate the pods placed on existing nodes (as the provisioner does).
        4. Settle ``now`` again: each new NodeClaim's CreateFleet call is made at once. The instance
           answers a second or two later, registers and becomes Ready tens of seconds later, so the
           launch, registration and initialization, and kube-scheduler binding the pods, happen during
           the following ``advance`` calls. No pod is bound by this pass itself: binding is
           kube-scheduler's job, as in a real cluster.
        """
        now = self.now
        driver, deps = self.world.driver, self.world.deps
        driver.run_until(now)
        deps.ec2.due(now)
        pods = [p for p in deps.store.by_index("Pod", indexes.POD_NODE_NAME, "") if _pending(p)]
        pods += provisioner.reschedulable_on_going_nodes(deps)
        if not pods:
            return ProvisionPass([], [])
        before = {c["metadata"]["name"] for c in deps.store.list("NodeClaim")}
        result = provisioner.provision(deps, pods, now)
        created = sorted(c["metadata"]["name"] for c in deps.store.list("NodeClaim")
                         if c["metadata"]["name"] not in before)
        driver.run_until(now)
        return ProvisionPass(pods=[f"{p['metadata'].get('namespace', 'default')}/{p['metadata']['name']}"
                                   for p in pods], nodeclaims=created,
                             nominated={n: [i.key for i in infos] for n, infos in result.existing.items()},
                             unschedulable=dict(result.errors))

    def disrupt_once(self) -> Command | None:
        """One disruption pass now: the first command Karpenter's methods find, started as Karpenter does
        (drift at once; consolidation after its 15 s validation, during a later ``advance``), or None."""
        now = self.now
        self.world.driver.run_until(now)
        cmd = disruption.run_pass(self.world.deps, now)
        self.world.driver.run_until(now)
        return cmd

    def objects(self, kind: str) -> list[dict[str, Any]]:
        """The current objects of ``kind`` (``Node`` or ``nodes``, ``Pod`` or ``pods``, ...)."""
        return self.world.store.list(_PLURAL_KIND.get(kind.lower(), kind))

    def decisions(self) -> list[dict[str, Any]]:
        """Every decision so far (launches, registrations, provisioning, disruption...), each with its reason."""
        return list(self.world.deps.recorder.decisions)


def _pending(pod: Obj) -> bool:
    """Unbound and waiting: what a provisioning pass takes (kube-scheduler's verdict not awaited)."""
    meta = pod["metadata"]
    if is_control_plane(pod) or meta.get("deletionTimestamp"):
        return False
    if (pod.get("status") or {}).get("phase", "Pending") != "Pending":
        return False
    if (pod.get("status") or {}).get("nominatedNodeName"):
        return False
    if any(o.get("kind") in ("DaemonSet", "Node") for o in meta.get("ownerReferences") or ()):
        return False
    return provisioner.is_provisionable(pod) or not any(
        c.get("type") == "PodScheduled" for c in (pod.get("status") or {}).get("conditions") or ())
