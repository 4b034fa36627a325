"""Hourly prices of offerings: on-demand from the price table, spot from a seeded model.

On-demand
    The table's price for (type, region). us-east-1 rows are Karpenter's own static table; other
    regions come from an older, sparser public snapshot that lacks roughly half of the types EC2 offers
    there. A type that EC2 offers but the table does not price would make Karpenter see an unpriced,
    hence unavailable, offering, which is an artefact of the snapshot rather than of AWS. So by default
    the missing price is *estimated*: the type's us-east-1 price × the median ratio (region / us-east-1)
    over the priced types of the same family in that region, else over the whole region. Only rows whose
    snapshot agreed with Karpenter's us-east-1 table feed the ratio. With ``estimate_missing=False``, or
    when the type has no us-east-1 price either, the type has no on-demand price: its offerings (spot
    too, being derived from it) are unavailable with ``price = inf``.

Spot
    There is no zonal spot price history in the data, only the spot advisor's savings-over-on-demand
    percentage per (region, type). A zone's spot price is modelled as

        spot = min(od, od × (1 − savings/100) × (1 + spread)),  spread ~ Uniform[−0.08, +0.08]

    with ``spread`` drawn from ``stable_random(seed, "spot:<region>:<zone>:<type>")``, so every
    (type, zone) pool differs a little, the same seed always gives the same prices, and a spot price
    never exceeds on-demand (EC2 caps it there). A spot-capable type without an advisor row uses the
    median savings (and the lower-median interruption bucket) of its family's advisor rows in the
    region, else of all the region's rows; that is recorded as derived. If the region has no advisor
    data at all the spot price equals on-demand (what Karpenter uses before its first spot refresh).
    All prices are rounded to 6 decimals.
"""

from __future__ import annotations

import functools
import statistics
from collections import defaultdict
from dataclasses import dataclass

from ekstwin.catalog._tables import family_of, on_demand_prices, spot_advisor
from ekstwin.rng import stable_random

SPOT_SPREAD = 0.08
"""Half-width of the uniform per-(type, zone) spot price spread, as a fraction of the advisor price."""

REFERENCE_REGION = "us-east-1"
"""The region whose prices are Karpenter's own static table; missing prices elsewhere scale from it."""

PRICE_DECIMALS = 6


@dataclass(frozen=True, slots=True)
class OnDemandPrice:
    """A type's on-demand price in a region and where it came from (a table source or ``estimated``)."""

    price: float
    source: str

    @property
    def derived(self) -> bool:
        return self.source == "estimated"


@dataclass(frozen=True, slots=True)
class SpotSavings:
    """Savings over on-demand and interruption bucket for a type's spot market in a region.

    ``source`` is ``advisor`` (the type's own row), ``family-median``, ``region-median``, or ``none``
    (no advisor data in the region: spot priced at on-demand, bucket unknown).
    """

    savings_pct: float
    bucket: int | None
    source: str

    @property
    def derived(self) -> bool:
        return self.source != "advisor"


@dataclass(frozen=True, slots=True)
class _Medians:
    savings: float
    bucket: int


def _medians(rows: list[tuple[int, int]]) -> _Medians:
    return _Medians(savings=float(statistics.median(s for s, _ in rows)),
                    bucket=int(statistics.median_low(b for _, b in rows)))


@functools.cache
def _advisor_medians(region: str) -> tuple[dict[str, _Medians], _Medians | None]:
    """Per-family and region-wide advisor medians, for spot types the advisor does not list."""
    rows = spot_advisor().get(region, {})
    by_family: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for name, row in rows.items():
        by_family[family_of(name)].append((row.savings_pct, row.bucket))
    families = {family: _medians(pairs) for family, pairs in by_family.items()}
    everything = [pair for pairs in by_family.values() for pair in pairs]
    return families, (_medians(everything) if everything else None)


@functools.cache
def _price_ratios(region: str) -> tuple[dict[str, float], float | None]:
    """Median regional / us-east-1 price ratio per family and for the region (for estimation)."""
    regional = on_demand_prices().get(region, {})
    reference = on_demand_prices().get(REFERENCE_REGION, {})
    by_family: dict[str, list[float]] = defaultdict(list)
    for name, row in regional.items():
        ref = reference.get(name)
        # Only rows whose snapshot matched Karpenter's us-east-1 table are trusted for the ratio.
        if ref is not None and row.us_east_1_check == "match" and ref.usd_per_hour > 0:
            by_family[family_of(name)].append(row.usd_per_hour / ref.usd_per_hour)
    families = {family: float(statistics.median(r)) for family, r in by_family.items()}
    everything = [r for ratios in by_family.values() for r in ratios]
    return families, (float(statistics.median(everything)) if everything else None)


class RegionPricing:
    """Price look-ups for one region under one seed."""

    def __init__(self, region: str, *, seed: int = 0, estimate_missing: bool = True) -> None:
        self.region = region
        self.seed = seed
        self.estimate_missing = estimate_missing
        self._listed = on_demand_prices().get(region, {})
        self._advisor = spot_advisor().get(region, {})

    def on_demand(self, name: str) -> OnDemandPrice | None:
        """The on-demand price, listed or estimated; None when the type cannot be priced here."""
        row = self._listed.get(name)
        if row is not None:
            return OnDemandPrice(round(row.usd_per_hour, PRICE_DECIMALS), row.source)
        if not self.estimate_missing:
            return None
        return self._estimate(name)

    def _estimate(self, name: str) -> OnDemandPrice | None:
        ref = on_demand_prices().get(REFERENCE_REGION, {}).get(name)
        if ref is None:
            return None
        families, region_ratio = _price_ratios(self.region)
        ratio = families.get(family_of(name), region_ratio)
        if ratio is None:
            return None
        return OnDemandPrice(round(ref.usd_per_hour * ratio, PRICE_DECIMALS), "estimated")

    def spot_savings(self, name: str) -> SpotSavings:
        """The advisor's savings and bucket for the type, or the family/region medians."""
        row = self._advisor.get(name)
        if row is not None:
            return SpotSavings(float(row.savings_pct), row.bucket, "advisor")
        families, region = _advisor_medians(self.region)
        family = families.get(family_of(name))
        if family is not None:
            return SpotSavings(family.savings, family.bucket, "family-median")
        if region is not None:
            return SpotSavings(region.savings, region.bucket, "region-median")
        return SpotSavings(0.0, None, "none")

    def spot_spread(self, name: str, zone: str) -> float:
        """The seeded relative deviation of this zone's spot price from the advisor estimate."""
        # Without any advisor data the price stays at on-demand, as before Karpenter's first refresh.
        if self.spot_savings(name).source == "none":
            return 0.0
        draw = stable_random(self.seed, f"spot:{self.region}:{zone}:{name}")
        return draw.uniform(-SPOT_SPREAD, SPOT_SPREAD)

    def spot_price(self, name: str, zone: str, on_demand: float) -> float:
        """The modelled spot price of the (type, zone) pool given the type's on-demand price."""
        savings = self.spot_savings(name).savings_pct
        modelled = on_demand * (1 - savings / 100) * (1 + self.spot_spread(name, zone))
        return round(min(on_demand, modelled), PRICE_DECIMALS)
