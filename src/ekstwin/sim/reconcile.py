"""What a reconcile returns, and the two errors that state its retry policy.

Controllers (``ekstwin.controllers``) return ``Result`` and raise ``TemporaryError``/``PermanentError``;
the drivers apply them. Anything else a reconcile raises is a bug and propagates out of the driver.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ekstwin.errors import EkstwinError


@dataclass(frozen=True, slots=True)
class Result:
    """``requeue_after``: run this key again that many seconds from now (None: only when woken)."""

    requeue_after: float | None = None


def result_min(*results: Result) -> Result:
    """Merge sub-reconciler results: the soonest requeue wins; no requeue if none asked for one."""
    delays = [r.requeue_after for r in results if r.requeue_after is not None]
    return Result(min(delays)) if delays else Result()


class TemporaryError(EkstwinError):
    """Retry this key later: after ``delay`` seconds, or with per-key exponential backoff if None."""

    def __init__(self, message: str = "", delay: float | None = None) -> None:
        self.delay = delay
        super().__init__(message)


class PermanentError(EkstwinError):
    """Retrying will not help: the driver records it and does not requeue the key."""


Reconciler = Callable[[str, float], Result]
"""``reconcile(key, now) -> Result``, with the controller's dependencies already bound."""
