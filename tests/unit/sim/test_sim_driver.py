"""SimDriver pins exact virtual times: requeues, store wakeups, retries, loop guard, determinism."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from ekstwin.sim import driver
from ekstwin.sim.clock import SimClock
from ekstwin.sim.reconcile import PermanentError, Result, TemporaryError
from ekstwin.sim.sim_driver import SameInstantLoop, SimDriver
from ekstwin.store.store import Store

Runs = list[tuple[float, str]]


@pytest.fixture
def world() -> tuple[Store, SimDriver]:
    clock = SimClock()
    store = Store(clock.now)
    return store, SimDriver(store, clock, record_trace=True)


def recording(runs: Runs, result: Result | None = None) -> Callable[[str, float], Result]:
    def reconcile(key: str, now: float) -> Result:
        runs.append((now, key))
        return result or Result()
    return reconcile


def configmap(name: str, **data: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def test_a_controller_requeuing_after_10s_runs_at_0_10_and_20(world: tuple[Store, SimDriver]) -> None:
    _, d = world
    runs: Runs = []
    d.register("ticker", recording(runs, Result(requeue_after=10)))
    d.enqueue("ticker", "k")
    d.run_until(25)
    assert runs == [(0, "k"), (10, "k"), (20, "k")]
    assert d.now() == 25


def test_a_store_write_wakes_watchers_at_the_same_instant_after_the_writer(
        world: tuple[Store, SimDriver]) -> None:
    store, d = world

    def writer(key: str, now: float) -> Result:
        store.create(configmap("made-at-5"))
        return Result()

    runs: Runs = []
    d.register("writer", writer)
    d.register("watcher", recording(runs), [driver.Watch("ConfigMap", driver.by_object)])
    d.enqueue("writer", "go", at=5)
    d.run_until(100)
    assert runs == [(5, "default/made-at-5")]
    assert d.trace == [(5, "writer", "go"), (5, "watcher", "default/made-at-5")]


def test_a_key_enqueued_several_times_before_it_runs_runs_once(world: tuple[Store, SimDriver]) -> None:
    store, d = world
    runs: Runs = []
    d.register("c", recording(runs), [driver.Watch("ConfigMap", lambda e: "all")])

    def burst() -> None:
        for i in range(5):
            store.create(configmap(f"cm{i}"))

    d.schedule_callback(3, burst)
    d.run_until(10)
    assert runs == [(3, "all")]


def test_an_earlier_request_replaces_a_later_pending_one(world: tuple[Store, SimDriver]) -> None:
    _, d = world
    runs: Runs = []
    d.register("c", recording(runs))
    d.enqueue("c", "k", at=50)
    d.enqueue("c", "k", at=20)
    d.enqueue("c", "k", at=30)
    d.run_until(100)
    assert runs == [(20, "k")]


def test_a_key_function_can_wake_several_keys_or_none(world: tuple[Store, SimDriver]) -> None:
    store, d = world
    runs: Runs = []
    d.register("c", recording(runs),
               [driver.Watch("ConfigMap", lambda e: sorted(e.obj.get("data", {})) or None)])
    store.create(configmap("a", x="1", y="2"))
    store.create(configmap("b"))
    d.run_until(0)
    assert runs == [(0, "x"), (0, "y")]


def test_a_temporary_error_with_a_delay_retries_after_that_delay(world: tuple[Store, SimDriver]) -> None:
    _, d = world
    runs: list[float] = []

    def flaky(key: str, now: float) -> Result:
        runs.append(now)
        if len(runs) < 3:
            raise TemporaryError("not yet", delay=15)
        return Result()

    d.register("c", flaky)
    d.enqueue("c", "k", at=1)
    d.run_until(1000)
    assert runs == [1, 16, 31]


def test_a_temporary_error_without_delay_backs_off_exponentially() -> None:
    clock = SimClock()
    d = SimDriver(Store(clock.now), clock, base_backoff_s=1, max_backoff_s=8)
    runs: list[float] = []

    def failing(key: str, now: float) -> Result:
        runs.append(now)
        raise TemporaryError("boom")

    d.register("c", failing)
    d.enqueue("c", "k")
    d.run_until(40)
    assert runs == [0, 1, 3, 7, 15, 23, 31, 39]


def test_success_resets_the_backoff() -> None:
    clock = SimClock()
    d = SimDriver(Store(clock.now), clock, base_backoff_s=1)
    runs: list[float] = []

    def sometimes(key: str, now: float) -> Result:
        runs.append(now)
        if len(runs) in (1, 2, 4):
            raise TemporaryError()
        return Result(requeue_after=10)

    d.register("c", sometimes)
    d.enqueue("c", "k")
    d.run_until(20)
    assert runs == [0, 1, 3, 13, 14]


def test_a_permanent_error_is_recorded_and_not_retried(world: tuple[Store, SimDriver]) -> None:
    _, d = world
    runs: Runs = []

    def broken(key: str, now: float) -> Result:
        runs.append((now, key))
        raise PermanentError("bad spec")

    d.register("c", broken)
    d.enqueue("c", "k", at=2)
    d.run_until(1000)
    assert runs == [(2, "k")]
    assert [(e.time, e.controller, e.key, e.message) for e in d.errors] == [(2, "c", "k", "bad spec")]


def test_any_other_exception_is_a_bug_and_propagates(world: tuple[Store, SimDriver]) -> None:
    _, d = world

    def buggy(key: str, now: float) -> Result:
        raise ZeroDivisionError

    d.register("c", buggy)
    d.enqueue("c", "k")
    with pytest.raises(ZeroDivisionError):
        d.run_until(1)


def test_returning_something_other_than_a_result_names_the_controller(world: tuple[Store, SimDriver]) -> None:
    _, d = world
    d.register("sloppy", lambda key, now: None)  # type: ignore[arg-type,return-value]
    d.enqueue("sloppy", "k")
    with pytest.raises(TypeError, match="sloppy"):
        d.run_until(1)


def test_controllers_waking_each_other_forever_at_one_instant_are_stopped() -> None:
    clock = SimClock()
    store = Store(clock.now)
    d = SimDriver(store, clock, max_reconciles_per_instant=500)
    store.create(configmap("ping", n="0"))

    def bump(key: str, now: float) -> Result:
        n = int(store.get("ConfigMap", "ping")["data"]["n"])
        store.patch("ConfigMap", "ping", None, {"data": {"n": str(n + 1)}})
        return Result()

    d.register("pinger", bump, [driver.Watch("ConfigMap", driver.by_object)])
    d.enqueue("pinger", "default/ping", at=7)
    with pytest.raises(SameInstantLoop, match=r"t=7.*pinger=501"):
        d.run_until(10)


def test_schedule_callback_runs_timeline_actions_at_their_time(world: tuple[Store, SimDriver]) -> None:
    store, d = world

    def action() -> None:
        store.create(configmap("at-5m"))

    d.schedule_callback(300, action)
    d.run_until(299)
    assert store.try_get("ConfigMap", "at-5m") is None
    d.run_until(300)
    assert store.get("ConfigMap", "at-5m")["metadata"]["creationTimestamp"] == "2024-01-01T00:05:00Z"


def test_reconciles_are_counted_per_controller(world: tuple[Store, SimDriver]) -> None:
    _, d = world
    d.register("a", recording([], Result(requeue_after=1)))
    d.register("b", recording([]))
    d.enqueue("a", "k")
    d.enqueue("b", "k")
    d.run_until(4)
    assert d.reconciles == {"a": 5, "b": 1}


def test_registering_a_name_twice_or_enqueueing_an_unknown_one_fails(world: tuple[Store, SimDriver]) -> None:
    _, d = world
    d.register("a", recording([]))
    with pytest.raises(ValueError, match="already registered"):
        d.register("a", recording([]))
    with pytest.raises(KeyError, match="nope"):
        d.enqueue("nope", "k")


def test_an_enqueue_in_the_past_runs_now(world: tuple[Store, SimDriver]) -> None:
    _, d = world
    runs: Runs = []
    d.register("c", recording(runs))
    d.run_until(50)
    d.enqueue("c", "k", at=10)
    d.run_until(50)
    assert runs == [(50, "k")]


def test_keys_round_trip_between_objects_and_names() -> None:
    assert driver.key_of({"metadata": {"name": "p", "namespace": "ns"}}) == "ns/p"
    assert driver.key_of({"metadata": {"name": "node-1"}}) == "node-1"
    assert driver.split_key("ns/p") == ("ns", "p")
    assert driver.split_key("node-1") == (None, "node-1")


def test_sim_driver_satisfies_the_driver_protocol(world: tuple[Store, SimDriver]) -> None:
    d: driver.Driver = world[1]
    assert d.now() == 0


def run_scenario() -> tuple[list[tuple[float, str, str]], str]:
    """Two controllers that feed each other through the store, with requeues and retries."""
    clock = SimClock()
    store = Store(clock.now, seed=7)
    d = SimDriver(store, clock, record_trace=True)

    def spawner(key: str, now: float) -> Result:
        store.create({**configmap(""), "metadata": {"generateName": "job-"}, "data": {"t": str(now)}})
        return Result(requeue_after=3.5)

    def reaper(key: str, now: float) -> Result:
        ns, name = driver.split_key(key)
        if store.try_get("ConfigMap", name, ns) is None:
            return Result()
        if float(store.get("ConfigMap", name, ns)["data"]["t"]) + 5 > now:
            raise TemporaryError("too young", delay=2)
        store.delete("ConfigMap", name, ns)
        return Result()

    d.register("spawner", spawner)
    d.register("reaper", reaper, [driver.Watch("ConfigMap", driver.by_object)])
    d.enqueue("spawner", "only")
    d.run_until(60)
    log = json.dumps([(e.type, e.resource_version, e.obj) for e in store.events_since(0)], sort_keys=True)
    assert d.trace is not None
    return d.trace, log


def test_two_identical_runs_give_identical_traces_and_watch_logs() -> None:
    first, second = run_scenario(), run_scenario()
    assert first == second
    assert len(first[0]) > 40
