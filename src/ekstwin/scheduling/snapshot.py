"""``NodeInfo`` and ``Snapshot``: the scheduler's view of nodes and the pods bound to them.

Built by controllers (the scheduler, and Cluster Autoscaler / Karpenter what-if simulations) from Node
and Pod dicts, then updated incrementally with ``assume``/``forget`` while a batch of pods is placed.
Pure and single-threaded: no store, no clock, no randomness.

Why it looks like this: the filters and scores evaluate all nodes at once with numpy, so the snapshot
keeps per-node numpy columns (allocatable, requested, non-zero requested, pod count), dictionary-encoded
label columns (one int code per node and label key), and per-node counts of pods matching a selector,
kept up to date by ``assume``/``forget`` instead of rescanning every pod for every scheduling attempt.
Node labels, taints and names never change inside a snapshot, so anything derived only from them
(requirement masks, toleration results) is cached for the snapshot's lifetime (``static``).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt

from ekstwin.errors import Conflict, InvalidInput, NotFound
from ekstwin.model import pod as pod_model
from ekstwin.model import requirements as req
from ekstwin.model import taints as taint_model
from ekstwin.units import resources as res

T = TypeVar("T")
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

TERMINAL_PHASES = frozenset(("Succeeded", "Failed"))  # the scheduler's pod informer drops these
BIND_ALL_IP = "0.0.0.0"
NODE_NAME_FIELD = pod_model.FIELD_PREFIX + "metadata.name"
MAX_COUNT_KEYS = 512  # bound on cached selector counts; each costs one predicate call per assume
# Term kinds tracked for existing pods (the symmetric parts of InterPodAffinity).
REQUIRED_AFFINITY, REQUIRED_ANTI, PREFERRED_AFFINITY, PREFERRED_ANTI = (
    "affinity", "anti_affinity", "preferred_affinity", "preferred_anti_affinity")
_NO_SCHEDULE_EFFECTS = frozenset((taint_model.NO_SCHEDULE, taint_model.NO_EXECUTE))


def pod_key(pod: pod_model.PodInfo) -> str:
    """Identity of a pod inside a snapshot: its uid, or ``namespace/name`` when it has none."""
    return pod.uid or pod.key


def _port_key(ip: str, protocol: str, port: int) -> tuple[str, str, int]:
    # kube-scheduler sanitizes empty values the same way before comparing
    return (ip or BIND_ALL_IP, protocol or "TCP", port)


class NodeInfo:
    """One node and the pods on it, with running totals (kube-scheduler ``framework.NodeInfo``).

    ``ready`` is informational: kube-scheduler does not filter on readiness; the node lifecycle
    controller's ``not-ready``/``unreachable`` taints do that, and they are in ``taints``.
    """

    __slots__ = ("_requested", "allocatable", "index", "labels", "name", "nonzero_cpu_m", "nonzero_memory_b",
                 "pods", "ready", "taints", "unschedulable", "used_ports")

    def __init__(self, index: int, name: str, labels: Mapping[str, str], taints: tuple[taint_model.Taint, ...],
                 allocatable: res.Resources, unschedulable: bool = False, ready: bool = True) -> None:
        self.index = index
        self.name = name
        self.labels = labels
        self.taints = taints
        self.allocatable = allocatable
        self.unschedulable = unschedulable
        self.ready = ready
        self.pods: dict[str, pod_model.PodInfo] = {}
        self._requested: dict[str, int] = {}
        self.nonzero_cpu_m = 0
        self.nonzero_memory_b = 0
        self.used_ports: dict[tuple[str, str, int], int] = {}

    @property
    def requested(self) -> res.Resources:
        """Σ effective requests of the pods on the node (``pods`` = number of pods)."""
        return res.Resources(self._requested)

    @property
    def pod_count(self) -> int:
        """Number of (non-terminal) pods bound to the node."""
        return len(self.pods)

    def port_conflict(self, ip: str, protocol: str, port: int) -> bool:
        """kube-scheduler ``HostPortInfo.CheckConflict``: 0.0.0.0 clashes with every IP on that port."""
        if port <= 0:
            return False
        ip, protocol, port = _port_key(ip, protocol, port)
        if ip == BIND_ALL_IP:
            return any(p == protocol and n == port for _, p, n in self.used_ports)
        return (BIND_ALL_IP, protocol, port) in self.used_ports or (ip, protocol, port) in self.used_ports

    def _change(self, pod: pod_model.PodInfo, sign: int) -> None:
        for k, v in pod.requests.items():
            self._requested[k] = self._requested.get(k, 0) + sign * v
        self.nonzero_cpu_m += sign * pod.nonzero_cpu_m
        self.nonzero_memory_b += sign * pod.nonzero_memory_b
        for port, proto, ip in pod.host_ports:
            key = _port_key(ip, proto, port)
            left = self.used_ports.get(key, 0) + sign
            if left > 0:
                self.used_ports[key] = left
            else:
                self.used_ports.pop(key, None)

    def __repr__(self) -> str:
        return f"NodeInfo({self.name!r}, pods={len(self.pods)}, requested={self.requested!r})"


@dataclass(slots=True)
class _Count:
    """Per-node count of bound pods satisfying ``predicate`` (restricted to ``namespaces`` if given)."""

    predicate: Callable[[pod_model.PodInfo], bool]
    namespaces: frozenset[str] | None
    counts: IntArray


def parse_node(index: int, node: Mapping[str, Any]) -> NodeInfo:
    """A ``NodeInfo`` (without pods) from a Kubernetes Node dict; allocatable falls back to capacity."""
    meta = node.get("metadata") or {}
    spec = node.get("spec") or {}
    status = node.get("status") or {}
    conditions = status.get("conditions") or ()
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    return NodeInfo(index, str(meta.get("name", "")), dict(meta.get("labels") or {}),
                    taint_model.parse_taints(spec.get("taints")),
                    res.Resources.parse(status.get("allocatable") or status.get("capacity")),
                    bool(spec.get("unschedulable")), ready)


class Snapshot:
    """All nodes with their pods, plus the numpy columns and indexes the plugins read.

    Build with ``Snapshot.build``; place pods with ``assume`` and take them back with ``forget``.
    ``next_start_index`` is kube-scheduler's rotating filter start (``nextStartNodeIndex``); the cycle
    advances it, so reuse one snapshot across consecutive attempts.
    """

    def __init__(self, nodes: Iterable[NodeInfo], namespace_labels: Mapping[str, Mapping[str, str]] | None = None
                 ) -> None:
        self.nodes: tuple[NodeInfo, ...] = tuple(nodes)
        self._index: dict[str, int] = {}
        for i, n in enumerate(self.nodes):
            if n.name in self._index:
                raise InvalidInput(f"duplicate node name {n.name!r}", obj=n.name)
            if n.index != i:
                raise InvalidInput(f"node {n.name!r} has index {n.index}, expected {i}", obj=n.name)
            self._index[n.name] = i
        self.namespace_labels: Mapping[str, Mapping[str, str]] = dict(namespace_labels or {})
        self.names: npt.NDArray[np.object_] = np.array([n.name for n in self.nodes], dtype=object)
        size = len(self.nodes)

        def column(values: Iterable[int]) -> IntArray:
            return np.fromiter(values, dtype=np.int64, count=size)

        self.alloc_cpu = column(n.allocatable[res.CPU] for n in self.nodes)
        self.alloc_memory = column(n.allocatable[res.MEMORY] for n in self.nodes)
        self.alloc_pods = column(n.allocatable[res.PODS] for n in self.nodes)
        self.req_cpu = np.zeros(size, dtype=np.int64)
        self.req_memory = np.zeros(size, dtype=np.int64)
        self.pod_count = np.zeros(size, dtype=np.int64)
        self.nonzero_cpu = np.zeros(size, dtype=np.int64)
        self.nonzero_memory = np.zeros(size, dtype=np.int64)
        # free = allocatable − requested, kept directly because NodeResourcesFit reads it for every pod
        self.free_cpu = self.alloc_cpu.copy()
        self.free_memory = self.alloc_memory.copy()
        self.free_pods = self.alloc_pods.copy()
        self.unschedulable: BoolArray = np.fromiter((n.unschedulable for n in self.nodes), dtype=np.bool_,
                                                    count=size)
        groups: dict[tuple[taint_model.Taint, ...], int] = {}
        self.taint_group = column(groups.setdefault(n.taints, len(groups)) for n in self.nodes)
        self.taint_sets: tuple[tuple[taint_model.Taint, ...], ...] = tuple(groups)
        self._codes: dict[str, tuple[IntArray, tuple[str, ...], dict[str, int]]] = {}
        self._static: dict[Hashable, object] = {}
        self._counts: dict[Hashable, _Count] = {}
        self._extended: dict[str, tuple[IntArray, IntArray]] = {}
        # pod → its node (the NodeInfo, whose ``index`` follows row moves when a node is removed)
        self._pods: dict[str, tuple[pod_model.PodInfo, NodeInfo]] = {}
        self._by_namespace: dict[str, dict[str, pod_model.PodInfo]] = {}
        self._terms: dict[tuple[str, pod_model.AffinityTerm], IntArray] = {}
        self.version = 0
        self.next_start_index = 0

    # -- construction ------------------------------------------------------------------------------
    @classmethod
    def build(cls, nodes: Iterable[Mapping[str, Any]], pods: Iterable[Mapping[str, Any] | pod_model.PodInfo] = (),
              namespaces: Mapping[str, Mapping[str, str]] | None = None) -> Snapshot:
        """Snapshot of ``nodes`` (Node dicts) with every bound, non-terminal pod counted on its node.

        ``pods`` may be Pod dicts or ``PodInfo``; pods without ``spec.nodeName``, on unknown nodes, or
        in phase Succeeded/Failed are left out (the scheduler cache never sees them). ``namespaces`` maps
        namespace name → labels, for affinity terms with a ``namespaceSelector``.

        Raises:
            InvalidInput: two nodes with the same name.
            Conflict: the same pod (uid, else namespace/name) listed twice.
        """
        snap = cls((parse_node(i, n) for i, n in enumerate(nodes)), namespaces)
        snap._assume_all(raw if isinstance(raw, pod_model.PodInfo) else pod_model.PodInfo.parse(raw) for raw in pods)
        return snap

    def _assume_all(self, pods: Iterable[pod_model.PodInfo]) -> None:
        """``assume`` every bound, non-terminal pod on a known node, summing the numpy columns once at the end.

        Only for a fresh snapshot: no selector counts or extended columns exist yet, so only the totals, the
        pod indexes and the (anti-)affinity term counts need the pods.
        """
        size = len(self.nodes)
        cpu, mem, count = [0] * size, [0] * size, [0] * size
        nz_cpu, nz_mem = [0] * size, [0] * size
        placed = 0
        for pod in pods:
            i = self._index.get(pod.node_name) if pod.node_name is not None else None
            if i is None or pod.phase in TERMINAL_PHASES:
                continue
            key = pod_key(pod)
            if key in self._pods:
                raise Conflict(f"pod {pod.key} is already bound to {self._pods[key][1].name}")
            node = self.nodes[i]
            self._pods[key] = (pod, node)
            self._by_namespace.setdefault(pod.namespace, {})[key] = pod
            node.pods[key] = pod
            node._change(pod, 1)
            cpu[i] += pod.requests[res.CPU]
            mem[i] += pod.requests[res.MEMORY]
            count[i] += 1
            nz_cpu[i] += pod.nonzero_cpu_m
            nz_mem[i] += pod.nonzero_memory_b
            if pod.affinity or pod.anti_affinity or pod.preferred_affinity or pod.preferred_anti_affinity:
                self._count_terms(pod, i, 1)
            placed += 1
        if not placed:
            return
        self.req_cpu += np.array(cpu, dtype=np.int64)
        self.req_memory += np.array(mem, dtype=np.int64)
        self.pod_count += np.array(count, dtype=np.int64)
        self.nonzero_cpu += np.array(nz_cpu, dtype=np.int64)
        self.nonzero_memory += np.array(nz_mem, dtype=np.int64)
        self.free_cpu = self.alloc_cpu - self.req_cpu
        self.free_memory = self.alloc_memory - self.req_memory
        self.free_pods = self.alloc_pods - self.pod_count
        self.version += placed

    # -- lookups -----------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.nodes)

    def index(self, node_name: str) -> int:
        """Row of ``node_name``.

        Raises:
            NotFound: no such node.
        """
        i = self._index.get(node_name)
        if i is None:
            raise NotFound(f"node {node_name!r} is not in the snapshot")
        return i

    def node(self, node_name: str) -> NodeInfo:
        """The ``NodeInfo`` called ``node_name`` (raises ``NotFound``)."""
        return self.nodes[self.index(node_name)]

    def has_node(self, node_name: str) -> bool:
        """True when the snapshot has a node called ``node_name``."""
        return node_name in self._index

    def pods(self) -> Iterator[tuple[pod_model.PodInfo, str]]:
        """Every bound pod with the name of its node."""
        for pod, node in self._pods.values():
            yield pod, node.name

    def pod_entry(self, key: str) -> tuple[pod_model.PodInfo, str] | None:
        """The stored ``PodInfo`` under ``key`` (see ``pod_key``) and its node's name, or None."""
        entry = self._pods.get(key)
        return None if entry is None else (entry[0], entry[1].name)

    def node_of(self, pod: pod_model.PodInfo) -> str | None:
        """Name of the node ``pod`` is bound to in this snapshot, or None."""
        entry = self._pods.get(pod_key(pod))
        return None if entry is None else entry[1].name

    # -- incremental updates -----------------------------------------------------------------------
    def assume(self, pod: pod_model.PodInfo, node_name: str) -> None:
        """Bind ``pod`` to ``node_name``: totals, columns, counts and term indexes include it from now on.

        Raises:
            NotFound: no such node.
            Conflict: the pod is already in the snapshot.
        """
        i = self.index(node_name)
        key = pod_key(pod)
        if key in self._pods:
            raise Conflict(f"pod {pod.key} is already bound to {self._pods[key][1].name}")
        self._pods[key] = (pod, self.nodes[i])
        self._by_namespace.setdefault(pod.namespace, {})[key] = pod
        self.nodes[i].pods[key] = pod
        self._apply(pod, i, 1)

    def forget(self, pod: pod_model.PodInfo) -> None:
        """Remove a pod placed by ``build`` or ``assume`` (the stored copy is what gets subtracted).

        Raises:
            NotFound: the pod is not in the snapshot.
        """
        key = pod_key(pod)
        entry = self._pods.pop(key, None)
        if entry is None:
            raise NotFound(f"pod {pod.key} is not in the snapshot")
        stored, node = entry
        del self._by_namespace[stored.namespace][key]
        del node.pods[key]
        self._apply(stored, node.index, -1)

    def _apply(self, pod: pod_model.PodInfo, i: int, sign: int) -> None:
        self.nodes[i]._change(pod, sign)
        cpu, mem = pod.requests[res.CPU], pod.requests[res.MEMORY]
        self.req_cpu[i] += sign * cpu
        self.req_memory[i] += sign * mem
        self.pod_count[i] += sign
        self.free_cpu[i] -= sign * cpu
        self.free_memory[i] -= sign * mem
        self.free_pods[i] -= sign
        self.nonzero_cpu[i] += sign * pod.nonzero_cpu_m
        self.nonzero_memory[i] += sign * pod.nonzero_memory_b
        for name, (_, requested) in self._extended.items():
            requested[i] += sign * pod.requests[name]
        for entry in self._counts.values():
            if (entry.namespaces is None or pod.namespace in entry.namespaces) and entry.predicate(pod):
                entry.counts[i] += sign
        self._count_terms(pod, i, sign)
        self.version += 1

    def _count_terms(self, pod: pod_model.PodInfo, i: int, sign: int) -> None:
        for kind, terms in ((REQUIRED_AFFINITY, pod.affinity), (REQUIRED_ANTI, pod.anti_affinity),
                            (PREFERRED_AFFINITY, pod.preferred_affinity),
                            (PREFERRED_ANTI, pod.preferred_anti_affinity)):
            for term in terms:
                counts = self._terms.get((kind, term))
                if counts is None:
                    counts = self._terms[(kind, term)] = np.zeros(len(self.nodes), dtype=np.int64)
                counts[i] += sign

    # -- node changes (the scheduler cache keeps one snapshot across cycles) -------------------------
    # Each keeps the snapshot equal to what ``build`` would make from the changed node list: new nodes go
    # last (the store lists objects in creation order), a removed node's row disappears and the rows after
    # it move up. Caches derived from labels and taints are dropped, to be rebuilt in node order on demand.
    COLUMNS = ("alloc_cpu", "alloc_memory", "alloc_pods", "req_cpu", "req_memory", "pod_count", "nonzero_cpu",
                "nonzero_memory", "free_cpu", "free_memory", "free_pods", "unschedulable", "names")

    def add_node(self, node: NodeInfo) -> None:
        """Append ``node`` (no pods yet; ``assume`` them after). Its ``index`` is set to the new last row.

        Raises:
            InvalidInput: a node with that name is already in the snapshot.
        """
        if node.name in self._index:
            raise InvalidInput(f"duplicate node name {node.name!r}", obj=node.name)
        if node.pods:
            raise InvalidInput(f"node {node.name!r} must be added without pods", obj=node.name)
        node.index = len(self.nodes)
        self.nodes = (*self.nodes, node)
        self._index[node.name] = node.index
        row = {"alloc_cpu": node.allocatable[res.CPU], "alloc_memory": node.allocatable[res.MEMORY],
               "alloc_pods": node.allocatable[res.PODS], "free_cpu": node.allocatable[res.CPU],
               "free_memory": node.allocatable[res.MEMORY], "free_pods": node.allocatable[res.PODS],
               "unschedulable": node.unschedulable, "names": node.name}
        for attr in self.COLUMNS:
            column = getattr(self, attr)
            setattr(self, attr, np.append(column, np.array([row.get(attr, 0)], dtype=column.dtype)))
        for entry in self._counts.values():
            entry.counts = np.append(entry.counts, 0)
        for key, counts in self._terms.items():
            self._terms[key] = np.append(counts, 0)
        for name, (alloc, used) in self._extended.items():
            self._extended[name] = (np.append(alloc, node.allocatable[name]), np.append(used, 0))
        self._nodes_changed()

    def update_node(self, name: str, parsed: NodeInfo) -> None:
        """Give node ``name`` the labels, taints, allocatable and flags of ``parsed`` (its pods stay).

        Raises:
            NotFound: no such node.
        """
        i = self.index(name)
        node = self.nodes[i]
        node.labels, node.taints, node.unschedulable, node.ready = (parsed.labels, parsed.taints,
                                                                    parsed.unschedulable, parsed.ready)
        node.allocatable = parsed.allocatable
        for attr, key, used in (("cpu", res.CPU, self.req_cpu), ("memory", res.MEMORY, self.req_memory),
                                ("pods", res.PODS, self.pod_count)):
            getattr(self, "alloc_" + attr)[i] = node.allocatable[key]
            getattr(self, "free_" + attr)[i] = node.allocatable[key] - used[i]
        self.unschedulable[i] = node.unschedulable
        for ext, (alloc, _) in self._extended.items():
            alloc[i] = node.allocatable[ext]
        self._nodes_changed()

    def remove_node(self, name: str) -> None:
        """Drop node ``name`` and the pods on it; the rows after it move up by one.

        Raises:
            NotFound: no such node.
        """
        i = self.index(name)
        for pod_key_ in list(self.nodes[i].pods):
            self.forget(self._pods[pod_key_][0])
        for attr in self.COLUMNS:
            setattr(self, attr, np.delete(getattr(self, attr), i))
        for entry in self._counts.values():
            entry.counts = np.delete(entry.counts, i)
        for key, counts in self._terms.items():
            self._terms[key] = np.delete(counts, i)
        for ext, (alloc, used) in self._extended.items():
            self._extended[ext] = (np.delete(alloc, i), np.delete(used, i))
        self.nodes = (*self.nodes[:i], *self.nodes[i + 1:])
        del self._index[name]
        for n in self.nodes[i:]:
            n.index -= 1
            self._index[n.name] = n.index
        self._nodes_changed()

    def _nodes_changed(self) -> None:
        groups: dict[tuple[taint_model.Taint, ...], int] = {}
        self.taint_group = np.fromiter((groups.setdefault(n.taints, len(groups)) for n in self.nodes),
                                       dtype=np.int64, count=len(self.nodes))
        self.taint_sets = tuple(groups)
        self._codes.clear()
        self._static.clear()
        self.version += 1

    # -- derived data ------------------------------------------------------------------------------
    def static(self, key: Hashable, build: Callable[[], T]) -> T:
        """Cache for values derived only from node names, labels and taints (valid for the snapshot's life)."""
        try:
            return cast(T, self._static[key])
        except KeyError:
            value = build()
            self._static[key] = value
            return value

    def codes(self, key: str) -> tuple[IntArray, tuple[str, ...]]:
        """Label ``key`` dictionary-encoded: per-node value id (−1 = label absent) and the value list.

        The key ``field:metadata.name`` encodes node names (matchFields).
        """
        entry = self._codes.get(key)
        if entry is None:
            lookup: dict[str, int] = {}
            if key == NODE_NAME_FIELD:
                values: list[str | None] = [n.name for n in self.nodes]
            else:
                values = [n.labels.get(key) for n in self.nodes]
            ids = np.fromiter((-1 if v is None else lookup.setdefault(v, len(lookup)) for v in values),
                              dtype=np.int64, count=len(values))
            entry = self._codes[key] = (ids, tuple(lookup), lookup)
        return entry[0], entry[1]

    def value_id(self, key: str, value: str) -> int:
        """Id of ``value`` in ``codes(key)``, or −2 when no node has it (never equal to a node's code)."""
        self.codes(key)
        return self._codes[key][2].get(value, -2)

    def requirement_mask(self, r: req.Requirement) -> BoolArray:
        """Nodes whose labels satisfy one node-selector requirement (``matches_label`` semantics)."""
        def build() -> BoolArray:
            if r.key.startswith(pod_model.FIELD_PREFIX) and r.key != NODE_NAME_FIELD:
                return np.zeros(len(self.nodes), dtype=np.bool_)  # only metadata.name is a valid field
            ids, vocab = self.codes(r.key)
            absent_ok = r.operator in (req.NOT_IN, req.DOES_NOT_EXIST)
            # the absent result goes last so that code −1 indexes it
            table = np.fromiter([*(r.has(v) for v in vocab), absent_ok], dtype=np.bool_, count=len(vocab) + 1)
            return cast(BoolArray, table[ids])
        return self.static(("requirement", r), build)

    def selector_mask(self, labels: Mapping[str, str]) -> BoolArray:
        """Nodes carrying every ``key=value`` of a nodeSelector."""
        def build() -> BoolArray:
            mask = np.ones(len(self.nodes), dtype=np.bool_)
            for k, v in labels.items():
                mask &= self.codes(k)[0] == self.value_id(k, v)
            return mask
        return self.static(("selector", tuple(sorted(labels.items()))), build)

    def required_affinity_mask(self, pod: pod_model.PodInfo) -> BoolArray:
        """nodeSelector AND (OR of required node-affinity terms); an empty term matches no node."""
        def build() -> BoolArray:
            mask = self.selector_mask(pod.node_selector).copy()
            if pod.required_terms:
                any_term = np.zeros(len(self.nodes), dtype=np.bool_)
                for term in pod.required_terms:
                    if len(term):
                        t = np.ones(len(self.nodes), dtype=np.bool_)
                        for r in term.values():
                            t &= self.requirement_mask(r)
                        any_term |= t
                mask &= any_term
            return mask
        key = ("required", tuple(sorted(pod.node_selector.items())), pod.required_terms)
        return self.static(key, build)

    def first_untolerated(self, tolerations: tuple[taint_model.Toleration, ...],
                          effects: frozenset[str] = _NO_SCHEDULE_EFFECTS) -> tuple[taint_model.Taint | None, ...]:
        """Per taint group (see ``taint_group``): the first taint with one of ``effects`` not tolerated."""
        return self.static(("untolerated", tolerations, effects), lambda: tuple(
            taint_model.tolerates_all(tolerations, ts, effects) for ts in self.taint_sets))

    def tolerated_mask(self, tolerations: tuple[taint_model.Toleration, ...]) -> BoolArray:
        """Nodes whose NoSchedule/NoExecute taints are all tolerated."""
        def build() -> BoolArray:
            ok = np.fromiter((t is None for t in self.first_untolerated(tolerations)), dtype=np.bool_,
                             count=len(self.taint_sets))
            return cast(BoolArray, ok[self.taint_group])
        return self.static(("tolerated", tolerations), build)

    def extended(self, name: str) -> tuple[IntArray, IntArray]:
        """Allocatable and requested columns for a resource other than cpu/memory/pods (kept up to date)."""
        entry = self._extended.get(name)
        if entry is None:
            size = len(self.nodes)
            alloc = np.fromiter((n.allocatable[name] for n in self.nodes), dtype=np.int64, count=size)
            used = np.fromiter((n.requested[name] for n in self.nodes), dtype=np.int64, count=size)
            entry = self._extended[name] = (alloc, used)
        return entry

    def match_counts(self, key: Hashable, predicate: Callable[[pod_model.PodInfo], bool],
                     namespaces: frozenset[str] | None = None) -> IntArray:
        """Per-node number of bound pods satisfying ``predicate`` (only pods in ``namespaces`` if given).

        ``key`` must identify the predicate: the result is cached and kept current by ``assume``/``forget``
        (so do not modify it). Least recently used keys are dropped beyond ``MAX_COUNT_KEYS``.
        """
        entry = self._counts.pop(key, None)
        if entry is None:
            counts = np.zeros(len(self.nodes), dtype=np.int64)
            if namespaces is None:
                candidates: Iterable[tuple[pod_model.PodInfo, NodeInfo]] = self._pods.values()
            else:
                candidates = ((p, self._pods[k][1]) for ns in namespaces
                              for k, p in self._by_namespace.get(ns, {}).items())
            for pod, node in candidates:
                if predicate(pod):
                    counts[node.index] += 1
            entry = _Count(predicate, namespaces, counts)
            if len(self._counts) >= MAX_COUNT_KEYS:
                del self._counts[next(iter(self._counts))]
        self._counts[key] = entry  # re-inserted last: most recently used
        return entry.counts

    def term_counts(self, kind: str) -> Iterator[tuple[pod_model.AffinityTerm, IntArray]]:
        """For one kind of existing pods' (anti-)affinity terms: each distinct term and, per node, how many
        bound pods carry it. ``kind`` is one of the ``REQUIRED_*``/``PREFERRED_*`` constants."""
        for (k, term), counts in self._terms.items():
            if k == kind:
                yield term, counts

    def check_valid(self) -> None:
        """Recompute every running total from the pods and compare (for tests).

        Raises:
            AssertionError: a column or index disagrees with the pods.
        """
        for n in self.nodes:
            total = res.total(p.requests for p in n.pods.values())
            i = n.index
            assert n.requested == total, (n.name, n.requested, total)
            assert self.req_cpu[i] == total[res.CPU] and self.req_memory[i] == total[res.MEMORY], n.name
            assert self.pod_count[i] == len(n.pods) == total[res.PODS], n.name
            assert self.free_cpu[i] == self.alloc_cpu[i] - total[res.CPU], n.name
            assert self.free_memory[i] == self.alloc_memory[i] - total[res.MEMORY], n.name
            assert self.free_pods[i] == self.alloc_pods[i] - len(n.pods), n.name
            assert self.nonzero_cpu[i] == sum(p.nonzero_cpu_m for p in n.pods.values()), n.name
        terms: dict[tuple[str, pod_model.AffinityTerm], list[int]] = {}
        for pod, node in self._pods.values():
            i = node.index
            for kind, ts in ((REQUIRED_AFFINITY, pod.affinity), (REQUIRED_ANTI, pod.anti_affinity),
                             (PREFERRED_AFFINITY, pod.preferred_affinity),
                             (PREFERRED_ANTI, pod.preferred_anti_affinity)):
                for term in ts:
                    terms.setdefault((kind, term), [0] * len(self.nodes))[i] += 1
        for key, counts in self._terms.items():
            assert counts.tolist() == terms.get(key, [0] * len(self.nodes)), key
        for entry in self._counts.values():
            expected = np.zeros(len(self.nodes), dtype=np.int64)
            for pod, node in self._pods.values():
                if (entry.namespaces is None or pod.namespace in entry.namespaces) and entry.predicate(pod):
                    expected[node.index] += 1
            assert np.array_equal(expected, entry.counts)
