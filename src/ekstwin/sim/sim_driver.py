"""SimDriver: runs controllers over the store in virtual time, as fast as the CPU allows.

``scenario.run`` builds one, lets ``controllers.manager`` register every controller, schedules the
timeline with ``schedule_callback`` and calls ``run_until(horizon)``. Every reconcile and timeline
action is a kernel entry, so time jumps straight from one due entry to the next. A store change enqueues
the watching controllers' keys at the current instant; the kernel's FIFO order runs them after the
reconcile (or action) that made the change, at the same virtual time.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ekstwin.sim import clock as clock_mod
from ekstwin.sim import driver, kernel, reconcile, workqueue
from ekstwin.store import store as store_mod
from ekstwin.store import watch

DEFAULT_MAX_RECONCILES_PER_INSTANT = 100_000
"""Far above any honest burst (20k pods each reconciled a few times) yet stops a livelock in seconds."""


@dataclass(frozen=True, slots=True)
class RecordedError:
    """A ``PermanentError`` a reconcile raised; the key was not requeued."""

    time: float
    controller: str
    key: str
    message: str


class SameInstantLoop(RuntimeError):
    """Too many reconciles without virtual time moving: some controllers keep waking each other."""

    def __init__(self, t: float, total: int, counts: Counter[str], last: tuple[str, str]) -> None:
        busiest = ", ".join(f"{name}={n}" for name, n in counts.most_common(3))
        super().__init__(f"{total} reconciles at t={t} without time advancing (busiest: {busiest}; "
                         f"last: {last[0]} key {last[1]!r}); a controller probably rewrites an object "
                         "on every run or requeues with requeue_after=0 forever")
        self.time = t
        self.counts = counts


@dataclass(slots=True)
class _Controller:
    name: str
    reconcile: reconcile.Reconciler
    queue: workqueue.WorkQueue
    timers: dict[str, kernel.Handle] = field(default_factory=dict)


class SimDriver:
    """The ``driver.Driver`` for simulations: a kernel, a work queue per controller, store wakeups."""

    def __init__(self, store: store_mod.Store, clock: clock_mod.SimClock, *,
                 max_reconciles_per_instant: int = DEFAULT_MAX_RECONCILES_PER_INSTANT,
                 base_backoff_s: float = workqueue.DEFAULT_BASE_DELAY_S,
                 max_backoff_s: float = workqueue.DEFAULT_MAX_DELAY_S,
                 record_trace: bool = False) -> None:
        """Wire a driver to ``store``; ``clock`` must be the clock the store reads ``now`` from.

        ``record_trace`` keeps (time, controller, key) of every reconcile in ``trace``, for determinism
        tests and debugging.
        """
        self.store = store
        self.clock = clock
        self.kernel = kernel.Kernel(clock)
        self.max_reconciles_per_instant = max_reconciles_per_instant
        self._backoff = (base_backoff_s, max_backoff_s)
        self._controllers: dict[str, _Controller] = {}
        self._watchers: dict[str, list[tuple[_Controller, driver.KeyFn]]] = {}
        self.errors: list[RecordedError] = []
        self.trace: list[tuple[float, str, str]] | None = [] if record_trace else None
        self.reconciles: Counter[str] = Counter()
        """Reconciles run per controller since the start (for profiling)."""
        self._instant = -math.inf
        self._instant_counts: Counter[str] = Counter()
        self._instant_total = 0

    def now(self) -> float:
        return self.clock.now()

    def register(self, name: str, reconcile_fn: reconcile.Reconciler,
                 watches: Sequence[driver.Watch] = ()) -> None:
        """Add a controller; see ``driver.Driver.register``.

        Raises:
            ValueError: ``name`` is already registered.
            NotFound: a watch names a kind the store does not know.
        """
        if name in self._controllers:
            raise ValueError(f"controller {name!r} is already registered")
        ctrl = _Controller(name, reconcile_fn, workqueue.WorkQueue(*self._backoff))
        for w in watches:
            self.store.registry.by_kind(w.kind)
            if w.kind not in self._watchers:
                self._watchers[w.kind] = []
                self.store.subscribe(self._on_event, kind=w.kind)
            self._watchers[w.kind].append((ctrl, w.key_fn))
        self._controllers[name] = ctrl

    def enqueue(self, name: str, key: str, at: float | None = None) -> None:
        """See ``driver.Driver.enqueue``; a time in the past means now.

        Raises:
            KeyError: no controller called ``name``.
        """
        ctrl = self._controllers.get(name)
        if ctrl is None:
            raise KeyError(f"no controller named {name!r}")
        now = self.clock.now()
        self._enqueue(ctrl, key, now if at is None else max(at, now))

    def schedule_callback(self, at: float, fn: Callable[[], None], priority: int = 0) -> kernel.Handle:
        """Run ``fn()`` at virtual time ``at``; cancel with ``self.kernel.cancel(handle)``.

        Raises:
            ValueError: ``at`` is in the past.
        """
        return self.kernel.schedule_at(at, fn, priority)

    def run_until(self, horizon: float) -> None:
        """Run everything due at or before ``horizon``; the clock ends at ``horizon``."""
        self.kernel.run_until(horizon)

    def pending(self, name: str) -> int:
        """How many keys controller ``name`` has waiting."""
        return len(self._controllers[name].queue)

    # ---- internals ---------------------------------------------------------------------------------

    def _on_event(self, event: watch.WatchEvent) -> None:
        now = self.clock.now()
        for ctrl, key_fn in self._watchers[event.kind]:
            keys = key_fn(event)
            if keys is None:
                continue
            if isinstance(keys, str):
                self._enqueue(ctrl, keys, now)
            else:
                for key in keys:
                    self._enqueue(ctrl, key, now)

    def _enqueue(self, ctrl: _Controller, key: str, at: float) -> None:
        if not ctrl.queue.add(key, at):
            return  # already due no later than `at`; that run will decide again
        old = ctrl.timers.get(key)
        if old is not None:
            self.kernel.cancel(old)
        ctrl.timers[key] = self.kernel.schedule_at(at, functools.partial(self._run, ctrl, key))

    def _run(self, ctrl: _Controller, key: str) -> None:
        del ctrl.timers[key]
        ctrl.queue.start(key)
        now = self.clock.now()
        self._count(ctrl.name, key, now)
        try:
            result = ctrl.reconcile(key, now)
        except reconcile.TemporaryError as e:
            delay = e.delay if e.delay is not None else ctrl.queue.backoff(key)
            self._enqueue(ctrl, key, now + max(delay, 0.0))
            return
        except reconcile.PermanentError as e:
            ctrl.queue.forget(key)
            self.errors.append(RecordedError(now, ctrl.name, key, str(e) or type(e).__name__))
            return
        if not isinstance(result, reconcile.Result):
            raise TypeError(f"controller {ctrl.name!r} returned {result!r} for {key!r}, not a Result")
        ctrl.queue.forget(key)
        if result.requeue_after is not None:
            self._enqueue(ctrl, key, now + max(result.requeue_after, 0.0))

    def _count(self, name: str, key: str, now: float) -> None:
        if now != self._instant:
            self._instant = now
            self._instant_counts.clear()
            self._instant_total = 0
        self._instant_total += 1
        self._instant_counts[name] += 1
        self.reconciles[name] += 1
        if self.trace is not None:
            self.trace.append((now, name, key))
        if self._instant_total > self.max_reconciles_per_instant:
            raise SameInstantLoop(now, self._instant_total, Counter(self._instant_counts), (name, key))
