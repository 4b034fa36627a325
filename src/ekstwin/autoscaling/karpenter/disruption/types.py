"""Values of the disruption engine: candidates, commands and the reasons a node is left alone."""

from __future__ import annotations

from dataclasses import dataclass, field

from ekstwin.autoscaling.karpenter.budgets import DRIFTED, EMPTY, UNDERUTILIZED
from ekstwin.autoscaling.karpenter.scheduler import PlannedClaim
from ekstwin.model.pod import PodInfo
from ekstwin.units.resources import Resources

__all__ = ["DELETE", "DRIFTED", "EMPTY", "REPLACE", "UNDERUTILIZED", "Candidate", "Command", "Verdict"]
DELETE, REPLACE = "delete", "replace"


@dataclass(frozen=True)
class Candidate:
    """A node Karpenter may disrupt, with what the decision needs to know about it."""

    node: str
    nodeclaim: str
    nodepool: str
    instance_type: str
    capacity_type: str
    zone: str
    price: float
    """USD/h of the node's own offering (its type, zone and capacity type)."""
    pods: tuple[PodInfo, ...]
    """Reschedulable pods: active, not owned by a DaemonSet or the Node."""
    disruption_cost: float
    consolidatable: bool = True
    drifted_at: float | None = None
    capacity: Resources = field(default_factory=Resources)
    """Node capacity (counted against NodePool limits; freed when the node goes)."""

    @property
    def empty(self) -> bool:
        """No reschedulable pods."""
        return not self.pods

    def describe(self) -> str:
        """``<node>/<type>/<capacity-type>`` as Karpenter's decision logs print a candidate."""
        return f"{self.node}/{self.instance_type}/{self.capacity_type}"


@dataclass
class Command:
    """One disruption decision: delete the candidates, launching ``replacements`` first (if any)."""

    method: str  # emptiness | drift | multi | single
    reason: str  # Empty | Drifted | Underutilized
    candidates: list[Candidate]
    replacements: list[PlannedClaim] = field(default_factory=list)
    message: str = ""
    """Why this command (price comparison, simulation result), for decisions and ``explain``."""

    @property
    def decision(self) -> str:
        """``replace`` when replacements are launched, else ``delete``."""
        return REPLACE if self.replacements else DELETE

    @property
    def consolidation_type(self) -> str:
        """Karpenter's metric label: empty, multi, single, or "" for drift."""
        return {"emptiness": "empty", "multi": "multi", "single": "single"}.get(self.method, "")


@dataclass(frozen=True)
class Verdict:
    """Why a candidate was not disrupted by a method: the event Karpenter publishes, if any."""

    node: str
    method: str
    reason: str  # event reason: Unconsolidatable | DisruptionBlocked | "" (no event)
    message: str
