"""kube-scheduler's cache: one ``Snapshot`` kept current between scheduling cycles from the store's watch log.

Rebuilding the snapshot from every Node and Pod at each cycle costs O(pods) even when one pod changed, and
a cluster that churns (drift replacing hundreds of nodes, a day of scaling) runs thousands of cycles. Like
kube-scheduler's own cache, this one applies only what changed since the last cycle:

* nodes: each Node event since the last sync, in order. A new node is appended (the store lists in creation
  order, as ``Snapshot.build`` does), a deleted one leaves with its pods, a changed one is updated in place
  when a part a ``NodeInfo`` reads changed (name, labels, spec — taints and unschedulable —,
  allocatable/capacity, conditions; the store shares unchanged subtrees, so ``is`` compares them).
* pods: every bound, non-terminal pod is kept by key (also those whose node is not there yet, so that a node
  registering after its pods were bound gets them); each Pod event since the last sync moves that pod in or
  out (``forget``/``assume``), so selector counts and affinity-term indexes stay warm across cycles.

If the watch log no longer holds the events since the last sync (410 Gone), or the events do not add up
(a change to a node never seen, a node count that differs from the store's), the cache rebuilds from the
store. The snapshot is always the one ``Snapshot.build`` would produce from the store now (pinned by a test).
"""

from __future__ import annotations

from typing import Any

from ekstwin.controllers.base import Deps, Obj, pod_info
from ekstwin.model.pod import PodInfo
from ekstwin.scheduling.snapshot import TERMINAL_PHASES, Snapshot, parse_node, pod_key
from ekstwin.store.watch import Gone, WatchEvent

STATE_KEY = "kube-scheduler.cache"


def _node_parts(node: Obj) -> tuple[Any, ...]:
    """The parts of a Node the snapshot reads."""
    meta, status = node["metadata"], node.get("status") or {}
    return (meta["name"], meta.get("labels"), node.get("spec"), status.get("allocatable"), status.get("capacity"),
            status.get("conditions"))


def _same(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    return a[0] == b[0] and all(x is y for x, y in zip(a[1:], b[1:], strict=True))


def _event_key(obj: Obj) -> str:
    meta = obj["metadata"]
    return str(meta.get("uid") or f"{meta.get('namespace', 'default')}/{meta['name']}")  # as ``pod_key``


def _bound(deps: Deps, obj: Obj) -> PodInfo | None:
    """What the scheduler cache holds for a Pod: its PodInfo when bound and not terminal, else None."""
    if (obj.get("spec") or {}).get("nodeName") and (obj.get("status") or {}).get("phase") not in TERMINAL_PHASES:
        return pod_info(deps, obj)
    return None


class SnapshotCache:
    """The snapshot, the bound pods by node, and the store resourceVersion and node parts they reflect."""

    def __init__(self) -> None:
        self.snap: Snapshot | None = None
        self.rv = -1
        self.nodes: dict[str, tuple[Any, ...]] = {}
        self.pods: dict[str, PodInfo] = {}
        self.by_node: dict[str, dict[str, PodInfo]] = {}
        self.rebuilds = 0
        self.syncs = 0
        self.versions: dict[str, int] = {}
        """Node name → a counter bumped whenever a pod joins or leaves it (with ``rebuilds``: a memo key)."""

    def snapshot(self, deps: Deps) -> Snapshot:
        """The scheduler's view of the store now (bound, non-terminal pods on their nodes)."""
        store = deps.store
        if self.snap is not None and self.rv == store.resource_version:
            return self.snap  # nothing was written since the last sync
        snap = self.snap
        if snap is not None:
            try:
                events = store.events_since(self.rv)
            except Gone:
                snap = None
            else:
                if not self._sync(snap, deps, [e for e in events if e.kind == "Node"],
                                  [e for e in events if e.kind == "Pod"]) or len(snap) != store.count("Node"):
                    snap = None
        if snap is None:
            snap = self._rebuild(deps, store.list("Node"))
        else:
            self.syncs += 1
        self.snap, self.rv = snap, store.resource_version
        return snap

    def _rebuild(self, deps: Deps, nodes: list[Obj]) -> Snapshot:
        start = self.snap.next_start_index if self.snap is not None else 0
        self.pods, self.by_node, self.versions = {}, {}, {}
        for p in deps.store.list("Pod"):
            info = _bound(deps, p)
            if info is not None:
                self._hold(pod_key(info), info)
        snap = Snapshot.build(nodes, self.pods.values())
        self.nodes = {n["metadata"]["name"]: _node_parts(n) for n in nodes}
        # kube-scheduler's rotating start index lives on the scheduler, not in its snapshot
        snap.next_start_index = start % len(snap) if len(snap) else 0
        self.rebuilds += 1
        return snap

    def pods_version(self, node: str) -> tuple[int, int]:
        """Changes whenever the set of pods bound to ``node`` changes."""
        return (self.rebuilds, self.versions.get(node, 0))

    def _hold(self, key: str, info: PodInfo) -> None:
        self.pods[key] = info
        node = str(info.node_name)
        self.by_node.setdefault(node, {})[key] = info
        self.versions[node] = self.versions.get(node, 0) + 1

    def _drop(self, key: str) -> None:
        old = self.pods.pop(key, None)
        if old is not None:
            node = str(old.node_name)
            self.versions[node] = self.versions.get(node, 0) + 1
            on_node = self.by_node.get(node)
            if on_node is not None:
                on_node.pop(key, None)
                if not on_node:
                    del self.by_node[node]

    def _sync(self, snap: Snapshot, deps: Deps, node_events: list[WatchEvent], pod_events: list[WatchEvent]) -> bool:
        """Bring ``snap`` up to date from the events since the last sync; False when it cannot be (the caller
        rebuilds). Nodes first, in event order: a node comes last as it does in the store's creation order,
        a deleted one takes its pods out, a changed one is updated only if a part a NodeInfo reads changed."""
        added: list[str] = []
        for ev in node_events:
            name = ev.obj["metadata"]["name"]
            if ev.type == "DELETED":
                if snap.has_node(name):
                    snap.remove_node(name)
                self.nodes.pop(name, None)
                if name in added:
                    added.remove(name)
                continue
            parts = _node_parts(ev.obj)
            if not snap.has_node(name):
                if ev.type != "ADDED":
                    return False  # a change to a node the snapshot never saw: only a rebuild is right
                snap.add_node(parse_node(len(snap), ev.obj))
                added.append(name)
            elif not _same(parts, self.nodes[name]):
                snap.update_node(name, parse_node(0, ev.obj))
            self.nodes[name] = parts
        for name in added:  # pods bound before their node registered
            for info in self.by_node.get(name, {}).values():
                snap.assume(info, name)
        self._apply_pods(snap, deps, pod_events)
        return True

    def _apply_pods(self, snap: Snapshot, deps: Deps, events: list[WatchEvent]) -> None:
        latest: dict[str, Obj | None] = {}
        for ev in events:  # only each pod's last state matters
            latest[_event_key(ev.obj)] = None if ev.type == "DELETED" else ev.obj
        for key, obj in latest.items():
            wanted = _bound(deps, obj) if obj is not None else None
            held = self.pods.get(key)
            if held is not None and held is wanted:
                continue  # a status-only change: the very same PodInfo is already held
            self._drop(key)
            entry = snap.pod_entry(key)
            if entry is not None:
                snap.forget(entry[0])
            if wanted is not None:
                self._hold(key, wanted)
                if snap.has_node(str(wanted.node_name)):
                    snap.assume(wanted, str(wanted.node_name))


def cache(deps: Deps) -> SnapshotCache:
    """The kube-scheduler's cache in ``deps.state`` (created on first use)."""
    c = deps.state.get(STATE_KEY)
    if c is None:
        c = deps.state[STATE_KEY] = SnapshotCache()
    assert isinstance(c, SnapshotCache)
    return c
