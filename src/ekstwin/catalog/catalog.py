"""The instance-type catalog of one region: what Karpenter's instance-type provider would list.

``load_catalog`` picks the region's zones, keeps the Karpenter-eligible types (HVM, x86_64/arm64) that
are offered in at least one chosen zone, computes their capacity under ``CapacitySettings`` and prices
one offering per (offered zone × capacity type the type supports).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence

from ekstwin.catalog._tables import RegionZones, TypeRow, az_offerings, type_rows
from ekstwin.catalog.capacity import DEFAULT_SETTINGS, CapacitySettings
from ekstwin.catalog.index import CatalogIndex
from ekstwin.catalog.instance_types import (
    CAPACITY_TYPES,
    ON_DEMAND,
    InstanceType,
    Offering,
    build_instance_type,
)
from ekstwin.catalog.pricing import RegionPricing
from ekstwin.catalog.reservations import CapacityReservation
from ekstwin.errors import InvalidInput

REGION_FIELD = "spec.cluster.region"
ZONES_FIELD = "spec.cluster.zones"


class Catalog:
    """Eligible instance types of a region restricted to some zones, sorted by name."""

    __slots__ = ("_by_name", "_index", "_region_types", "region", "reservations", "seed", "settings", "types",
                 "zone_ids", "zones")

    def __init__(self, region: str, zones: Sequence[str], zone_ids: Sequence[str], *, seed: int,
                 settings: CapacitySettings, types: Sequence[InstanceType],
                 region_types: frozenset[str], reservations: Sequence[CapacityReservation] = ()) -> None:
        self.region = region
        self.zones = tuple(zones)
        self.zone_ids = tuple(zone_ids)
        self.seed = seed
        self.settings = settings
        self.types = tuple(sorted(types, key=lambda t: t.name))
        self._by_name = {t.name: t for t in self.types}
        # Eligible types of the whole region, to tell "not in these zones" apart from "no such type".
        self._region_types = region_types
        # On-Demand Capacity Reservations in the account (declared in spec.cloud; none by default).
        self.reservations = tuple(reservations)
        self._index: CatalogIndex | None = None

    def __len__(self) -> int:
        return len(self.types)

    def __iter__(self) -> Iterator[InstanceType]:
        return iter(self.types)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __repr__(self) -> str:
        return f"Catalog(region={self.region!r}, zones={self.zones!r}, types={len(self.types)})"

    def get(self, name: str) -> InstanceType:
        """The type called ``name``; unknown names raise ``InvalidInput`` with close matches."""
        found = self._by_name.get(name)
        if found is not None:
            return found
        raise InvalidInput(self._unknown_type_message(name))

    def _unknown_type_message(self, name: str) -> str:
        if name in self._region_types:
            return (f"instance type {name!r} is not offered in zones {', '.join(self.zones)} "
                    f"of {self.region}")
        row = type_rows().get(name)
        if row is not None and not row.karpenter_eligible:
            return f"instance type {name!r} is not usable by Karpenter (needs HVM and x86_64 or arm64)"
        close = difflib.get_close_matches(name, list(self._by_name), n=3)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        return f"unknown instance type {name!r} in {self.region}{hint}"

    def zone_id(self, zone: str) -> str:
        """The zone id (``euw1-az1``) of one of the catalog's zones."""
        try:
            return self.zone_ids[self.zones.index(zone)]
        except ValueError:
            raise InvalidInput(f"zone {zone!r} is not one of {', '.join(self.zones)}",
                               field=ZONES_FIELD) from None

    @property
    def index(self) -> CatalogIndex:
        """Vectorised view of the catalog for the hot paths (built on first use)."""
        if self._index is None:
            self._index = CatalogIndex(self)
        return self._index


def _region(region: str) -> RegionZones:
    regions = az_offerings()
    found = regions.get(region)
    if found is None:
        raise InvalidInput(f"unknown region {region!r}; valid: {', '.join(regions)}", field=REGION_FIELD)
    return found


def _zones(region: str, known: RegionZones, zones: Sequence[str] | None) -> tuple[str, ...]:
    if zones is None:
        return tuple(known.zone_ids)
    if isinstance(zones, str) or not zones:
        raise InvalidInput("must be a non-empty list of zone names", field=ZONES_FIELD)
    unknown = [z for z in zones if z not in known.zone_ids]
    if unknown:
        raise InvalidInput(f"unknown zone(s) {', '.join(map(repr, unknown))} in {region}; "
                           f"valid: {', '.join(known.zone_ids)}", field=ZONES_FIELD)
    return tuple(sorted(set(zones)))


def _offerings(row: TypeRow, zones: Sequence[str], known: RegionZones,
               pricing: RegionPricing) -> tuple[Offering, ...]:
    od = pricing.on_demand(row.name)
    savings = pricing.spot_savings(row.name)
    out: list[Offering] = []
    for zone in zones:
        if row.name not in known.offered[zone]:
            continue
        for capacity_type in CAPACITY_TYPES:
            if capacity_type not in row.usage_classes:
                continue
            on_demand = capacity_type == ON_DEMAND
            if od is None:
                price, derived = float("inf"), False
            elif on_demand:
                price, derived = od.price, od.derived
            else:
                price = pricing.spot_price(row.name, zone, od.price)
                derived = od.derived or savings.derived
            out.append(Offering(
                zone=zone, zone_id=known.zone_ids[zone], capacity_type=capacity_type, price=price,
                available=od is not None, interruption_bucket=None if on_demand else savings.bucket,
                price_derived=derived,
            ))
    return tuple(out)


def load_catalog(region: str, zones: Sequence[str] | None = None, *, seed: int = 0,
                 settings: CapacitySettings = DEFAULT_SETTINGS,
                 estimate_missing_prices: bool = True) -> Catalog:
    """Build the catalog of ``region`` restricted to ``zones`` (default: all of the region's zones).

    Raises:
        InvalidInput: unknown region (field ``spec.cluster.region``) or zone (``spec.cluster.zones``);
            the message lists the valid choices.
    """
    known = _region(region)
    chosen = _zones(region, known, zones)
    pricing = RegionPricing(region, seed=seed, estimate_missing=estimate_missing_prices)
    rows = _eligible_rows(known)
    types = []
    for row in rows:
        offerings = _offerings(row, chosen, known, pricing)
        if offerings:
            types.append(build_instance_type(row, settings, offerings))
    return Catalog(region, chosen, [known.zone_ids[z] for z in chosen], seed=seed, settings=settings,
                   types=types, region_types=frozenset(row.name for row in rows))


def _eligible_rows(known: RegionZones) -> list[TypeRow]:
    """Karpenter-eligible types offered in any zone of the region, by name."""
    in_region = set().union(*known.offered.values())
    rows = (type_rows().get(name) for name in sorted(in_region))
    return [row for row in rows if row is not None and row.karpenter_eligible]
