"""The boundary between controllers and whatever runs them (SimDriver now, RealtimeDriver later).

``controllers/manager.py`` registers each controller with its ``WATCHES``; nothing else should know
which driver is running. A controller is identified by name, its work by string keys; the usual key is
``key_of(obj)`` ("namespace/name", or "name" for cluster-scoped objects), turned back by ``split_key``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ekstwin.sim import reconcile
from ekstwin.store import watch

KeyFn = Callable[[watch.WatchEvent], list[str] | str | None]
"""Map a store event to the controller keys it should wake (None or [] wakes nothing)."""


@dataclass(frozen=True, slots=True)
class Watch:
    """Wake the controller with ``key_fn(event)`` whenever an object of ``kind`` changes."""

    kind: str
    key_fn: KeyFn


class Driver(Protocol):
    """Runs registered reconcilers when their keys are due.

    Error contract: ``register`` raises ValueError for a duplicate controller name; ``enqueue`` raises
    KeyError for an unknown one. A reconcile's ``TemporaryError`` requeues the key (after its delay or
    a per-key backoff), ``PermanentError`` is recorded and the key dropped, anything else propagates.
    """

    def register(self, name: str, reconcile_fn: reconcile.Reconciler, watches: Sequence[Watch] = ()) -> None:
        """Add a controller; store events matching ``watches`` enqueue keys at the current time."""
        ...

    def enqueue(self, name: str, key: str, at: float | None = None) -> None:
        """Ask controller ``name`` to reconcile ``key`` at ``at`` (default, and at the earliest: now)."""
        ...

    def schedule_callback(self, at: float, fn: Callable[[], None]) -> object:
        """Run ``fn()`` at virtual time ``at`` (timeline actions, fault injections); returns a handle."""
        ...

    def now(self) -> float:
        """Current virtual time in seconds since scenario start."""
        ...


def key_of(obj: dict[str, Any]) -> str:
    """The work-queue key of an object: "namespace/name", or "name" when it has no namespace."""
    meta = obj["metadata"]
    ns = meta.get("namespace")
    return f"{ns}/{meta['name']}" if ns else str(meta["name"])


def split_key(key: str) -> tuple[str | None, str]:
    """Inverse of ``key_of``: (namespace or None, name)."""
    ns, sep, name = key.partition("/")
    return (ns, name) if sep else (None, ns)


def by_object(event: watch.WatchEvent) -> str:
    """Key function that wakes the changed object's own key (the common case)."""
    return key_of(event.obj)
