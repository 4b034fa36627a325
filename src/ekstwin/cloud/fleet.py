"""How a CreateFleet call picks its (instance type, zone) pool: the two allocation strategies Karpenter uses.

Karpenter sends one override per (type, zone) in its own price order, ``TotalTargetCapacity`` = the
number of NodeClaims, and the strategy by capacity type (behaviour spec §5.7):

* **on-demand → lowest-price.** EC2 launches from the cheapest pool with capacity. Here: pools ranked by
  (price, position in the override list), so equal prices go to the earlier override.
* **spot → price-capacity-optimized (PCO).** The EC2 API reference (``SpotOptions.AllocationStrategy``)
  describes it as: identify the pools with the highest capacity availability *for the number of
  instances that are launching*, then request from the lowest-priced of those pools. EC2 does not
  publish pool capacity, so the emulator models it:

  1. Every spot pool has a hidden **depth**: how many more instances it could hand out before spare
     capacity runs dry. The depth is drawn once per pool, log-normal around a median set by the
     spot-advisor interruption bucket of the type (bucket 0, <5 % interruptions → 8192 instances;
     each worse bucket → ¼ of that, down to 32 for bucket 4, >20 %), with spread
     ``CloudSettings.spot_depth_sigma``. A pool's draw comes from its own generator, seeded by the
     emulator's seed and the pool's key, so it does not depend on the order pools are looked at.
     Launches from a pool use its depth up (``remaining = depth − launched``).
  2. The **capacity score** of a pool for a request of ``n`` instances is its tier: the largest ``k``
     with ``n · 4^k ≤ remaining`` (−1 when ``remaining < n``: the pool cannot take the whole request).
     Tiers are a factor of 4 wide and bucket medians sit mid-tier, so pools of one bucket usually tie
     (about 1 in 20 lands a tier off: a zone deeper or shallower than the region-wide advisor suggests),
     and a pool that has given out most of its depth, or a big request, drops tiers.
  3. PCO ranks pools by (highest tier, lowest price, override position). So a bucket-0 pool beats a
     slightly cheaper bucket-3 pool, and among pools of equal tier the cheapest wins.

A fleet of ``n`` is filled one instance at a time, re-ranking with the instances still needed, so a big
request spreads when the best pool's tier drops. Ranking here ignores availability: the caller walks the
ranking and reports a fleet error for each unavailable pool it meets before one launches, which is how
Karpenter learns of insufficient capacity pool by pool.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ekstwin.catalog.instance_types import ON_DEMAND, SPOT
from ekstwin.catalog.reservations import RESERVED
from ekstwin.cloud.settings import CloudSettings
from ekstwin.rng import stable_random

LOWEST_PRICE = "lowest-price"
PRICE_CAPACITY_OPTIMIZED = "price-capacity-optimized"

_TIER_BASE = 4


@dataclass(frozen=True, slots=True)
class Pool:
    """One override of a CreateFleet call resolved against the catalog: a place EC2 could launch."""

    instance_type: str
    zone: str
    zone_id: str
    capacity_type: str
    price: float
    interruption_bucket: int | None
    order: int
    """Position of the override in the request (Karpenter's price order)."""
    reservation_id: str | None = None
    """The capacity reservation a ``reserved`` launch targets (one per type and zone)."""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.capacity_type, self.instance_type, self.zone)


def strategy_for(capacity_type: str) -> str:
    """The allocation strategy Karpenter asks for with this capacity type.

    A ``reserved`` launch is an on-demand fleet whose launch templates target capacity reservations, so it is
    lowest-price too (Karpenter does not set ``usageStrategy``; see designs/odcr.md in karpenter-provider-aws).
    """
    if capacity_type == SPOT:
        return PRICE_CAPACITY_OPTIMIZED
    if capacity_type in (ON_DEMAND, RESERVED):
        return LOWEST_PRICE
    raise ValueError(f"unknown capacity type {capacity_type!r}")


def capacity_tier(remaining: int, count: int) -> int:
    """Largest ``k`` with ``count · 4^k ≤ remaining``; −1 when the pool cannot take ``count`` at all."""
    if count < 1:
        raise ValueError("count must be >= 1")
    if remaining < count:
        return -1
    tier, need = 0, count * _TIER_BASE
    while need <= remaining:
        tier, need = tier + 1, need * _TIER_BASE
    return tier


class SpotDepths:
    """Seeded hidden depth of every spot pool, and how much of it launches have used."""

    __slots__ = ("_depth", "_seed", "_settings", "_taken")

    def __init__(self, seed: int, settings: CloudSettings) -> None:
        self._seed = seed
        self._settings = settings
        self._depth: dict[tuple[str, str, str], int] = {}
        self._taken: dict[tuple[str, str, str], int] = {}

    def depth(self, pool: Pool) -> int:
        """The pool's full depth in instances (drawn on first use, then fixed)."""
        found = self._depth.get(pool.key)
        if found is None:
            found = self._draw(pool)
            self._depth[pool.key] = found
        return found

    def _draw(self, pool: Pool) -> int:
        bucket = pool.interruption_bucket
        if bucket is None:
            bucket = self._settings.unknown_bucket
        median = self._settings.spot_depth_medians[min(max(bucket, 0), 4)]
        rng = stable_random(self._seed, "spot-depth:" + ":".join(pool.key))
        return max(1, round(rng.lognormvariate(math.log(median), self._settings.spot_depth_sigma)))

    def remaining(self, pool: Pool) -> int:
        return self.depth(pool) - self._taken.get(pool.key, 0)

    def take(self, pool: Pool) -> None:
        """Record one launch from the pool."""
        self._taken[pool.key] = self._taken.get(pool.key, 0) + 1


def rank_lowest_price(pools: Sequence[Pool]) -> list[Pool]:
    """On-demand order: cheapest first, ties to the earlier override."""
    return sorted(pools, key=lambda p: (p.price, p.order))


def rank_price_capacity_optimized(pools: Sequence[Pool], remaining: Callable[[Pool], int],
                                  count: int) -> list[Pool]:
    """Spot order: highest capacity tier for ``count`` instances, then cheapest, then override order."""
    return sorted(pools, key=lambda p: (-capacity_tier(remaining(p), count), p.price, p.order))
