"""The bill under the report's header: Savings Plans and capacity reservations, when the run has any.

Reads only ``RunResult.summary`` (``savings_plans`` and ``capacity_reservations``, see
``ekstwin.scenario.billing``), so a hand-built result renders the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.text import Text


def _money(value: Any) -> str:
    return f"${float(value):,.4f}"


def savings_plan_lines(plans: Mapping[str, Any]) -> list[Text]:
    """One line for the whole bill, then one per plan."""
    head = (f"Savings Plans: list cost {_money(plans['list_cost_usd'])} → billed {_money(plans['total_usd'])} "
            f"(commitment {_money(plans['commitment_usd'])} + uncovered on-demand "
            f"{_money(plans['uncovered_on_demand_usd'])} + spot {_money(plans['spot_usd'])}) · covered usage "
            f"{_money(plans['covered_usage_on_demand_usd'])} at on-demand rates for "
            f"{_money(plans['covered_usage_usd'])} · savings {_money(plans['savings_usd'])} "
            f"({plans['savings_pct']}%) · utilization {plans['utilization_pct']}%")
    lines = [Text(head)]
    for p in plans.get("plans") or ():
        scope = f" {p['family']}" if p.get("family") else ""
        lines.append(Text(f"  {p['name']}: {p['type']}{scope}, ${p['commitment_per_hour']}/hour at "
                          f"{p['discount_pct']}% off, used {_money(p['used_usd'])} of {_money(p['commitment_usd'])} "
                          f"({p['utilization_pct']}%), covering {_money(p['covered_on_demand_usd'])} on-demand"))
    return lines


def reservation_lines(reservations: list[Mapping[str, Any]]) -> list[Text]:
    """One line per capacity reservation."""
    return [Text(f"Capacity reservation {r['id']}: {r['count']} × {r['instance_type']} in {r['zone']}, "
                 f"{r['in_use']} in use, utilization {r['utilization_pct']}%, cost {_money(r['cost_usd'])}")
            for r in reservations]


def lines(summary: Mapping[str, Any]) -> list[Text]:
    """Every bill line the summary calls for (none for a run without reservations or Savings Plans)."""
    out: list[Text] = []
    if summary.get("savings_plans"):
        out += savings_plan_lines(summary["savings_plans"])
    if summary.get("capacity_reservations"):
        out += reservation_lines(summary["capacity_reservations"])
    return out
