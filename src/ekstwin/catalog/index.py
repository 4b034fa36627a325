"""Numpy views of a catalog for the scheduler's hot paths.

Row ``i`` of every matrix is ``catalog.types[i]``. Resource matrices are int64 in canonical units with
one column per resource any type advertises; the price matrix has one column ("slot") per
(capacity type, zone) pair and holds ``inf`` where the type has no available offering in that slot.
All arrays are read-only: callers that need a changed view (ICE-cached offerings, daemonset overhead)
make their own masks or copies, so one index can be shared by every consumer of the catalog.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ekstwin.catalog.instance_types import CAPACITY_TYPES, InstanceType
from ekstwin.units.resources import CPU, EPHEMERAL, MEMORY, PODS

if TYPE_CHECKING:
    from ekstwin.catalog.catalog import Catalog

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
ObjectArray = npt.NDArray[np.object_]

_CORE_RESOURCES = (CPU, MEMORY, PODS, EPHEMERAL)


def _frozen(array: npt.NDArray[Any]) -> None:
    array.flags.writeable = False


class CatalogIndex:
    """Per-type resource and price matrices of one catalog (build once, query many times)."""

    def __init__(self, catalog: Catalog) -> None:
        types = catalog.types
        self.names: tuple[str, ...] = tuple(t.name for t in types)
        self._types = types
        self._position = {name: i for i, name in enumerate(self.names)}
        extended = sorted({k for t in types for k in t.capacity} - set(_CORE_RESOURCES))
        self.resources: tuple[str, ...] = _CORE_RESOURCES + tuple(extended)
        self._column = {name: j for j, name in enumerate(self.resources)}
        self.capacity: IntArray = self._matrix([t.capacity for t in types])
        self.allocatable: IntArray = self._matrix([t.allocatable for t in types])
        self.slots: tuple[tuple[str, str], ...] = tuple(
            (capacity_type, zone) for capacity_type in CAPACITY_TYPES for zone in catalog.zones)
        self.price: FloatArray = self._prices(types)
        self._labels: dict[str, ObjectArray] = {}

    def __len__(self) -> int:
        return len(self.names)

    def _matrix(self, lists: list[Mapping[str, int]]) -> IntArray:
        out = np.zeros((len(lists), len(self.resources)), dtype=np.int64)
        for i, values in enumerate(lists):
            for name, amount in values.items():
                out[i, self._column[name]] = amount
        _frozen(out)
        return out

    def _prices(self, types: tuple[InstanceType, ...]) -> FloatArray:
        slot_of = {slot: j for j, slot in enumerate(self.slots)}
        out = np.full((len(types), len(self.slots)), np.inf, dtype=np.float64)
        for i, t in enumerate(types):
            for o in t.offerings:
                if o.available:
                    out[i, slot_of[(o.capacity_type, o.zone)]] = o.price
        _frozen(out)
        return out

    def position(self, name: str) -> int:
        """Row of the type called ``name`` (KeyError when absent; use ``Catalog.get`` for user input)."""
        return self._position[name]

    def column(self, resource: str) -> int | None:
        """Column of ``resource`` in the resource matrices, None when no type advertises it."""
        return self._column.get(resource)

    def label_column(self, key: str) -> ObjectArray:
        """The value of label ``key`` for every type (None where the type lacks it); cached per key."""
        found = self._labels.get(key)
        if found is None:
            found = np.empty(len(self._types), dtype=object)
            found[:] = [t.labels.get(key) for t in self._types]
            _frozen(found)
            self._labels[key] = found
        return found

    def slot_mask(self, capacity_types: Collection[str] | None = None,
                  zones: Collection[str] | None = None) -> BoolArray:
        """Which price-matrix columns belong to the given capacity types and zones (None = all)."""
        return np.array([(capacity_types is None or c in capacity_types) and (zones is None or z in zones)
                         for c, z in self.slots], dtype=np.bool_)

    def cheapest_price(self, type_mask: BoolArray | None = None,
                       capacity_types: Collection[str] | None = None,
                       zones: Collection[str] | None = None) -> FloatArray:
        """Per type, the lowest available price among the selected slots.

        The result has one entry per catalog type, ``inf`` for types outside ``type_mask`` and for types
        with no available offering in the selected capacity types and zones.
        """
        selected = self.price[:, self.slot_mask(capacity_types, zones)]
        if selected.shape[1] == 0:
            return np.full(len(self.names), np.inf)
        cheapest = selected.min(axis=1)
        return cheapest if type_mask is None else np.where(type_mask, cheapest, np.inf)

    def fits(self, requests: Mapping[str, int]) -> BoolArray:
        """Types whose allocatable covers every positive request (none, if a resource is unknown)."""
        ok = np.ones(len(self.names), dtype=np.bool_)
        for name, amount in requests.items():
            if amount <= 0:
                continue
            col = self._column.get(name)
            if col is None:
                return np.zeros(len(self.names), dtype=np.bool_)
            ok &= self.allocatable[:, col] >= amount
        return ok
