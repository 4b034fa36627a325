"""Vectorised instance-type views for Karpenter's hot paths.

A ``TypeTable`` holds one row per instance type: allocatable and capacity as int64 matrices, label
columns, and an availability/price cube over (type, zone, capacity type). Masks for a requirement and for
a (zone, capacity-type) requirement pair are cached, since the same few requirements recur for thousands
of pods. Built once per scenario from the catalog's ``InstanceType`` values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ekstwin.catalog.instance_types import InstanceType
from ekstwin.model import requirements as rq
from ekstwin.units.resources import Resources

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

CAPACITY_TYPES = ("reserved", "spot", "on-demand")


@dataclass
class TypeTable:
    """Instance types of one catalog as numpy columns (row i = ``types[i]``)."""

    types: tuple[InstanceType, ...]
    resources: tuple[str, ...]
    alloc: IntArray
    capacity: IntArray
    zones: tuple[str, ...]
    available: BoolArray  # [type, zone, capacity type]
    price: FloatArray  # [type, zone, capacity type], inf when unavailable
    names: tuple[str, ...] = ()
    _labels: dict[str, npt.NDArray[Any]] = field(default_factory=dict)
    _mask_cache: dict[rq.Requirement, BoolArray] = field(default_factory=dict)
    _offer_cache: dict[tuple[rq.Requirement, rq.Requirement], tuple[BoolArray, FloatArray]] = field(
        default_factory=dict)
    _fits_cache: dict[Resources, BoolArray] = field(default_factory=dict)

    @staticmethod
    def build(types: Sequence[InstanceType], zones: Sequence[str]) -> TypeTable:
        """Vectorise ``types`` over ``zones``."""
        names = sorted({k for t in types for k in t.allocatable} | {k for t in types for k in t.capacity})
        order = ("cpu", "memory", "pods")
        resources = tuple([r for r in order if r in names] + [r for r in names if r not in order])
        alloc = np.array([[t.allocatable[r] for r in resources] for t in types], dtype=np.int64).reshape(
            len(types), len(resources))
        cap = np.array([[t.capacity[r] for r in resources] for t in types], dtype=np.int64).reshape(
            len(types), len(resources))
        z_index = {z: i for i, z in enumerate(zones)}
        avail = np.zeros((len(types), len(zones), len(CAPACITY_TYPES)), dtype=bool)
        price = np.full(avail.shape, np.inf)
        for i, t in enumerate(types):
            for o in t.offerings:
                zi = z_index.get(o.zone)
                if zi is None or o.capacity_type not in CAPACITY_TYPES:
                    continue
                ci = CAPACITY_TYPES.index(o.capacity_type)
                if o.available:
                    avail[i, zi, ci] = True
                    price[i, zi, ci] = o.price
        return TypeTable(tuple(types), resources, alloc, cap, tuple(zones), avail, price,
                         tuple(t.name for t in types))

    def __len__(self) -> int:
        return len(self.types)

    def label_column(self, key: str) -> npt.NDArray[Any]:
        """Label values per type (None where the type does not have the label)."""
        col = self._labels.get(key)
        if col is None:
            col = np.array([t.labels.get(key) for t in self.types], dtype=object)
            self._labels[key] = col
        return col

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
