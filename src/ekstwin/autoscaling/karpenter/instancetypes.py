"""Vectorised instance-type views for Karpenter's hot paths.

A ``TypeTable`` holds one row per instance type: the catalog index's allocatable and capacity matrices and
label columns, plus an availability/price cube over (type, zone, capacity type). Masks for a requirement and for
a (zone, capacity-type) requirement pair are cached, since the same few requirements recur for thousands
of pods. Built once per scenario from the catalog (``TypeTable.from_catalog``).

The ``reserved`` column holds the catalog's capacity reservations as Karpenter prices them (see
``reservations``): one ``ReservedOffering`` per reservation, so requirements on
``karpenter.k8s.aws/capacity-reservation-id`` can pick reservations apart; variants (``without``) turn off the
reservations Karpenter cannot use right now (not selected by an EC2NodeClass, gate off, no free slot).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ekstwin.catalog.catalog import Catalog
from ekstwin.catalog.index import CatalogIndex
from ekstwin.catalog.instance_types import InstanceType
from ekstwin.model import requirements as rq
from ekstwin.units.resources import Resources

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

CAPACITY_TYPES = ("reserved", "spot", "on-demand")
_RESERVED = 0
RESERVED_PRICE_DIVISOR = 10_000_000.0
"""Karpenter prices a reserved offering at the on-demand price divided by this (near free, order kept)."""


@dataclass(frozen=True, slots=True)
class ReservedOffering:
    """One capacity reservation as an offering: its type's row, its zone's column, Karpenter's price."""

    reservation_id: str
    row: int
    zone: int
    price: float
    reservation_type: str = "default"


@dataclass
class TypeTable:
    """Instance types of one catalog as numpy columns (row i = ``types[i]``), on top of ``CatalogIndex``."""

    types: tuple[InstanceType, ...]
    index: CatalogIndex
    zones: tuple[str, ...]
    available: BoolArray  # [type, zone, capacity type]
    price: FloatArray  # [type, zone, capacity type], inf when unavailable
    reserved: tuple[ReservedOffering, ...] = ()
    reserved_off: frozenset[str] = frozenset()
    """Reservations this variant treats as unavailable (their cells are inf unless another one is on)."""
    _mask_cache: dict[rq.Requirement, BoolArray] = field(default_factory=dict)
    _offer_cache: dict[tuple[rq.Requirement, rq.Requirement, rq.Requirement | None],
                       tuple[BoolArray, FloatArray]] = field(default_factory=dict)
    _cube_cache: dict[rq.Requirement, FloatArray] = field(default_factory=dict)
    _fits_cache: dict[Resources, BoolArray] = field(default_factory=dict)
    _variants: dict[tuple[frozenset[tuple[str, str, str]], frozenset[str]], TypeTable] = field(default_factory=dict)

    @staticmethod
    def from_catalog(catalog: Catalog) -> TypeTable:
        """Reuse the catalog's index and add the (type, zone, capacity type) price cube Karpenter needs."""
        index = catalog.index
        zones = tuple(catalog.zones)
        price = np.full((len(index), len(zones), len(CAPACITY_TYPES)), np.inf)
        z_of = {z: i for i, z in enumerate(zones)}
        for slot, (capacity_type, zone) in enumerate(index.slots):
            if capacity_type in CAPACITY_TYPES and zone in z_of:
                price[:, z_of[zone], CAPACITY_TYPES.index(capacity_type)] = index.price[:, slot]
        reserved = tuple(ReservedOffering(r.id, index.position(r.instance_type), z_of[r.zone],
                                          r.price / RESERVED_PRICE_DIVISOR, r.reservation_type)
                         for r in catalog.reservations if r.instance_type in catalog and r.zone in z_of)
        _fill_reserved(price, reserved, lambda _o: True)
        return TypeTable(tuple(catalog.types), index, zones, np.isfinite(price), price, reserved)

    @property
    def resources(self) -> tuple[str, ...]:
        """Resource names of the columns of ``alloc`` and ``capacity``."""
        return self.index.resources

    @property
    def alloc(self) -> IntArray:
        """Allocatable per type and resource."""
        return self.index.allocatable

    @property
    def capacity(self) -> IntArray:
        """Capacity per type and resource."""
        return self.index.capacity

    @property
    def names(self) -> tuple[str, ...]:
        """Type names by row."""
        return self.index.names

    def __len__(self) -> int:
        return len(self.types)

    def without(self, unavailable: frozenset[tuple[str, str, str]],
                reservations_off: frozenset[str] = frozenset()) -> TypeTable:
        """This table with some offerings unavailable: (capacity type, instance type, zone) triples, as in
        Karpenter's unavailable-offerings (ICE) cache, and the capacity reservations in ``reservations_off``.
        Returns ``self`` when nothing applies; the variant is remembered, so passes with the same caches share
        one table (and its mask caches)."""
        reservations_off = reservations_off & frozenset(o.reservation_id for o in self.reserved)
        if not unavailable and not reservations_off:
            return self
        key = (unavailable, reservations_off)
        hit = self._variants.get(key)
        if hit is not None:
            return hit
        price = self.price.copy()
        if reservations_off:
            for o in self.reserved:
                price[o.row, o.zone, _RESERVED] = np.inf
            _fill_reserved(price, self.reserved, lambda o: o.reservation_id not in reservations_off)
        rows = {n: i for i, n in enumerate(self.names)}
        for ct, name, zone in unavailable:
            if ct in CAPACITY_TYPES and name in rows and zone in self.zones:
                price[rows[name], self.zones.index(zone), CAPACITY_TYPES.index(ct)] = np.inf
        variant = TypeTable(self.types, self.index, self.zones, np.isfinite(price), price, self.reserved,
                            reservations_off)
        if len(self._variants) > 64:
            self._variants.clear()
        self._variants[key] = variant
        return variant

    def price_cube(self, reqs: rq.Requirements) -> FloatArray:
        """The price cube as offerings compatible with ``reqs``'s capacity-reservation-id requirement see it:
        spot and on-demand offerings lack the label, reserved ones carry their reservation's id."""
        rr = reqs.get(rq.CAPACITY_RESERVATION_ID)
        if rr is None:
            return self.price
        hit = self._cube_cache.get(rr)
        if hit is None:
            hit = self.price.copy()
            if not rr.allows_absent:
                hit[:, :, _RESERVED + 1:] = np.inf
            for o in self.reserved:
                hit[o.row, o.zone, _RESERVED] = np.inf
            _fill_reserved(hit, self.reserved,
                           lambda o: o.reservation_id not in self.reserved_off and rr.has(o.reservation_id))
            self._cube_cache[rr] = hit
        return hit

    def label_column(self, key: str) -> npt.NDArray[Any]:
        """Label values per type (None where the type does not have the label)."""
        return self.index.label_column(key)

    def requirement_mask(self, r: rq.Requirement) -> BoolArray:
        """Types whose own label for ``r.key`` is compatible with ``r``.

        Zone and capacity type are offering properties (see ``offering_mask``); hostname and custom keys
        are not type properties and never filter types.
        """
        hit = self._mask_cache.get(r)
        if hit is not None:
            return hit
        if r.key in (rq.ZONE, rq.CAPACITY_TYPE, rq.ZONE_ID) or not self._is_type_key(r.key):
            mask = np.ones(len(self.types), dtype=bool)
        else:
            col = self.label_column(r.key)
            mask = np.fromiter((rq.matches_label(r, {r.key: v}) if v is not None else
                                r.operator in (rq.NOT_IN, rq.DOES_NOT_EXIST) for v in col),
                               dtype=bool, count=len(col))
        self._mask_cache[r] = mask
        return mask

    def _is_type_key(self, key: str) -> bool:
        return key in (rq.INSTANCE_TYPE, rq.ARCH, rq.OS) or key.startswith("karpenter.k8s.aws/instance-")

    def requirements_mask(self, reqs: rq.Requirements) -> BoolArray:
        """Types compatible with every type-level key of ``reqs`` and with an available offering."""
        mask: BoolArray = self.offering_mask(reqs)[0].copy()
        for r in reqs.values():
            if self._is_type_key(r.key):
                mask &= self.requirement_mask(r)
        return mask

    def offering_mask(self, reqs: rq.Requirements) -> tuple[BoolArray, FloatArray]:
        """Per type: has an available offering in an allowed zone and capacity type; and its cheapest price."""
        zr = reqs.get_or_exists(rq.ZONE)
        cr = reqs.get_or_exists(rq.CAPACITY_TYPE)
        rr = reqs.get(rq.CAPACITY_RESERVATION_ID)
        hit = self._offer_cache.get((zr, cr, rr))
        if hit is None:
            zmask = np.array([zr.has(z) for z in self.zones], dtype=bool)
            cmask = np.array([cr.has(c) for c in CAPACITY_TYPES], dtype=bool)
            sub = self.price_cube(reqs)[:, zmask][:, :, cmask]
            cheapest = sub.reshape(len(self.types), -1).min(axis=1) if sub.size else np.full(
                len(self.types), np.inf)
            hit = (np.isfinite(cheapest), cheapest)
            self._offer_cache[(zr, cr, rr)] = hit
        return hit

    def request_vector(self, requests: Resources) -> IntArray | None:
        """``requests`` as a row over ``resources``; None when it asks for a resource no type has."""
        if any(v > 0 and k not in self.resources for k, v in requests.items()):
            return None
        return np.array([requests[r] for r in self.resources], dtype=np.int64)

    def fits(self, requests: Resources) -> BoolArray:
        """Types whose allocatable covers ``requests``."""
        cached = self._fits_cache.get(requests)
        if cached is not None:
            return cached
        vec = self.request_vector(requests)
        hit: BoolArray = (np.zeros(len(self.types), dtype=bool) if vec is None
                          else np.asarray((self.alloc >= vec).all(axis=1), dtype=bool))
        if len(self._fits_cache) < 4096:
            self._fits_cache[requests] = hit
        return hit

    def zones_of(self, idx: int, reqs: rq.Requirements) -> list[str]:
        """Zones where type ``idx`` has an available offering allowed by ``reqs``."""
        cr = reqs.get_or_exists(rq.CAPACITY_TYPE)
        zr = reqs.get_or_exists(rq.ZONE)
        cube = self.price_cube(reqs)
        return [z for zi, z in enumerate(self.zones) if zr.has(z) and any(
            np.isfinite(cube[idx, zi, ci]) for ci, c in enumerate(CAPACITY_TYPES) if cr.has(c))]


def _fill_reserved(price: FloatArray, offers: tuple[ReservedOffering, ...],
                   keep: Callable[[ReservedOffering], bool]) -> None:
    """Write the kept reserved offerings into the cube's reserved column (the cheapest wins a cell)."""
    for o in offers:
        if keep(o):
            price[o.row, o.zone, _RESERVED] = min(price[o.row, o.zone, _RESERVED], o.price)
