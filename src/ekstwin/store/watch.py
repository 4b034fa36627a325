"""The store's append-only change log: resumable watch history plus synchronous subscribers.

Only ``store.Store`` appends. Readers are the HTTP API (``events_since`` to resume a watch from a
resourceVersion, ``Gone`` → HTTP 410) and drivers (``subscribe`` to turn changes into controller keys).
Every mutation bumps the store's resourceVersion by exactly one and appends exactly one event, so event
``n`` in the window sits at offset ``n - first_rv``; no search is needed to resume.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ekstwin.errors import EkstwinError

EventType = Literal["ADDED", "MODIFIED", "DELETED"]
Subscriber = Callable[["WatchEvent"], None]


class Gone(EkstwinError):
    """The requested resourceVersion is older than the retained window (Kubernetes answers 410 Gone)."""

    def __init__(self, requested: int, oldest: int) -> None:
        self.requested = requested
        self.oldest = oldest
        super().__init__(f"too old resource version: {requested} (oldest retained: {oldest})")


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One change. ``obj`` is the state after it (for DELETED: the last state, at the deletion's rv).

    ``old`` is the state before it (None for ADDED), so a consumer can react to what changed, e.g. a pod
    moving from one node to another wakes both nodes. Both dicts are shared with the store: read only.
    """

    type: EventType
    kind: str
    obj: dict[str, Any]
    resource_version: int
    old: dict[str, Any] | None = None


class WatchLog:
    """A bounded window of recent events and the subscribers notified of each new one."""

    def __init__(self, window: int = 100_000) -> None:
        if window < 1:
            raise ValueError("watch window must hold at least one event")
        self.window = window
        self._events: list[WatchEvent] = []
        self._start = 0  # offset of the first live event in _events; trimmed lazily to amortise the copy
        self._all: list[Subscriber] = []
        self._by_kind: dict[str, list[Subscriber]] = {}
        self._pending: list[WatchEvent] = []
        self._dispatching = False

    @property
    def oldest_rv(self) -> int | None:
        """resourceVersion of the oldest retained event, or None when nothing was ever logged."""
        return self._events[self._start].resource_version if self._start < len(self._events) else None

    @property
    def last_rv(self) -> int | None:
        """resourceVersion of the newest event, or None when nothing was ever logged."""
        return self._events[-1].resource_version if self._events else None

    def __len__(self) -> int:
        return len(self._events) - self._start

    def retained(self) -> list[WatchEvent]:
        """Every event still in the window, oldest first."""
        return self._events[self._start:]

    def append(self, event: WatchEvent) -> None:
        """Record ``event`` and notify subscribers (called by the store after it has applied the change)."""
        self._events.append(event)
        if len(self._events) - self._start > self.window:
            self._start += 1
            if self._start >= self.window:  # drop the dead prefix once it is as big as the window
                del self._events[: self._start]
                self._start = 0
        self._notify(event)

    def events_since(self, rv: int, kind: str | None = None) -> list[WatchEvent]:
        """Events with resourceVersion greater than ``rv``, optionally of one kind, oldest first.

        Raises:
            Gone: events after ``rv`` have already left the window, so a resumed watch would miss some.
        """
        oldest = self.oldest_rv
        if oldest is None or rv >= self._events[-1].resource_version:
            return []
        if rv < oldest - 1:
            raise Gone(rv, oldest)
        tail = self._events[self._start + (rv + 1 - oldest):]
        return tail if kind is None else [e for e in tail if e.kind == kind]

    def subscribe(self, callback: Subscriber, kind: str | None = None) -> Callable[[], None]:
        """Call ``callback(event)`` after every change (of ``kind`` only, if given); returns an unsubscriber.

        Callbacks run synchronously and in log order: if a callback writes to the store, the new event is
        delivered after every subscriber has seen the current one.
        """
        target = self._all if kind is None else self._by_kind.setdefault(kind, [])
        target.append(callback)
        return lambda: target.remove(callback)

    def _notify(self, event: WatchEvent) -> None:
        self._pending.append(event)
        if self._dispatching:
            return  # a subscriber wrote to the store; the outer loop delivers this event next
        self._dispatching = True
        try:
            i = 0
            while i < len(self._pending):
                ev = self._pending[i]
                for cb in (*self._by_kind.get(ev.kind, ()), *self._all):
                    cb(ev)
                i += 1
        finally:
            # a raising subscriber is a bug; drop the rest rather than deliver it later out of context
            self._pending.clear()
            self._dispatching = False
