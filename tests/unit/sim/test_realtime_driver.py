"""RealtimeDriver pins exact virtual times against a settable wall clock; no test sleeps."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from ekstwin.sim import driver
from ekstwin.sim.clock import SimClock
from ekstwin.sim.realtime_driver import RealtimeDriver
from ekstwin.sim.reconcile import Result
from ekstwin.sim.sim_driver import SimDriver
from ekstwin.store.store import Store

Runs = list[tuple[float, str]]
WALL0 = 1000.0  # the fake wall clock does not start at zero, so wall and virtual times never coincide


def realtime(speed: float | None, **kw: Any) -> tuple[Store, RealtimeDriver, SimClock]:
    """A store on a RealtimeDriver whose wall clock is a SimClock the test moves by hand."""
    wall = SimClock(WALL0)
    clock = SimClock()
    store = Store(clock.now)
    d = RealtimeDriver(store, clock, speed=speed, wall=wall, record_trace=True, **kw)
    return store, d, wall


def recording(runs: Runs, result: Result | None = None) -> Callable[[str, float], Result]:
    def reconcile(key: str, now: float) -> Result:
        runs.append((now, key))
        return result or Result()
    return reconcile


def configmap(name: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {}}


def test_at_wall_plus_1s_with_speed_10_the_virtual_clock_is_at_10s_and_the_10s_requeue_has_run() -> None:
    _, d, wall = realtime(10)
    runs: Runs = []
    d.register("ticker", recording(runs, Result(requeue_after=10)))
    d.enqueue("ticker", "k")
    d.start()
    wall.set(WALL0 + 1)
    assert d.advance_to_wall() == 10
    assert runs == [(0, "k"), (10, "k")]
    wall.set(WALL0 + 1.5)
    assert d.advance_to_wall() == 15
    assert runs == [(0, "k"), (10, "k")]
    wall.set(WALL0 + 2)
    d.advance_to_wall()
    assert runs == [(0, "k"), (10, "k"), (20, "k")]


def _writer_and_watcher(d: SimDriver, store: Store) -> None:
    """A ticker that writes a ConfigMap every 7 s and a controller that watches them."""
    count = [0]

    def writer(key: str, now: float) -> Result:
        count[0] += 1
        store.create(configmap(f"cm{count[0]}"))
        return Result(requeue_after=7)

    d.register("writer", writer)
    d.register("watcher", recording([]), [driver.Watch("ConfigMap", driver.by_object)])
    d.enqueue("writer", "go", at=3)
    d.schedule_callback(11, lambda: store.create(configmap("from-timeline")))


def test_pumped_at_uneven_wall_times_it_runs_what_the_sim_driver_runs_at_the_same_virtual_times() -> None:
    sim_clock = SimClock()
    sim_store = Store(sim_clock.now)
    sim = SimDriver(sim_store, sim_clock, record_trace=True)
    _writer_and_watcher(sim, sim_store)
    sim.run_until(40)

    store, d, wall = realtime(4)
    _writer_and_watcher(d, store)
    d.start()
    for wall_s in (0.3, 0.31, 2.0, 2.05, 7.9, 10.0):  # virtual 1.2 ... 40
        wall.set(WALL0 + wall_s)
        d.advance_to_wall()
    assert d.now() == 40
    assert d.trace == sim.trace
    assert d.trace is not None and len(d.trace) > 10


def test_speed_max_runs_everything_due_in_one_pump_whatever_the_wall_clock_says() -> None:
    _, d, _ = realtime(None)
    ran: list[float] = []
    for t in (10.0, 1000.0, 1e6):
        d.schedule_callback(t, lambda: ran.append(d.now()))
    assert d.advance_to_wall() == 1e6
    assert ran == [10, 1000, 1e6]
    assert d.idle()


def test_speed_max_ends_a_pump_after_its_step_budget_when_a_controller_requeues_forever() -> None:
    _, d, _ = realtime(None, max_steps_per_pump=5)
    runs: Runs = []
    d.register("ticker", recording(runs, Result(requeue_after=1)))
    d.enqueue("ticker", "k")
    d.advance_to_wall()
    assert [t for t, _ in runs] == [0, 1, 2, 3, 4]
    d.advance_to_wall()
    assert len(runs) == 10
    assert not d.idle()


def test_speed_max_ends_a_pump_once_its_wall_time_slice_is_spent() -> None:
    class Ticking:
        """Each read of the wall clock is 10 ms later than the one before."""

        def __init__(self) -> None:
            self.t = 0.0

        def now(self) -> float:
            self.t += 0.01
            return self.t

    clock = SimClock()
    d = RealtimeDriver(Store(clock.now), clock, speed=None, wall=Ticking(), slice_s=0.045)
    runs: Runs = []
    d.register("ticker", recording(runs, Result(requeue_after=1)))
    d.enqueue("ticker", "k")
    d.advance_to_wall()
    assert len(runs) == 5  # reads at 0.02 ... 0.06: the fifth step is the first 45 ms past the start


def test_a_write_between_pumps_is_reconciled_at_the_current_virtual_time_by_wake() -> None:
    store, d, wall = realtime(10)
    runs: Runs = []
    d.register("watcher", recording(runs), [driver.Watch("ConfigMap", driver.by_object)])
    d.start()
    wall.set(WALL0 + 1)
    d.advance_to_wall()
    store.create(configmap("from-kubectl"))  # what the API does between two pumps
    assert runs == []
    d.wake()
    assert runs == [(10, "default/from-kubectl")]
    assert d.now() == 10


def test_falling_behind_logs_how_far_and_still_runs_everything_due(caplog: pytest.LogCaptureFixture) -> None:
    _, d, wall = realtime(10)
    ran: list[float] = []
    d.schedule_callback(10, lambda: ran.append(d.now()))
    d.schedule_callback(45, lambda: ran.append(d.now()))
    d.start()
    wall.set(WALL0 + 5)  # the entry due at virtual 10 (wall +1 s) is 4 wall seconds late
    with caplog.at_level(logging.WARNING, logger="ekstwin.sim.realtime_driver"):
        assert d.advance_to_wall() == 50
    assert ran == [10, 45]
    assert d.lag_s == pytest.approx(4.0)
    assert "4.0s behind" in caplog.text
    wall.set(WALL0 + 5.05)
    d.advance_to_wall()
    assert d.lag_s == 0.0


def test_the_virtual_clock_does_not_move_before_start_is_pinned_to_the_first_pump() -> None:
    _, d, wall = realtime(10)
    wall.set(WALL0 + 30)  # building the world took 30 s of wall time: that is not lag
    assert d.advance_to_wall() == 0
    wall.set(WALL0 + 31)
    assert d.advance_to_wall() == 10


@pytest.mark.parametrize("speed", [0.0, -1.0, float("inf"), float("nan")])
def test_a_speed_that_is_not_a_positive_finite_number_is_rejected(speed: float) -> None:
    clock = SimClock()
    with pytest.raises(ValueError, match="speed"):
        RealtimeDriver(Store(clock.now), clock, speed=speed)


def test_speed_max_stops_at_its_horizon_however_often_it_is_pumped() -> None:
    _, d, _ = realtime(None, horizon=3.0)
    runs: Runs = []
    d.register("ticker", recording(runs, Result(requeue_after=1)))
    d.enqueue("ticker", "k")
    for _ in range(3):
        d.advance_to_wall()
    assert [t for t, _ in runs] == [0, 1, 2, 3]


def test_wake_runs_what_is_due_now_without_moving_the_clock() -> None:
    store, d, _ = realtime(None)
    runs: Runs = []
    d.register("watcher", recording(runs), [driver.Watch("ConfigMap", driver.by_object)])
    d.register("later", recording(runs))
    d.enqueue("later", "k", at=50.0)
    store.create(configmap("a"))
    assert d.wake() == 0.0
    assert runs == [(0.0, "default/a")]
