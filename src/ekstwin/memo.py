"""Memoisation keyed by object identity, for immutable values reused across many calls.

The store never mutates a dict it handed out and model values are frozen, so "the same object" means "the
same value". Keys are ``id(obj)``; each entry keeps its object alive (so an id cannot be reused while cached)
and is checked with ``is``. The memo empties itself past ``limit`` entries to bound memory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class IdentityMemo(Generic[K, V]):
    """``memo(obj, compute)`` returns ``compute(obj)``, computed once per object."""

    __slots__ = ("_entries", "_limit")

    def __init__(self, limit: int = 100_000) -> None:
        self._entries: dict[int, tuple[K, V]] = {}
        self._limit = limit

    def __call__(self, obj: K, compute: Callable[[K], V]) -> V:
        hit = self._entries.get(id(obj))
        if hit is not None and hit[0] is obj:
            return hit[1]
        if len(self._entries) >= self._limit:
            self._entries.clear()
        value = compute(obj)
        self._entries[id(obj)] = (obj, value)
        return value
