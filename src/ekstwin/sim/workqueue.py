"""One controller's pending keys: deduplication, earliest-due-time wins, and per-key backoff.

A driver keeps one ``WorkQueue`` per registered controller and arms a timer whenever ``add`` says the
key's due time changed. The queue itself knows nothing about timers or clocks, so the simulated and the
realtime driver share it. Semantics follow controller work queues: a key added many times before it
runs, runs once; a request for a later time than the one pending is dropped (the pending run will
decide again); a key added while it runs is queued afresh.
"""

from __future__ import annotations

DEFAULT_BASE_DELAY_S = 0.005
"""First backoff step (controller-runtime's default item backoff starts at 5 ms)."""
DEFAULT_MAX_DELAY_S = 1000.0
"""Backoff cap (controller-runtime caps per-item backoff at 1000 s)."""


class WorkQueue:
    """Pending keys with their due times, and consecutive-failure counts for backoff."""

    def __init__(self, base_delay_s: float = DEFAULT_BASE_DELAY_S,
                 max_delay_s: float = DEFAULT_MAX_DELAY_S) -> None:
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self._due: dict[str, float] = {}
        self._failures: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._due)

    def __contains__(self, key: object) -> bool:
        return key in self._due

    def add(self, key: str, at: float) -> bool:
        """Ask for ``key`` to run at ``at``; True when that became its due time (arm a timer for it)."""
        due = self._due.get(key)
        if due is not None and due <= at:
            return False
        self._due[key] = at
        return True

    def due(self, key: str) -> float | None:
        """When ``key`` is due, or None if it is not pending."""
        return self._due.get(key)

    def start(self, key: str) -> None:
        """Mark ``key`` as running: it leaves the pending set, so new adds queue it again."""
        del self._due[key]

    def backoff(self, key: str) -> float:
        """Count a failure of ``key`` and return how long to wait: base × 2^(failures-1), capped."""
        n = self._failures.get(key, 0) + 1
        self._failures[key] = n
        return min(self.base_delay_s * 2.0 ** min(n - 1, 64), self.max_delay_s)

    def forget(self, key: str) -> None:
        """Reset ``key``'s backoff after a run that did not fail temporarily."""
        self._failures.pop(key, None)

    def failures(self, key: str) -> int:
        """Consecutive temporary failures of ``key`` since it last succeeded."""
        return self._failures.get(key, 0)
