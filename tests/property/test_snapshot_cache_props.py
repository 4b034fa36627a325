"""Property: kube-scheduler's cache (one snapshot kept across cycles) always equals a fresh ``Snapshot.build``.

Random sequences of Node and Pod writes — nodes added, relabelled, tainted, resized, made NotReady, deleted
and re-created; pods created, bound (also to nodes that do not exist yet), finished, deleted — with the
scheduler's own ``assume`` of a binding in between. After each sync the cached snapshot must hold the same
nodes in the same order, the same columns, pods, taint groups, selector counts and affinity-term counts as a
snapshot built from scratch from the store.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ekstwin.controllers.base import Deps, pod_info
from ekstwin.controllers.snapshot_cache import SnapshotCache
from ekstwin.errors import NotFound
from ekstwin.model import requirements as rq
from ekstwin.model.selectors import LabelSelector
from ekstwin.scheduling import topology
from ekstwin.scheduling.snapshot import TERMINAL_PHASES, Snapshot
from ekstwin.sim.clock import SimClock
from ekstwin.store.store import Store

GPU = "example.com/gpu"
NODES = st.sampled_from(["n0", "n1", "n2", "n3"])
PODS = st.sampled_from([f"p{i}" for i in range(8)])
OPS = st.one_of(
    st.tuples(st.just("node_add"), NODES, st.sampled_from("ab"), st.integers(1, 8), st.booleans()),
    st.tuples(st.just("node_relabel"), NODES, st.sampled_from("abc")),
    st.tuples(st.just("node_taint"), NODES, st.booleans()),
    st.tuples(st.just("node_resize"), NODES, st.integers(1, 8)),
    st.tuples(st.just("node_ready"), NODES, st.booleans()),
    st.tuples(st.just("node_delete"), NODES),
    st.tuples(st.just("pod_add"), PODS, NODES | st.none(), st.integers(0, 2000), st.booleans()),
    st.tuples(st.just("pod_bind"), PODS, NODES),
    st.tuples(st.just("pod_finish"), PODS),
    st.tuples(st.just("pod_delete"), PODS, st.booleans()),
    st.tuples(st.just("sync"), NODES),
)


def _node(name: str, zone: str, cpus: int, gpu: bool) -> dict[str, Any]:
    alloc = {"cpu": str(cpus), "memory": f"{cpus * 4}Gi", "pods": "20", **({GPU: "1"} if gpu else {})}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {rq.ZONE: zone, rq.HOSTNAME: name}},
            "spec": {}, "status": {"allocatable": alloc, "capacity": alloc,
                                   "conditions": [{"type": "Ready", "status": "True"}]}}


def _pod(name: str, node: str | None, cpu_m: int, anti: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "resources": {"requests": {"cpu": f"{cpu_m}m"}}}]}
    if node is not None:
        spec["nodeName"] = node
    if anti:
        spec["affinity"] = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"topologyKey": rq.HOSTNAME, "labelSelector": {"matchLabels": {"app": "web"}}}]}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default",
                                                           "labels": {"app": "web"}}, "spec": spec}


def _apply(store: Store, op: tuple[Any, ...]) -> None:
    kind, name = op[0], op[1]
    node = store.try_get("Node", name) if kind.startswith("node") else None
    pod = store.try_get("Pod", name, "default") if kind.startswith("pod") else None
    if kind == "node_add" and node is None:
        store.create(_node(name, op[2], op[3], op[4]))
    elif kind == "node_relabel" and node is not None:
        store.patch("Node", name, None, {"metadata": {"labels": {rq.ZONE: op[2]}}})
    elif kind == "node_taint" and node is not None:
        taints = [{"key": "t", "effect": "NoSchedule"}] if op[2] else None
        store.patch("Node", name, None, {"spec": {"taints": taints, "unschedulable": op[2] or None}})
    elif kind == "node_resize" and node is not None:
        alloc = {"cpu": str(op[2]), "memory": f"{op[2] * 4}Gi", "pods": "20"}
        store.update_status({**node, "status": {**node["status"], "allocatable": alloc}})
    elif kind == "node_ready" and node is not None:
        cond = [{"type": "Ready", "status": "True" if op[2] else "False"}]
        store.update_status({**node, "status": {**node["status"], "conditions": cond}})
    elif kind == "node_delete" and node is not None:
        store.delete("Node", name)
    elif kind == "pod_add" and pod is None:
        store.create(_pod(name, op[2], op[3], op[4]))
    elif kind == "pod_bind" and pod is not None and not pod["spec"].get("nodeName"):
        store.update({**pod, "spec": {**pod["spec"], "nodeName": op[2]}})
    elif kind == "pod_finish" and pod is not None:
        store.update_status({**pod, "status": {**(pod.get("status") or {}), "phase": "Succeeded"}})
    elif kind == "pod_delete" and pod is not None:
        store.delete("Pod", name, "default", grace_seconds=0 if op[2] else 30)


def _fresh(deps: Deps) -> Snapshot:
    bound = [pod_info(deps, p) for p in deps.store.list("Pod") if (p.get("spec") or {}).get("nodeName")
             and (p.get("status") or {}).get("phase") not in TERMINAL_PHASES]
    return Snapshot.build(deps.store.list("Node"), bound)


def _assert_same(cached: Snapshot, fresh: Snapshot) -> None:
    cached.check_valid()
    assert [n.name for n in cached.nodes] == [n.name for n in fresh.nodes]
    assert [n.index for n in cached.nodes] == list(range(len(cached.nodes)))
    for attr in (*Snapshot.COLUMNS, "taint_group"):
        assert np.array_equal(getattr(cached, attr), getattr(fresh, attr)), attr
    assert cached.taint_sets == fresh.taint_sets
    for a, b in zip(cached.nodes, fresh.nodes, strict=True):
        assert (a.labels, a.taints, a.allocatable, a.unschedulable, a.ready) == \
            (b.labels, b.taints, b.allocatable, b.unschedulable, b.ready), a.name
        assert a.requested == b.requested and sorted(a.pods) == sorted(b.pods), a.name
    assert sorted((p.uid, n) for p, n in cached.pods()) == sorted((p.uid, n) for p, n in fresh.pods())
    web = LabelSelector((("app", "web"),))
    assert np.array_equal(topology.spread_counts(cached, "default", web), topology.spread_counts(fresh, "default", web))
    assert np.array_equal(cached.extended(GPU)[0], fresh.extended(GPU)[0])
    assert np.array_equal(cached.extended(GPU)[1], fresh.extended(GPU)[1])
    for kind in ("anti_affinity",):
        mine = {t: c.tolist() for t, c in cached.term_counts(kind) if c.any()}
        theirs = {t: c.tolist() for t, c in fresh.term_counts(kind) if c.any()}
        assert mine == theirs
    zone_a = rq.Requirement(rq.ZONE, False, frozenset(("a",)))
    assert np.array_equal(cached.requirement_mask(zone_a), fresh.requirement_mask(zone_a))


@settings(max_examples=120, deadline=None)
@given(st.lists(OPS, min_size=1, max_size=40))
def test_the_scheduler_cache_always_equals_a_fresh_snapshot(ops: list[tuple[Any, ...]]) -> None:
    clock = SimClock()
    store = Store(clock.now)
    deps = cast(Deps, SimpleNamespace(store=store, state={}))
    cache = SnapshotCache()
    for op in [*ops, ("sync", "n0")]:
        if op[0] != "sync":
            _apply(store, op)
            continue
        snap = cache.snapshot(deps)
        _assert_same(snap, _fresh(deps))
        # what a scheduling cycle does next: assume a pending pod on a node, then bind it in the store
        pending = [p for p in store.list("Pod") if not p["spec"].get("nodeName")
                   and not p["metadata"].get("deletionTimestamp")]
        if pending and snap.has_node(op[1]):
            snap.assume(pod_info(deps, pending[0]), op[1])
            store.update({**pending[0], "spec": {**pending[0]["spec"], "nodeName": op[1]}})
    assert cache.syncs + cache.rebuilds >= 1


def test_a_node_change_updates_the_cached_snapshot_in_place() -> None:
    clock = SimClock()
    store = Store(clock.now)
    deps = cast(Deps, SimpleNamespace(store=store, state={}))
    cache = SnapshotCache()
    for name in ("n0", "n1", "n2"):
        store.create(_node(name, "a", 4, False))
    store.create(_pod("p0", "n1", 500, False))
    first = cache.snapshot(deps)
    store.delete("Node", "n0")
    store.create(_node("n3", "b", 2, False))
    store.patch("Node", "n2", None, {"spec": {"taints": [{"key": "t", "effect": "NoSchedule"}]}})
    store.create(_pod("p1", "n3", 250, False))
    second = cache.snapshot(deps)
    assert second is first and cache.rebuilds == 1 and cache.syncs == 1
    _assert_same(second, _fresh(deps))
    with pytest.raises(NotFound):
        second.index("n0")
