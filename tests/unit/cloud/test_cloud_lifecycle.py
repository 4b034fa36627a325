"""Instance lifecycle: sampled milestone times, the transition timetable and termination."""

from __future__ import annotations

import random
import statistics

import pytest

from ekstwin.catalog import Catalog
from ekstwin.cloud import (
    DEFAULT_CLOUD_SETTINGS,
    EC2,
    PENDING,
    READY,
    REGISTERED,
    RUNNING,
    SHUTTING_DOWN,
    TERMINATED,
    Lifecycle,
    Transition,
)
from ekstwin.cloud import errors as codes
from ekstwin.errors import CloudError
from ekstwin.rng import Streams

A = "eu-west-1a"
OVERRIDES = [("c5.large", A), ("m5.large", A)]


def _launch_times(catalog: Catalog, seed: int, n: int = 5) -> list[tuple[float, ...]]:
    ec2 = EC2(catalog, Streams(seed).stream("ec2.launch"))
    result = ec2.create_fleet(0.0, OVERRIDES, "spot", count=n)
    return [(i.launch_time, i.running_at or 0, i.registered_at or 0, i.ready_at or 0) for i in result.instances]


def test_lifecycle_times_are_reproducible_for_a_seed(catalog: Catalog) -> None:
    assert _launch_times(catalog, 42) == _launch_times(catalog, 42)
    assert _launch_times(catalog, 42) != _launch_times(catalog, 43)


def test_milestones_are_ordered_launch_running_registered_ready(catalog: Catalog) -> None:
    for times in _launch_times(catalog, 5, n=50):
        assert 0.0 < times[0] < times[1] < times[2] < times[3]


def test_default_latencies_put_a_node_ready_35_to_60_seconds_after_the_request(catalog: Catalog) -> None:
    ready = [t[3] for t in _launch_times(catalog, 3, n=400)]
    assert 35.0 <= statistics.median(ready) <= 60.0
    assert min(ready) >= 25.0 and max(ready) <= 120.0


def test_fixed_latencies_give_exact_times(ec2: EC2) -> None:
    inst = ec2.create_fleet(100.0, OVERRIDES, "on-demand").instances[0]
    assert (inst.launch_time, inst.running_at, inst.registered_at, inst.ready_at) == (102.0, 110.0, 130.0, 140.0)


def test_a_new_instance_is_pending_until_due_applies_running(ec2: EC2) -> None:
    inst = ec2.create_fleet(0.0, OVERRIDES, "on-demand").instances[0]
    assert inst.state == PENDING
    assert ec2.due(9.9) == []
    assert ec2.due(10.0) == [Transition(inst.instance_id, RUNNING, 10.0)]
    assert ec2.get(inst.instance_id).state == RUNNING


def test_due_applies_every_transition_up_to_now_in_time_order(ec2: EC2) -> None:
    first = ec2.create_fleet(0.0, OVERRIDES, "on-demand").instances[0]
    second = ec2.create_fleet(5.0, OVERRIDES, "on-demand").instances[0]
    got = [(t.instance_id, t.what, t.at) for t in ec2.due(36.0)]
    assert got == [(first.instance_id, RUNNING, 10.0), (second.instance_id, RUNNING, 15.0),
                   (first.instance_id, REGISTERED, 30.0), (second.instance_id, REGISTERED, 35.0)]
    after = ec2.get(first.instance_id)
    assert after.registered and not after.ready


def test_next_due_returns_the_earliest_pending_transition(ec2: EC2) -> None:
    assert ec2.next_due() is None
    ec2.create_fleet(5.0, OVERRIDES, "on-demand")
    ec2.create_fleet(0.0, OVERRIDES, "on-demand")
    assert ec2.next_due() == 10.0
    ec2.due(10.0)
    assert ec2.next_due() == 15.0


def test_terminate_moves_through_shutting_down_to_terminated(ec2: EC2) -> None:
    inst = ec2.create_fleet(0.0, OVERRIDES, "on-demand").instances[0]
    ec2.due(60.0)
    stopping = ec2.terminate(100.0, inst.instance_id)
    assert (stopping.state, stopping.shutting_down_at, stopping.terminated_at) == (SHUTTING_DOWN, 100.0, 130.0)
    assert ec2.next_due() == 130.0
    assert ec2.due(130.0) == [Transition(inst.instance_id, TERMINATED, 130.0)]
    assert ec2.get(inst.instance_id).state == TERMINATED
    assert ec2.next_due() is None


def test_terminating_a_pending_instance_cancels_the_rest_of_its_boot(ec2: EC2) -> None:
    inst = ec2.create_fleet(0.0, OVERRIDES, "on-demand").instances[0]
    stopping = ec2.terminate(15.0, inst.instance_id)  # running (10 s) already happened, due() not called yet
    assert (stopping.running_at, stopping.registered_at, stopping.ready_at) == (10.0, None, None)
    assert [(t.what, t.at) for t in ec2.due(1000.0)] == [(RUNNING, 10.0), (TERMINATED, 45.0)]
    final = ec2.get(inst.instance_id)
    assert final.state == TERMINATED and not final.registered and not final.ready


def test_terminate_is_idempotent(ec2: EC2) -> None:
    inst = ec2.create_fleet(0.0, OVERRIDES, "on-demand").instances[0]
    first = ec2.terminate(50.0, inst.instance_id)
    assert ec2.terminate(60.0, inst.instance_id) == first
    assert [t.what for t in ec2.due(1000.0)].count(TERMINATED) == 1


def test_an_unknown_instance_id_is_not_found(ec2: EC2) -> None:
    with pytest.raises(CloudError) as err:
        ec2.get("i-0123456789abcdef0")
    assert err.value.code == codes.INVALID_INSTANCE_ID_NOT_FOUND
    with pytest.raises(CloudError) as err:
        ec2.terminate(0.0, "i-0123456789abcdef0")
    assert err.value.code == codes.INVALID_INSTANCE_ID_NOT_FOUND


def test_an_injected_terminate_failure_leaves_the_instance_running(ec2: EC2) -> None:
    inst = ec2.create_fleet(0.0, OVERRIDES, "on-demand").instances[0]
    ec2.fail_next("RequestLimitExceeded", api="TerminateInstances")
    with pytest.raises(CloudError):
        ec2.terminate(50.0, inst.instance_id)
    ec2.due(50.0)
    assert ec2.get(inst.instance_id).state == RUNNING


def test_the_lifecycle_skips_cancelled_transitions() -> None:
    lc = Lifecycle()
    lc.schedule("i-a", {RUNNING: 1.0, READY: 3.0})
    lc.schedule("i-b", {RUNNING: 2.0})
    lc.cancel("i-a", [RUNNING])
    assert lc.next_due() == 2.0 and len(lc) == 2
    assert lc.due(10.0) == [Transition("i-b", RUNNING, 2.0), Transition("i-a", READY, 3.0)]
    assert lc.next_due() is None


def test_equal_times_come_out_in_scheduling_order() -> None:
    lc = Lifecycle()
    lc.schedule("i-b", {RUNNING: 1.0})
    lc.schedule("i-a", {RUNNING: 1.0})
    assert [t.instance_id for t in lc.due(1.0)] == ["i-b", "i-a"]


def test_default_settings_draw_from_the_passed_stream_only(catalog: Catalog) -> None:
    # Two emulators on equal streams agree even when a third, unrelated stream is used in between.
    streams = Streams(11)
    a = EC2(catalog, streams.stream("ec2.launch"), DEFAULT_CLOUD_SETTINGS)
    random.Random(0).random()
    streams.stream("something-else").random()
    b = EC2(catalog, Streams(11).stream("ec2.launch"), DEFAULT_CLOUD_SETTINGS)
    ra = a.create_fleet(0.0, OVERRIDES, "spot").instances[0]
    rb = b.create_fleet(0.0, OVERRIDES, "spot").instances[0]
    assert ra == rb
