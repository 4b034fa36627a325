"""Vectorised instance-type views for Karpenter's hot paths.

A ``TypeTable`` holds one row per instance type: the catalog index's allocatable and capacity matrices and
label columns, plus an availability/price cube over (type, zone, capacity type). Masks for a requirement and for
a (zone, capacity-type) requirement pair are cached, since the same few requirements recur for thousands
of pods. Built once per scenario from the catalog (``TypeTable.from_catalog``).
"""

from __future__ import annotations

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


@dataclass
class TypeTable:
    """Instance types of one catalog as numpy columns (row i = ``types[i]``), on top of ``CatalogIndex``."""

    types: tuple[InstanceType, ...]
    index: CatalogIndex
    zones: tuple[str, ...]
    available: BoolArray  # [type, zone, capacity type]
    price: FloatArray  # [type, zone, capacity type], inf when unavailable
    _mask_cache: dict[rq.Requirement, BoolArray] = field(default_factory=dict)
    _offer_cache: dict[tuple[rq.Requirement, rq.Requirement], tuple[BoolArray, FloatArray]] = field(
        default_factory=dict)
    _fits_cache: dict[Resources, BoolArray] = field(default_factory=dict)
    _variants: dict[frozenset[tuple[str, str, str]], TypeTable] = field(default_factory=dict)

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
        return TypeTable(tuple(catalog.types), index, zones, np.isfinite(price), price)

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

    def without(self, unavailable: frozenset[tuple[str, str, str]]) -> TypeTable:
        """This table with some offerings unavailable: (capacity type, instance type, zone) triples, as in
        Karpenter's unavailable-offerings (ICE) cache. Returns ``self`` when nothing applies; the variant is
        remembered, so passes with the same cache share one table (and its mask caches)."""
        if not unavailable:
            return self
        hit = self._variants.get(unavailable)
        if hit is not None:
            return hit
        price = self.price.copy()
        rows = {n: i for i, n in enumerate(self.names)}
        for ct, name, zone in unavailable:
            if ct in CAPACITY_TYPES and name in rows and zone in self.zones:
                price[rows[name], self.zones.index(zone), CAPACITY_TYPES.index(ct)] = np.inf
        variant = TypeTable(self.types, self.index, self.zones, np.isfinite(price), price)
        if len(self._variants) > 64:
            self._variants.clear()
        self._variants[unavailable] = variant
        return variant

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
        hit = self._offer_cache.get((zr, cr))
        if hit is None:
            zmask = np.array([zr.has(z) for z in self.zones], dtype=bool)
            cmask = np.array([cr.has(c) for c in CAPACITY_TYPES], dtype=bool)
            sub = self.price[:, zmask][:, :, cmask]
            cheapest = sub.reshape(len(self.types), -1).min(axis=1) if sub.size else np.full(
                len(self.types), np.inf)
            hit = (np.isfinite(cheapest), cheapest)
            self._offer_cache[(zr, cr)] = hit
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
        return [z for zi, z in enumerate(self.zones) if zr.has(z) and any(
            self.available[idx, zi, ci] for ci, c in enumerate(CAPACITY_TYPES) if cr.has(c))]
