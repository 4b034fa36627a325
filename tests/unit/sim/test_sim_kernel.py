"""The event kernel, the clocks, reconcile results and the work queue."""

from __future__ import annotations

import functools
import math
import time

import pytest

from ekstwin.sim.clock import SimClock, WallClock
from ekstwin.sim.kernel import Kernel
from ekstwin.sim.reconcile import Result, result_min
from ekstwin.sim.workqueue import WorkQueue


@pytest.fixture
def kernel() -> Kernel:
    return Kernel(SimClock())


def test_callbacks_run_in_time_order_with_the_clock_set(kernel: Kernel) -> None:
    log: list[tuple[float, str]] = []
    def record(label: str) -> None:
        log.append((kernel.clock.now(), label))

    for t, label in [(5.0, "b"), (1.0, "a"), (9.0, "c")]:
        kernel.schedule_at(t, functools.partial(record, label))
    kernel.run_until(100)
    assert log == [(1.0, "a"), (5.0, "b"), (9.0, "c")]


def test_lower_priority_numbers_run_first_at_equal_times(kernel: Kernel) -> None:
    log: list[str] = []
    kernel.schedule_at(1, lambda: log.append("late"), priority=5)
    kernel.schedule_at(1, lambda: log.append("early"), priority=-1)
    kernel.run_until(1)
    assert log == ["early", "late"]


def test_equal_time_and_priority_run_first_in_first_out(kernel: Kernel) -> None:
    log: list[int] = []
    for i in range(50):
        kernel.schedule_at(3, functools.partial(log.append, i))
    kernel.run_until(3)
    assert log == list(range(50))


def test_work_scheduled_at_now_runs_after_what_is_already_due_now(kernel: Kernel) -> None:
    log: list[str] = []

    def first() -> None:
        log.append("first")
        kernel.schedule_at(2, lambda: log.append("third"))

    kernel.schedule_at(2, first)
    kernel.schedule_at(2, lambda: log.append("second"))
    kernel.run_until(2)
    assert log == ["first", "second", "third"]


def test_a_cancelled_callback_never_runs(kernel: Kernel) -> None:
    log: list[str] = []
    h = kernel.schedule_at(1, lambda: log.append("x"))
    kernel.schedule_at(2, lambda: log.append("y"))
    kernel.cancel(h)
    kernel.cancel(h)
    assert len(kernel) == 1
    assert kernel.peek() == 2
    kernel.run_until(10)
    assert log == ["y"]


def test_run_until_includes_the_horizon_and_leaves_the_clock_there(kernel: Kernel) -> None:
    log: list[float] = []
    kernel.schedule_at(10, lambda: log.append(kernel.clock.now()))
    kernel.schedule_at(10.5, lambda: log.append(kernel.clock.now()))
    kernel.run_until(10)
    assert log == [10]
    assert kernel.clock.now() == 10
    assert kernel.peek() == 10.5


def test_step_reports_an_empty_schedule(kernel: Kernel) -> None:
    assert kernel.step() is False
    assert kernel.peek() == math.inf


def test_scheduling_in_the_past_is_an_error(kernel: Kernel) -> None:
    kernel.run_until(5)
    with pytest.raises(ValueError, match="cannot schedule"):
        kernel.schedule_at(4, lambda: None)
    with pytest.raises(ValueError):
        kernel.schedule_after(math.nan, lambda: None)


def test_schedule_after_is_relative_to_now(kernel: Kernel) -> None:
    kernel.run_until(7)
    assert kernel.schedule_after(3, lambda: None).time == 10


def test_the_sim_clock_refuses_to_go_backwards() -> None:
    c = SimClock(3)
    c.advance(2)
    assert c.now() == 5
    with pytest.raises(ValueError, match="back"):
        c.set(4)


def test_the_wall_clock_scales_real_time_by_its_speed(monkeypatch: pytest.MonkeyPatch) -> None:
    real = iter([100.0, 102.5])
    monkeypatch.setattr(time, "monotonic", lambda: next(real))
    c = WallClock(speed=60, start=10)
    assert c.now() == 10 + 2.5 * 60


def test_result_min_takes_the_soonest_requeue() -> None:
    assert result_min(Result(30), Result(), Result(5)) == Result(5)
    assert result_min(Result(), Result()) == Result()
    assert result_min() == Result()


def test_a_key_added_many_times_is_pending_once_at_its_earliest_time() -> None:
    q = WorkQueue()
    assert q.add("k", 10)
    assert not q.add("k", 10)
    assert not q.add("k", 20)
    assert q.add("k", 4)
    assert (len(q), q.due("k")) == (1, 4)


def test_a_started_key_can_be_queued_again() -> None:
    q = WorkQueue()
    q.add("k", 1)
    q.start("k")
    assert "k" not in q
    assert q.add("k", 1)


def test_backoff_doubles_per_failure_up_to_the_cap_and_forget_resets_it() -> None:
    q = WorkQueue(base_delay_s=1, max_delay_s=5)
    assert [q.backoff("k") for _ in range(5)] == [1, 2, 4, 5, 5]
    assert q.backoff("other") == 1
    q.forget("k")
    assert q.failures("k") == 0
    assert q.backoff("k") == 1
