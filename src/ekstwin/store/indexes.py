"""Secondary indexes over stored objects, kept up to date on every write.

``store.Store`` owns an ``Indexes`` and calls ``put``/``remove`` inside each mutation; readers go through
``Store.by_index``. An index maps a value (a node name, an owner uid, a label value) to the set of object
keys whose ``key_fn`` yields it. Buckets hold keys, not objects, so an update that leaves an object's
index values alone costs one ``key_fn`` call and no bucket edits. The values each object was filed
under are remembered, so removal never re-derives them from an object that may have been edited since.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]
ObjKey = tuple[str, str]
"""(namespace, name); namespace is "" for cluster-scoped kinds."""
KeyFn = Callable[[Obj], str | Iterable[str] | None]
"""Index values of an object: one string, several, or None (not indexed)."""

POD_NODE_NAME = "spec.nodeName"
"""Pods by ``spec.nodeName``; unbound pods are filed under "" so pending pods are one lookup."""
POD_PHASE = "status.phase"
POD_OWNER_UID = "ownerUID"
"""Pods by the uid of each owner reference."""
NODE_POOL = "label:karpenter.sh/nodepool"
NODE_PROVIDER_ID = "spec.providerID"
CLAIM_POOL = "label:karpenter.sh/nodepool"
CLAIM_PROVIDER_ID = "status.providerID"
CLAIM_NODE_NAME = "status.nodeName"


@dataclass(slots=True)
class Index:
    """One named index over one kind."""

    kind: str
    name: str
    key_fn: KeyFn
    buckets: dict[str, dict[ObjKey, None]] = field(default_factory=dict)
    filed: dict[ObjKey, tuple[str, ...]] = field(default_factory=dict)

    def values_of(self, obj: Obj) -> tuple[str, ...]:
        """The index values ``obj`` belongs under, deduplicated, in ``key_fn`` order."""
        raw = self.key_fn(obj)
        if raw is None:
            return ()
        if isinstance(raw, str):
            return (raw,)
        return tuple(dict.fromkeys(raw))

    def put(self, key: ObjKey, obj: Obj) -> None:
        new = self.values_of(obj)
        old = self.filed.get(key, ())
        if new == old:
            return
        for v in old:
            if v not in new:
                self._drop(v, key)
        for v in new:
            if v not in old:
                self.buckets.setdefault(v, {})[key] = None
        if new:
            self.filed[key] = new
        else:
            self.filed.pop(key, None)

    def remove(self, key: ObjKey) -> None:
        for v in self.filed.pop(key, ()):
            self._drop(v, key)

    def keys(self, value: str) -> Iterable[ObjKey]:
        return self.buckets.get(value, {}).keys()

    def _drop(self, value: str, key: ObjKey) -> None:
        bucket = self.buckets[value]
        del bucket[key]
        if not bucket:  # empty buckets would make check_valid and memory drift with churn
            del self.buckets[value]


class Indexes:
    """Every index of every kind."""

    def __init__(self) -> None:
        self._by_kind: dict[str, dict[str, Index]] = {}

    def add(self, kind: str, name: str, key_fn: KeyFn, existing: Iterable[tuple[ObjKey, Obj]]) -> None:
        """Register an index and file the ``existing`` objects of ``kind`` under it.

        Raises:
            ValueError: ``kind`` already has an index called ``name``.
        """
        per_kind = self._by_kind.setdefault(kind, {})
        if name in per_kind:
            raise ValueError(f"{kind} already has an index named {name!r}")
        index = Index(kind, name, key_fn)
        for key, obj in existing:
            index.put(key, obj)
        per_kind[name] = index

    def get(self, kind: str, name: str) -> Index:
        """The index ``name`` of ``kind``.

        Raises:
            KeyError: there is no such index (a programming error, not a missing object).
        """
        try:
            return self._by_kind[kind][name]
        except KeyError:
            raise KeyError(f"{kind} has no index named {name!r}") from None

    def put(self, kind: str, key: ObjKey, obj: Obj) -> None:
        for index in self._by_kind.get(kind, {}).values():
            index.put(key, obj)

    def remove(self, kind: str, key: ObjKey) -> None:
        for index in self._by_kind.get(kind, {}).values():
            index.remove(key)

    def __iter__(self) -> Iterator[Index]:
        for per_kind in self._by_kind.values():
            yield from per_kind.values()


def _spec(obj: Obj, name: str) -> str | None:
    v = (obj.get("spec") or {}).get(name)
    return v if isinstance(v, str) and v else None


def _status(obj: Obj, name: str) -> str | None:
    v = (obj.get("status") or {}).get(name)
    return v if isinstance(v, str) and v else None


def _label(name: str) -> KeyFn:
    def key_fn(obj: Obj) -> str | None:
        v = ((obj.get("metadata") or {}).get("labels") or {}).get(name)
        return v if isinstance(v, str) else None
    return key_fn


def _owner_uids(obj: Obj) -> list[str]:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or ()
    return [r["uid"] for r in refs if isinstance(r, dict) and isinstance(r.get("uid"), str)]


DEFAULT_INDEXES: tuple[tuple[str, str, KeyFn], ...] = (
    ("Pod", POD_NODE_NAME, lambda o: _spec(o, "nodeName") or ""),
    ("Pod", POD_PHASE, lambda o: _status(o, "phase")),
    ("Pod", POD_OWNER_UID, _owner_uids),
    ("Node", NODE_POOL, _label("karpenter.sh/nodepool")),
    ("Node", NODE_PROVIDER_ID, lambda o: _spec(o, "providerID")),
    ("NodeClaim", CLAIM_POOL, _label("karpenter.sh/nodepool")),
    ("NodeClaim", CLAIM_PROVIDER_ID, lambda o: _status(o, "providerID")),
    ("NodeClaim", CLAIM_NODE_NAME, lambda o: _status(o, "nodeName")),
)
"""(kind, index name, key function) the store registers at construction."""
