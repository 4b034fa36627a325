"""Scenario settings as frozen dataclasses (loaded once, in ``loader``; nothing reads global settings)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ekstwin.catalog.overrides import CloudCatalog
from ekstwin.cloud.savings_plans import SavingsPlan

KNOWN_FEATURE_GATES = ("SpotToSpotConsolidation", "NodeRepair", "ReservedCapacity", "NodeOverlay",
                       "StaticCapacity", "CapacityBuffer")
DAEMONSET_SETS = ("eks-default", "none")


@dataclass(frozen=True)
class ClusterConfig:
    """``spec.cluster``."""

    region: str = "us-east-1"
    """AWS region; picks the catalog's prices and zones."""
    zones: tuple[str, ...] = ()
    """Zones with subnets (empty = every zone of the region in the catalog)."""
    autoscaler: str = "karpenter"
    """Which autoscaler runs: ``karpenter`` (the Cluster Autoscaler arrives later) or ``none``."""
    feature_gates: dict[str, bool] = field(default_factory=dict)
    """Karpenter feature gates as set; unset gates take the modelled release's default (all off, except
    ReservedCapacity from v1.6: see ``autoscaling.karpenter.gates``)."""
    daemonsets: str = "eks-default"
    """``eks-default`` adds aws-node, kube-proxy and eks-pod-identity-agent; ``none`` adds nothing."""
    batch_idle_s: float = 1.0
    """Karpenter BATCH_IDLE_DURATION."""
    batch_max_s: float = 10.0
    """Karpenter BATCH_MAX_DURATION."""
    karpenter_version: str = "v1.14"
    """Which Karpenter to reproduce where versions differ: disruption method order, decision log format."""
    name: str = "ekstwin"
    """Cluster name (used in generated names and tags)."""
    spot_interruptions: str = "none"
    """``spotInterruptions``: ``none`` (EC2 never reclaims spot on its own; forced ``interrupt`` steps still
    work) or ``advisor`` (each spot instance is reclaimed at its advisor bucket's rate, see ``cloud/spot.py``)."""


@dataclass(frozen=True)
class CloudConfig:
    """``spec.cloud``: the catalog and prices (see ``catalog.overrides``; default: the bundled catalog)."""

    catalog: CloudCatalog = field(default_factory=CloudCatalog)
    """Catalog kind, discounts, exact prices, custom instance types and capacity reservations, applied when the
    world is built."""
    savings_plans: tuple[SavingsPlan, ...] = ()
    """Savings Plans: they change only the bill (Karpenter prices with list prices), see ``scenario.billing``."""


DEFAULT_WAIT_TIMEOUT_S = 900.0
"""How long a waiting provisioning pass waits at most: Karpenter gives up on a NodeClaim that has not
registered after 15 minutes, so waiting longer is pointless."""


@dataclass(frozen=True)
class TimelineStep:
    """One ``spec.timeline`` entry: at ``at_s`` do ``action`` with ``args``."""

    at_s: float
    action: str  # apply | scale | delete | interrupt | provision | disrupt (diurnal becomes scale steps)
    args: Any  # None for disrupt and a provision that does not wait; {"timeout": s} for one that waits
    where: str  # "file: spec.timeline[i]" for error messages


@dataclass(frozen=True)
class Scenario:
    """A loaded scenario: settings, initial objects and the timeline."""

    name: str
    file: str
    seed: int
    cluster: ClusterConfig
    objects: tuple[dict[str, Any], ...]
    timeline: tuple[TimelineStep, ...]
    stop_s: float | None
    """The run's horizon: ``stopAt``, else the earliest ``stop`` step, else the timeline's final cursor when
    it uses ``advance``; None means the default (``ekstwin run`` stops at 10 minutes)."""
    report: dict[str, Any]
    warnings: tuple[str, ...] = ()
    cloud: CloudConfig = field(default_factory=CloudConfig)
