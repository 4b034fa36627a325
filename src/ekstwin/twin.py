"""Step through Karpenter's decisions from Python: ``Twin.from_scenario(path)``.

A ``Twin`` is a built world whose simulated time only moves when you call ``advance``. Every controller
(workloads, kube-scheduler, kubelet, Karpenter's provisioner, NodeClaim lifecycle, disruption,
termination) keeps running as time advances, exactly as in ``ekstwin run``; ``provision_once`` and
``disrupt_once`` force one pass of Karpenter's provisioner or disruption controller *now*, without
waiting for its batch window or polling interval. The passes are ``scenario.steps``'s, which the timeline
actions ``provision`` and ``disrupt`` run too, so a scenario script and these calls decide alike.
"""

from __future__ import annotations

import math
from typing import Any

from ekstwin.autoscaling.karpenter.disruption.types import Command
from ekstwin.errors import InvalidInput
from ekstwin.scenario import loader, steps
from ekstwin.scenario.config import DEFAULT_WAIT_TIMEOUT_S
from ekstwin.scenario.run import _PLURAL_KIND, schedule_timeline
from ekstwin.scenario.steps import ProvisionPass
from ekstwin.scenario.world import World, build

__all__ = ["ProvisionPass", "Twin"]


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

    def provision_once(self, wait: bool = False, timeout: float = DEFAULT_WAIT_TIMEOUT_S) -> ProvisionPass:
        """One Karpenter provisioning pass over the pods pending now (``scenario.steps.provision``).

        The pass settles the current instant (every controller runs what is due now), solves the pending
        pods against the NodePools and the existing and in-flight nodes, creates the NodeClaims and
        nominations, and settles again so each new NodeClaim's CreateFleet call is made now. Launch,
        registration, initialization and kube-scheduler binding the pods happen during the following
        ``advance`` calls; the pass binds no pod itself. The timeline action ``provision`` does the same.

        With ``wait=True`` the pass then advances simulated time itself (every controller and timeline step
        runs, as in ``advance``) until each NodeClaim it created is Initialized or gone and each pod it placed
        is bound, or ``timeout`` simulated seconds have passed; checked every second, so ``now`` ends on the
        first whole second after the pass where that holds. The result then has ``waited_s``, ``bound``,
        ``not_ready``, ``failed`` and ``timed_out``. The timeline action ``provision: {wait: true}`` does the
        same.

        Raises:
            InvalidInput: ``timeout`` is negative or not finite.
        """
        by = "Twin.provision_once()"
        if not wait:
            return steps.provision(self.world, by=by)
        if not 0 <= timeout < math.inf:
            raise InvalidInput(f"must be >= 0 and finite, got {timeout!r}", field="timeout")
        results: list[ProvisionPass] = []
        waiting = steps.provision_waiting(self.world, by, timeout, results.append)
        steps.wait_here(self.world, waiting)
        return results[0]

    def disrupt_once(self) -> Command | None:
        """One disruption pass now: the first command Karpenter's methods find, started as Karpenter does
        (drift at once; consolidation after its 15 s validation, during a later ``advance``), or None.
        The timeline action ``disrupt`` does the same (``scenario.steps.disrupt``)."""
        return steps.disrupt(self.world, by="Twin.disrupt_once()")

    def objects(self, kind: str) -> list[dict[str, Any]]:
        """The current objects of ``kind`` (``Node`` or ``nodes``, ``Pod`` or ``pods``, ...)."""
        return self.world.store.list(_PLURAL_KIND.get(kind.lower(), kind))

    def decisions(self) -> list[dict[str, Any]]:
        """Every decision so far (launches, registrations, provisioning, disruption...), each with its reason."""
        return list(self.world.deps.recorder.decisions)

