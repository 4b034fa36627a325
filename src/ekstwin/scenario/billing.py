"""The run's compute bill for reports: EC2's per-second charges, capacity reservations, then Savings Plans.

Savings Plans never reach Karpenter (it prices offerings with list prices from the EC2 Pricing API, see
aws/karpenter-provider-aws#2259 and #3860, open feature requests to make it aware of them): they only change
what the account pays, so they are applied here, to the usage the EC2 emulator recorded.

Without Savings Plans, ``cost_usd`` and ``price_per_hour`` are EC2's list charges. With them, both are what AWS
would bill (commitment + uncovered on-demand + spot) and ``savings_plans`` breaks the bill down.
"""

from __future__ import annotations

from typing import Any

from ekstwin.cloud import savings_plans as sp
from ekstwin.cloud.ec2 import EC2

DIGITS = 6


def _usd(value: float) -> float:
    return round(value, DIGITS)


def _pct(part: float, whole: float) -> float:
    return round(100.0 * part / whole, 2) if whole > 0 else 0.0


def hourly_rate(ec2: EC2, plans: tuple[sp.SavingsPlan, ...]) -> float:
    """USD per hour of what is live now (with Savings Plans applied, when there are any)."""
    if not plans:
        return ec2.hourly_rate()
    on_demand, spot = ec2.usage_rates()
    return sp.hourly_rate(plans, on_demand, spot)


def summary(ec2: EC2, plans: tuple[sp.SavingsPlan, ...], now: float) -> dict[str, Any]:
    """``cost_usd``, ``price_per_hour`` and, when present, the ``capacity_reservations`` and
    ``savings_plans`` breakdowns of the window [0, now)."""
    out: dict[str, Any] = {"price_per_hour": _usd(hourly_rate(ec2, plans)), "cost_usd": _usd(ec2.cost(now))}
    book = ec2.reservations
    if book:
        out["capacity_reservations"] = [{
            "id": r.id, "instance_type": r.instance_type, "zone": r.zone, "count": r.count,
            "in_use": book.in_use(r.id), "price_per_hour": _usd(r.count * r.price),
            "cost_usd": _usd(r.count * r.price * now / 3600.0),
            "utilization_pct": _pct(book.used_seconds(r.id, now), r.count * now),
        } for r in book.reservations()]
    if plans:
        bill = sp.bill(ec2.hourly_usage(now), plans)
        out["cost_usd"] = _usd(bill.total_usd)
        out["savings_plans"] = {
            "list_cost_usd": _usd(bill.list_usd),
            "list_price_per_hour": _usd(ec2.hourly_rate()),
            "commitment_usd": _usd(bill.commitment_usd),
            "covered_usage_on_demand_usd": _usd(bill.covered_on_demand_usd),
            "covered_usage_usd": _usd(bill.covered_usd),
            "uncovered_on_demand_usd": _usd(bill.uncovered_on_demand_usd),
            "spot_usd": _usd(bill.spot_usd),
            "total_usd": _usd(bill.total_usd),
            "savings_usd": _usd(bill.savings_usd),
            "savings_pct": _pct(bill.savings_usd, bill.list_usd),
            "utilization_pct": _pct(bill.covered_usd, bill.commitment_usd),
            "plans": [{"name": p.name, "type": p.kind, "family": p.family, "commitment_per_hour": p.commitment,
                       "discount_pct": round(100 * p.discount, 2), "commitment_usd": _usd(u.commitment_usd),
                       "used_usd": _usd(u.used_usd), "covered_on_demand_usd": _usd(u.covered_on_demand_usd),
                       "utilization_pct": _pct(u.used_usd, u.commitment_usd)}
                      for p, u in zip(plans, bill.plans, strict=True)],
        }
    return out
