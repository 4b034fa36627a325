"""Bring-your-own catalog and prices: apply a scenario's ``spec.cloud`` to a loaded ``Catalog``.

Pure: ``apply(catalog, spec)`` returns a new ``Catalog`` (with its own, freshly built index) and never
changes its input. The steps, in order:

1. ``catalog: custom`` drops the bundled types (only ``instanceTypes`` remain); ``bundled`` keeps them.
2. Custom ``instanceTypes`` are added (a custom type named like a bundled one replaces it).
3. Discounts multiply each offering's price by (1 − pct): the family discount when the type's family
   has one, else the capacity-type discount (``onDemand``/``spot``). They do not stack.
4. Exact ``prices`` replace the price of the offerings they match; the most specific entry wins
   (type + zone + capacity type beats type + one of them beats type alone), and an exact price is final:
   no discount applies to it.

Offerings keep ``available`` as given; Karpenter never launches an unavailable offering.

Capacity reservations (``capacityReservations``, and custom offerings with ``capacityType: reserved``) are not
offerings of the catalog's types: they become ``Catalog.reservations`` (see ``catalog.reservations``), priced
after steps 3–4 at the type's on-demand rate in the zone (a custom reserved offering gives its own rate).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from ekstwin.catalog import reservations as rsv
from ekstwin.catalog.capacity import GIB, MIB, CapacitySettings, eviction_threshold, kube_reserved_cpu_m
from ekstwin.catalog.catalog import Catalog
from ekstwin.catalog.instance_types import (
    ARCH,
    CAPACITY_TYPES,
    CATEGORY,
    CPU,
    FAMILY,
    GENERATION,
    INSTANCE_TYPE,
    MEMORY,
    ON_DEMAND,
    OS,
    SIZE,
    InstanceType,
    Offering,
    category_generation,
)
from ekstwin.errors import InvalidInput
from ekstwin.units import resources as res
from ekstwin.units.resources import Resources

FIELD = "spec.cloud"
CATALOG_KINDS = ("bundled", "custom")
DEFAULT_PODS = 110
DEFAULT_ROOT_VOLUME = 20 * GIB


@dataclass(frozen=True)
class Discounts:
    """Fractions (0.1 = 10 %) taken off list prices; a family's discount replaces its capacity type's."""

    on_demand: float = 0.0
    spot: float = 0.0
    families: Mapping[str, float] = field(default_factory=dict)

    def factor(self, family: str, capacity_type: str) -> float:
        pct = self.families.get(family)
        if pct is None:
            pct = self.on_demand if capacity_type == ON_DEMAND else self.spot
        return 1.0 - pct


@dataclass(frozen=True)
class PriceOverride:
    """An exact hourly price for a type, optionally only in one zone and/or capacity type."""

    instance_type: str
    price: float
    zone: str | None = None
    capacity_type: str | None = None
    where: str = FIELD + ".prices"

    def matches(self, zone: str, capacity_type: str) -> bool:
        return (self.zone is None or self.zone == zone) and \
            (self.capacity_type is None or self.capacity_type == capacity_type)

    @property
    def specificity(self) -> int:
        return (self.zone is not None) + (self.capacity_type is not None)


@dataclass(frozen=True)
class CustomOffering:
    """``{zone, capacityType, price, available}`` of a custom type.

    ``capacityType: reserved`` declares a capacity reservation of ``count`` instances of the type in the zone,
    billed at ``price`` per slot-hour (id, tags and match criteria as in ``capacityReservations``).
    """

    zone: str
    capacity_type: str
    price: float
    available: bool = True
    count: int = 0
    reservation_id: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    instance_match_criteria: str = rsv.OPEN


@dataclass(frozen=True)
class CustomType:
    """A made-up instance type. Resource lists hold canonical integers (millicores, bytes, counts).

    ``allocatable``, when given, wins over capacity minus the overheads. Missing overheads take
    Karpenter's defaults for a type of this size (tiered CPU, 11 MiB per pod + 255 MiB, 1 GiB ephemeral
    kube-reserved; 100 MiB memory and 10 % nodefs eviction threshold; no system-reserved).
    """

    name: str
    capacity: Resources
    offerings: tuple[CustomOffering, ...]
    labels: Mapping[str, str] = field(default_factory=dict)
    kube_reserved: Resources | None = None
    system_reserved: Resources | None = None
    eviction_threshold: Resources | None = None
    allocatable: Resources | None = None
    where: str = FIELD + ".instanceTypes"


@dataclass(frozen=True)
class CloudCatalog:
    """Everything of ``spec.cloud`` that changes the catalog (the default changes nothing)."""

    catalog: str = "bundled"
    discounts: Discounts = field(default_factory=Discounts)
    prices: tuple[PriceOverride, ...] = ()
    instance_types: tuple[CustomType, ...] = ()
    capacity_reservations: tuple[rsv.ReservationSpec, ...] = ()

    @property
    def is_default(self) -> bool:
        return self.catalog == "bundled" and self.discounts == Discounts() and not self.prices \
            and not self.instance_types and not self.capacity_reservations


def apply(catalog: Catalog, spec: CloudCatalog) -> Catalog:
    """The catalog with ``spec`` applied (``catalog`` itself when ``spec`` changes nothing).

    Raises:
        InvalidInput: an unknown zone or capacity type in a custom type, or a price override naming a
            type that is not in the resulting catalog (with close matches), each naming its field.
    """
    if spec.is_default:
        return catalog
    if spec.catalog not in CATALOG_KINDS:
        raise InvalidInput(f"expected one of {', '.join(CATALOG_KINDS)}, got {spec.catalog!r}",
                           field=FIELD + ".catalog")
    custom = [_build_custom(t, catalog) for t in spec.instance_types]
    reserved = [r for t in spec.instance_types for r in _reserved_offerings(t)]
    custom_names = {t.name for t in custom}
    kept = [t for t in catalog.types if t.name not in custom_names] if spec.catalog == "bundled" else []
    types = kept + custom
    known = {t.name for t in types}
    for p in spec.prices:
        if p.instance_type not in known:
            close = difflib.get_close_matches(p.instance_type, sorted(known), n=3)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise InvalidInput(f"unknown instance type {p.instance_type!r}{hint}", field=p.where + ".instanceType")
        _check_zone(catalog, p.zone, p.where + ".zone")
    priced = [_priced(t, spec) for t in types]
    zone_ids = dict(zip(catalog.zones, catalog.zone_ids, strict=True))
    reservations = rsv.resolve([*spec.capacity_reservations, *reserved], {t.name: t for t in priced}, zone_ids)
    return Catalog(catalog.region, catalog.zones, catalog.zone_ids, seed=catalog.seed, settings=catalog.settings,
                   types=priced, region_types=frozenset(known), reservations=reservations)


def _priced(t: InstanceType, spec: CloudCatalog) -> InstanceType:
    family = t.labels.get(FAMILY, t.name.partition(".")[0])
    overrides = [p for p in spec.prices if p.instance_type == t.name]
    offerings = []
    for o in t.offerings:
        exact = [p for p in overrides if p.matches(o.zone, o.capacity_type)]
        if exact:
            price = max(exact, key=lambda p: p.specificity).price  # max keeps the first of equals
            offerings.append(replace(o, price=price, price_derived=False))
        else:
            offerings.append(replace(o, price=o.price * spec.discounts.factor(family, o.capacity_type)))
    return replace(t, offerings=tuple(offerings))


def _check_zone(catalog: Catalog, zone: str | None, where: str) -> None:
    if zone is not None and zone not in catalog.zones:
        raise InvalidInput(f"zone {zone!r} is not one of the cluster's zones ({', '.join(catalog.zones)})",
                           field=where)


def _build_custom(t: CustomType, catalog: Catalog) -> InstanceType:
    for key in (res.CPU, res.MEMORY):
        if t.capacity.get(key, 0) <= 0:
            raise InvalidInput(f"needs a positive {key}", field=f"{t.where}.capacity.{key}")
    values = dict(t.capacity.items())
    values.setdefault(res.PODS, DEFAULT_PODS)
    values.setdefault(res.EPHEMERAL, DEFAULT_ROOT_VOLUME)
    cap = Resources(values)
    offerings = []
    for i, o in enumerate(t.offerings):
        where = f"{t.where}.offerings[{i}]"
        _check_zone(catalog, o.zone, where + ".zone")
        if o.capacity_type == rsv.RESERVED:
            continue  # a capacity reservation, not an offering (see _reserved_offerings)
        if o.capacity_type not in CAPACITY_TYPES:
            raise InvalidInput(f"expected one of {', '.join((*CAPACITY_TYPES, rsv.RESERVED))}, "
                               f"got {o.capacity_type!r}", field=where + ".capacityType")
        offerings.append(Offering(zone=o.zone, zone_id=catalog.zone_id(o.zone), capacity_type=o.capacity_type,
                                  price=o.price, available=o.available,
                                  interruption_bucket=None if o.capacity_type == ON_DEMAND else 0))
    kube = t.kube_reserved if t.kube_reserved is not None else _default_kube_reserved(cap)
    system = t.system_reserved if t.system_reserved is not None else Resources()
    eviction = t.eviction_threshold if t.eviction_threshold is not None \
        else eviction_threshold(cap, CapacitySettings())
    overhead = kube + system + eviction
    alloc = t.allocatable if t.allocatable is not None \
        else Resources({k: max(v - overhead.get(k, 0), 0) for k, v in cap.items()})
    return InstanceType(name=t.name, labels=custom_labels(t.name, cap, t.labels), capacity=cap,
                        kube_reserved=kube, system_reserved=system, eviction_threshold=eviction,
                        allocatable=alloc, offerings=tuple(offerings))


def _reserved_offerings(t: CustomType) -> list[rsv.ReservationSpec]:
    """The custom type's ``capacityType: reserved`` offerings as capacity reservations."""
    out = []
    for i, o in enumerate(t.offerings):
        if o.capacity_type != rsv.RESERVED:
            continue
        where = f"{t.where}.offerings[{i}]"
        out.append(rsv.ReservationSpec(o.reservation_id or rsv.generated_id(t.name, o.zone, i), t.name, o.zone,
                                       o.count, dict(o.tags), instance_match_criteria=o.instance_match_criteria,
                                       price=o.price, where=where))
    return out


def _default_kube_reserved(cap: Resources) -> Resources:
    return Resources({res.CPU: kube_reserved_cpu_m(cap[res.CPU]),
                      res.MEMORY: (11 * cap[res.PODS] + 255) * MIB, res.EPHEMERAL: 1 * GIB})


def custom_labels(name: str, cap: Resources, given: Mapping[str, str]) -> dict[str, str]:
    """Well-known labels derived from the name and capacity, then ``given`` (which wins)."""
    labels = {INSTANCE_TYPE: name, ARCH: "amd64", OS: "linux",
              CPU: str(cap[res.CPU] // 1000), MEMORY: str(cap[res.MEMORY] // MIB)}
    family, dot, size = name.partition(".")
    if dot and family and size:
        labels[FAMILY], labels[SIZE] = family, size
    parts = category_generation(name)
    if parts:
        labels[CATEGORY], labels[GENERATION] = parts
    labels.update(given)
    return labels


def percent(value: object, where: str) -> float:
    """``"10%"`` or ``10`` → 0.1; anything outside 0..100 % is an error naming ``where``."""
    text = str(value).strip()
    try:
        pct = float(text[:-1] if text.endswith("%") else text)
    except ValueError:
        raise InvalidInput(f"expected a percentage like 10%, got {value!r}", field=where) from None
    if isinstance(value, bool) or not 0 <= pct <= 100:
        raise InvalidInput(f"expected a percentage between 0% and 100%, got {value!r}", field=where)
    return pct / 100
