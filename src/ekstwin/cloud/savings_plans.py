"""Savings Plans billing: an hourly commitment that is paid whether used or not and discounts eligible usage.

How AWS applies them (Savings Plans User Guide, "Understanding how Savings Plans apply to your AWS usage",
https://docs.aws.amazon.com/savingsplans/latest/userguide/sp-applying.html), hour by hour:

* The commitment (USD per hour, at Savings Plan rates) is billed every hour of the term, used or not.
* Eligible usage is priced at the Savings Plan rate until the commitment of that hour is used up; the rest is
  billed at the on-demand rate. Spot usage is not eligible. A Compute Savings Plan covers EC2 of any family;
  an EC2 Instance Savings Plan only its instance family (in its region: here, the cluster's).
* EC2 Instance Savings Plans apply before Compute Savings Plans ("Compute Savings Plans have broader
  applicability"). Within each type, plans apply to the usage with the highest savings percentage first; at
  equal savings percentages, to the usage with the lowest Savings Plan rate first.

The twin's simplification: a plan has one discount for all usage it covers (AWS publishes a rate per instance
type, term and payment option), so its Savings Plan rate is the on-demand rate × (1 − discount), and the
savings percentage of a (plan, usage) pair is the plan's discount. Plans of one type with different discounts
cover usage highest discount first. The window need not be whole hours: the commitment of a partial last hour
is prorated to the part of the hour that was simulated, and so is what that hour's commitment can cover.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ekstwin.cloud.usage import HOUR_S, HourlyUsage, UsageKey

COMPUTE = "compute"
EC2_INSTANCE = "ec2Instance"
KINDS = (COMPUTE, EC2_INSTANCE)
APPLICATION_ORDER = (EC2_INSTANCE, COMPUTE)
"""EC2 Instance Savings Plans apply first: Compute Savings Plans apply more broadly."""


@dataclass(frozen=True)
class SavingsPlan:
    """One plan: ``commitment`` USD/hour at Savings Plan rates, ``discount`` off on-demand (0.28 = 28 %)."""

    kind: str
    commitment: float
    discount: float
    family: str | None = None
    """EC2 Instance Savings Plans only: the instance family covered (``m5``)."""
    name: str = ""

    def covers(self, key: UsageKey) -> bool:
        """True when usage of ``key`` is eligible for this plan."""
        return self.kind == COMPUTE or key.family == self.family


@dataclass(frozen=True)
class PlanUse:
    """How much of one plan's commitment the window used."""

    name: str
    kind: str
    commitment_usd: float
    used_usd: float
    """Commitment spent on covered usage (at Savings Plan rates)."""
    covered_on_demand_usd: float
    """The same usage at on-demand rates."""

    @property
    def utilization(self) -> float:
        """Fraction of the commitment spent on usage (0 when nothing was committed)."""
        return self.used_usd / self.commitment_usd if self.commitment_usd > 0 else 0.0


@dataclass(frozen=True)
class Bill:
    """The window's compute bill with Savings Plans applied (all in USD)."""

    list_usd: float
    """What the usage costs without Savings Plans: on-demand (reservations included) plus spot."""
    commitment_usd: float
    covered_on_demand_usd: float
    """Eligible usage the commitment covered, valued at on-demand rates."""
    covered_usd: float
    """The same usage at Savings Plan rates: the part of the commitment that was used."""
    uncovered_on_demand_usd: float
    spot_usd: float
    plans: tuple[PlanUse, ...]
    covered_by_usage: Mapping[UsageKey, float] = field(default_factory=dict)
    """On-demand USD of each kind of usage the plans covered (which usage a plan went to)."""

    @property
    def total_usd(self) -> float:
        """What AWS bills: every hour's commitment, plus uncovered on-demand usage, plus spot."""
        return self.commitment_usd + self.uncovered_on_demand_usd + self.spot_usd

    @property
    def savings_usd(self) -> float:
        """List cost minus the bill (negative when unused commitment costs more than the discount saves)."""
        return self.list_usd - self.total_usd

    @property
    def utilization(self) -> float:
        """Fraction of all commitment spent on usage."""
        return self.covered_usd / self.commitment_usd if self.commitment_usd > 0 else 0.0


def _pairs(plans: Sequence[SavingsPlan], keys: Sequence[UsageKey]) -> list[tuple[int, UsageKey]]:
    """(plan index, usage) in AWS's application order: plan type, savings % desc, Savings Plan rate asc."""
    out: list[tuple[int, UsageKey]] = []
    for kind in APPLICATION_ORDER:
        pairs = [(i, k) for i, p in enumerate(plans) if p.kind == kind for k in keys if p.covers(k)]
        pairs.sort(key=lambda ik: (-plans[ik[0]].discount, ik[1].rate * (1 - plans[ik[0]].discount), ik[1], ik[0]))
        out.extend(pairs)
    return out


def _apply_hour(plans: Sequence[SavingsPlan], pairs: Sequence[tuple[int, UsageKey]],
                usage: Mapping[UsageKey, float], fraction: float,
                used: list[float], covered: list[float], by_key: dict[UsageKey, float]) -> float:
    """Cover one hour's usage; returns the uncovered on-demand USD. ``used``/``covered`` accumulate per plan,
    ``by_key`` per kind of usage."""
    left = dict(usage)
    budget = [p.commitment * fraction for p in plans]
    for i, key in pairs:
        plan, need = plans[i], left[key]
        if need <= 0 or budget[i] <= 0:
            continue
        rate = 1 - plan.discount
        take = min(need, budget[i] / rate)
        left[key] = need - take
        budget[i] -= take * rate
        used[i] += take * rate
        covered[i] += take
        by_key[key] = by_key.get(key, 0.0) + take
    return sum(left.values())


def bill(usage: HourlyUsage, plans: Sequence[SavingsPlan]) -> Bill:
    """Apply ``plans`` hour by hour to ``usage`` (see the module docstring)."""
    keys = sorted(usage.on_demand)
    pairs = _pairs(plans, keys)
    used = [0.0] * len(plans)
    covered = [0.0] * len(plans)
    by_key: dict[UsageKey, float] = {}
    uncovered = 0.0
    for h, length in enumerate(usage.hour_lengths):
        hour = {k: usage.on_demand[k][h] for k in keys}
        uncovered += _apply_hour(plans, pairs, hour, length / HOUR_S, used, covered, by_key)
    window_h = usage.end / HOUR_S if usage.end > 0 else 0.0
    uses = tuple(PlanUse(p.name, p.kind, p.commitment * window_h, used[i], covered[i]) for i, p in enumerate(plans))
    return Bill(list_usd=usage.on_demand_usd + usage.spot_usd, commitment_usd=sum(u.commitment_usd for u in uses),
                covered_on_demand_usd=sum(covered), covered_usd=sum(used), uncovered_on_demand_usd=uncovered,
                spot_usd=usage.spot_usd, plans=uses, covered_by_usage=by_key)


def hourly_rate(plans: Sequence[SavingsPlan], on_demand: Mapping[UsageKey, float], spot: float) -> float:
    """USD per hour billed for usage running at these rates (USD/hour per key) all hour long."""
    used = [0.0] * len(plans)
    covered = [0.0] * len(plans)
    uncovered = _apply_hour(plans, _pairs(plans, sorted(on_demand)), on_demand, 1.0, used, covered, {})
    return sum(p.commitment for p in plans) + uncovered + spot
