"""Timing and capacity settings of the EC2 emulator, with where each default comes from.

Every latency is a distribution sampled from the ``random.Random`` stream (``Rng``) the caller passes in, so a run
is reproducible from the scenario seed. ``Fixed`` pins a delay exactly (for tests that assert "the node
is Ready at t = 47 s").

Sources behind the launch defaults (total median ≈ 1.5 + 10 + 20 + 10 ≈ 41.5 s from request to Ready,
about 32–55 s for 90 % of launches):

* awslabs/node-latency-for-k8s README, example timing charts of an EKS-optimised AL2 node (c6a.large,
  us-east-2): instance requested 0 s, pending 1 s, VM (kernel) initialised 11–13 s, kubelet registered
  19–20 s, node Ready 24–30 s.
* aws/karpenter-provider-aws issue #6165, a Karpenter maintainer: "We typically see new nodes come up
  in about 30-40s in a ready state", depending on instance type, image and user data.
* KubeFM "Faster EKS Node and Pod Startup" (Outreach): node start-up brought down from 65 s to 45 s.
* AWS EC2 user guide, "Troubleshoot instance termination": an instance in ``shutting-down`` for longer
  than a few minutes is delayed (shutdown scripts or a host problem).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

from ekstwin.errors import InvalidInput


class Rng(Protocol):
    """The part of ``random.Random`` the emulator draws from (pass a seeded ``ekstwin.rng`` stream)."""

    def uniform(self, a: float, b: float) -> float: ...

    def lognormvariate(self, mu: float, sigma: float) -> float: ...

    def getrandbits(self, k: int, /) -> int: ...

    def randrange(self, start: int, stop: int | None = ..., step: int = ...) -> int: ...


@dataclass(frozen=True, slots=True)
class Fixed:
    """Always ``seconds`` (tests, or a scenario that wants no jitter)."""

    seconds: float

    def __post_init__(self) -> None:
        if self.seconds < 0:
            raise InvalidInput("must be >= 0 seconds", field="seconds")

    def sample(self, rng: Rng) -> float:
        del rng  # a fixed delay draws nothing, so other streams' numbers do not shift
        return self.seconds

    @property
    def median(self) -> float:
        return self.seconds


@dataclass(frozen=True, slots=True)
class Uniform:
    """Uniform between ``low`` and ``high`` seconds."""

    low: float
    high: float

    def __post_init__(self) -> None:
        if not 0 <= self.low <= self.high:
            raise InvalidInput("needs 0 <= low <= high", field="low")

    def sample(self, rng: Rng) -> float:
        return rng.uniform(self.low, self.high)

    @property
    def median(self) -> float:
        return (self.low + self.high) / 2


@dataclass(frozen=True, slots=True)
class LogNormal:
    """Log-normal with the given ``median`` seconds and shape ``sigma``, capped at ``cap`` seconds.

    Boot phases are right-skewed (a slow EBS volume or image pull stretches one phase, nothing makes it
    much faster), which a log-normal captures; the cap keeps a rare tail draw from tripping Karpenter's
    15-minute registration TTL by accident.
    """

    median: float
    sigma: float
    cap: float = 600.0

    def __post_init__(self) -> None:
        if self.median <= 0:
            raise InvalidInput("must be > 0 seconds", field="median")
        if self.sigma < 0:
            raise InvalidInput("must be >= 0", field="sigma")
        if self.cap < self.median:
            raise InvalidInput("must be >= median", field="cap")

    def sample(self, rng: Rng) -> float:
        return min(self.cap, rng.lognormvariate(math.log(self.median), self.sigma))


Distribution = Fixed | Uniform | LogNormal

# Spare spot capacity, in instances, of a (type, zone) pool by spot-advisor interruption bucket 0..4
# (<5 %, 5-10 %, 10-15 %, 15-20 %, >20 % monthly interruptions). Assumption: AWS publishes no depths.
# Each median sits in the middle of one power-of-4 capacity tier (2·4^k), one tier per bucket, so
# pools of one bucket share a tier unless their seeded depth strays (see fleet.py).
_SPOT_DEPTH_MEDIANS = (8192, 2048, 512, 128, 32)


@dataclass(frozen=True, slots=True)
class CloudSettings:
    """Launch/termination latencies and the spot capacity model of the EC2 emulator."""

    create_fleet: Distribution = Uniform(1.0, 2.0)
    """Seconds a CreateFleet (type instant) call takes to answer. The instances exist, ``pending``, when
    it returns. node-latency-for-k8s shows pending 1 s after the request; the behaviour spec (§13) uses
    ~1–2 s for the call as seen by Karpenter."""

    pending_to_running: Distribution = LogNormal(median=10.0, sigma=0.25)
    """Seconds from launch (``pending``) to ``running``. Assumption anchored on node-latency-for-k8s,
    where the VM's kernel is initialised 10–12 s after ``pending``."""

    running_to_registered: Distribution = LogNormal(median=20.0, sigma=0.25)
    """Seconds from ``running`` to the kubelet registering its Node object (the Node appears and
    Karpenter can link it to the NodeClaim). node-latency-for-k8s shows ~7–8 s of cloud-init, containerd
    and kubelet start after the VM is up on AL2; the median is set higher so the total matches the
    30–40 s (maintainer, #6165) to 45–65 s (KubeFM) ranges reported for AL2023/Bottlerocket nodes with
    real user data and images."""

    registered_to_ready: Distribution = LogNormal(median=10.0, sigma=0.3)
    """Seconds from registration to the Node's Ready condition (kube-proxy and the VPC CNI aws-node pod
    up). node-latency-for-k8s shows 4–11 s between kubelet registered and Node Ready."""

    shutting_down_to_terminated: Distribution = LogNormal(median=30.0, sigma=0.4)
    """Seconds an instance spends ``shutting-down`` after TerminateInstances. Assumption: AWS only says
    more than "a few minutes" is abnormal. Billing stops when ``shutting-down`` starts, so this delay
    never costs money; it only decides when the instance reads ``terminated``."""

    min_billed_seconds: float = 60.0
    """Per-second billing has a 60-second minimum each time an instance enters ``running`` (AWS
    re:Post knowledge center "ec2-instance-hour-billing"; Linux, Windows, RHEL, Ubuntu)."""

    spot_depth_medians: tuple[int, ...] = field(default=_SPOT_DEPTH_MEDIANS)
    """Median spare capacity (instances) of a spot pool per interruption bucket 0..4 (assumption)."""

    spot_depth_sigma: float = 0.35
    """Log-normal spread of a pool's seeded depth around its bucket median. 0.35 ≈ a quarter of a
    power-of-4 tier, so about 1 pool in 20 lands one capacity tier above or below its bucket's tier —
    the per-zone variation the per-region spot advisor cannot show (assumption)."""

    unknown_bucket: int = 2
    """Interruption bucket assumed for a spot offering whose bucket is unknown (the middle one)."""

    enforce_spot_depth: bool = False
    """When True a spot pool whose seeded depth is used up answers InsufficientInstanceCapacity; by
    default depth only ranks pools (price-capacity-optimized) and capacity faults come from the knobs."""

    def __post_init__(self) -> None:
        if len(self.spot_depth_medians) != 5 or min(self.spot_depth_medians) < 1:
            raise InvalidInput("needs 5 positive depths, one per interruption bucket 0..4",
                               field="spot_depth_medians")
        if self.spot_depth_sigma < 0:
            raise InvalidInput("must be >= 0", field="spot_depth_sigma")
        if not 0 <= self.unknown_bucket <= 4:
            raise InvalidInput("must be an interruption bucket 0..4", field="unknown_bucket")
        if self.min_billed_seconds < 0:
            raise InvalidInput("must be >= 0 seconds", field="min_billed_seconds")


DEFAULT_CLOUD_SETTINGS = CloudSettings()
