"""Resource lists as exact integers.

Canonical units: ``cpu`` in millicores, every other resource in whole base units (bytes for memory and
ephemeral-storage, counts for pods and extended resources). ``Resources`` is an immutable mapping with the
arithmetic Karpenter and kube-scheduler use (sum, subtract, fits, per-key max).
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterable, Iterator, KeysView, Mapping, ValuesView
from typing import Any

from ekstwin.units import quantity

CPU = "cpu"
MEMORY = "memory"
PODS = "pods"
EPHEMERAL = "ephemeral-storage"


def to_canonical(name: str, value: str | int | float) -> int:
    """Convert one quantity to canonical integer units for resource ``name``."""
    return quantity.milli(value) if name == CPU else quantity.whole(value)


def render(name: str, value: int) -> str:
    """Render a canonical value as a Kubernetes quantity string."""
    if name == CPU:
        return quantity.format_cpu(value)
    if name in (MEMORY, EPHEMERAL) or name.startswith("hugepages-"):
        return quantity.format_bytes(value)
    return str(value)


class Resources(Mapping[str, int]):
    """An immutable resource list in canonical integer units. Missing keys read as 0."""

    __slots__ = ("_d", "_hash")

    def __init__(self, values: Mapping[str, int] | Iterable[tuple[str, int]] = ()) -> None:
        d = dict(values)
        self._d: dict[str, int] = {k: v for k, v in d.items() if v != 0}
        self._hash: int | None = None

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | None) -> Resources:
        """Build from a Kubernetes resource list such as ``{"cpu": "1", "memory": "1.5Gi"}``."""
        if not raw:
            return EMPTY
        return cls({k: to_canonical(k, v) for k, v in raw.items()})

    def __getitem__(self, key: str) -> int:
        return self._d.get(key, 0)

    def get(self, key: str, default: int | None = 0) -> int:  # type: ignore[override]
        return self._d.get(key, 0 if default is None else default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    # The Mapping mixins build views through __iter__/__getitem__; resource lists are summed and compared on
    # every hot path (packing, snapshots), so hand out the underlying dict's views directly.
    def items(self) -> ItemsView[str, int]:
        return self._d.items()

    def keys(self) -> KeysView[str]:
        return self._d.keys()

    def values(self) -> ValuesView[int]:
        return self._d.values()

    def __contains__(self, key: object) -> bool:
        return key in self._d

    def __len__(self) -> int:
        return len(self._d)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._d.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Resources):
            return self._d == other._d
        if isinstance(other, Mapping):
            return self._d == {k: v for k, v in other.items() if v != 0}
        return NotImplemented

    def __repr__(self) -> str:
        return f"Resources({self.to_k8s()})"

    def __add__(self, other: Mapping[str, int]) -> Resources:
        d = dict(self._d)
        for k, v in other.items():
            d[k] = d.get(k, 0) + v
        return Resources(d)

    def __sub__(self, other: Mapping[str, int]) -> Resources:
        d = dict(self._d)
        for k, v in other.items():
            d[k] = d.get(k, 0) - v
        return Resources(d)

    def fits(self, available: Mapping[str, int]) -> bool:
        """True when every requested (positive) amount is ≤ what ``available`` has."""
        return all(v <= available.get(k, 0) for k, v in self._d.items() if v > 0)

    def exceeding(self, available: Mapping[str, int]) -> list[str]:
        """Names of resources where this request exceeds ``available`` (sorted)."""
        return sorted(k for k, v in self._d.items() if v > 0 and v > available.get(k, 0))

    def max_with(self, other: Mapping[str, int]) -> Resources:
        """Per-key maximum of two lists."""
        d = dict(self._d)
        for k, v in other.items():
            if v > d.get(k, 0):
                d[k] = v
        return Resources(d)

    def clamp_non_negative(self) -> Resources:
        """Negative entries become 0 (e.g. expected daemonset overhead)."""
        return Resources({k: v for k, v in self._d.items() if v > 0})

    def to_k8s(self) -> dict[str, str]:
        """Render as a Kubernetes resource list with sorted keys."""
        return {k: render(k, self._d[k]) for k in sorted(self._d)}


def total(items: Iterable[Mapping[str, int]]) -> Resources:
    """Sum many resource lists."""
    d: dict[str, int] = {}
    for r in items:
        for k, v in r.items():
            d[k] = d.get(k, 0) + v
    return Resources(d)


EMPTY = Resources()
