"""Plain-data rows describing instance types, for ``ekstwin catalog`` and other reports.

Selection is by exact names (unknown names raise ``InvalidInput`` with suggestions) or by a predicate
over ``InstanceType``; node-selector filtering is left to the caller, who turns requirements into a
predicate. Rows hold only JSON-friendly values (str, int, float, None, lists, dicts).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ekstwin.catalog.catalog import Catalog
from ekstwin.catalog.instance_types import ON_DEMAND, SPOT, InstanceType, Offering
from ekstwin.units.resources import CPU, MEMORY, PODS, Resources

MIB = 2**20

Selection = Iterable[str] | Callable[[InstanceType], bool] | None


def select(catalog: Catalog, names_or_filter: Selection = None) -> list[InstanceType]:
    """Types named (in the given order) or matching the predicate (in name order); None = all."""
    if names_or_filter is None:
        return list(catalog.types)
    if callable(names_or_filter):
        return [t for t in catalog.types if names_or_filter(t)]
    if isinstance(names_or_filter, str):
        return [catalog.get(names_or_filter)]
    return [catalog.get(name) for name in names_or_filter]


def _core(resources: Resources) -> dict[str, int]:
    return {"cpu_m": resources[CPU], "memory_mib": resources[MEMORY] // MIB, "pods": resources[PODS]}


def _price(offering: Offering | None) -> float | None:
    return offering.price if offering is not None else None


def _offering(o: Offering) -> dict[str, Any]:
    return {"zone": o.zone, "zone_id": o.zone_id, "capacity_type": o.capacity_type,
            "price": o.price if o.available else None, "available": o.available,
            "interruption_bucket": o.interruption_bucket, "price_derived": o.price_derived}


def row(t: InstanceType) -> dict[str, Any]:
    """One type as a flat-ish dict: identity, resources, cheapest prices and every offering."""
    return {
        "name": t.name,
        "arch": t.arch,
        "vcpu": t.vcpu,
        "memory_mib": t.memory_mib,
        "capacity": _core(t.capacity),
        "allocatable": _core(t.allocatable),
        "on_demand_price": _price(t.cheapest_offering([ON_DEMAND])),
        "spot_price": _price(t.cheapest_offering([SPOT])),
        "offerings": [_offering(o) for o in t.offerings],
    }


def rows(catalog: Catalog, names_or_filter: Selection = None) -> list[dict[str, Any]]:
    """Report rows for the selected types (see ``select``)."""
    return [row(t) for t in select(catalog, names_or_filter)]
