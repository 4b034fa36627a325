"""Karpenter's provisioning scheduling simulation (``solve``), built for speed.

Given pending pods, the cluster's existing and in-flight nodes, and one NodeClaim template per NodePool
(in weight order), place every pod as Karpenter does:

1. pods are queued by CPU request desc, memory desc, creation time, UID;
2. each pod tries existing nodes (initialized first, then by name), then the NodeClaims planned so far
   (fewest pods first), then a new NodeClaim from each template in order;
3. a pod that fits nowhere has one preference relaxed and goes to the back of the queue; the loop ends
   when the queue is empty or a full pass makes no progress;
4. every planned NodeClaim's instance-type options are ordered by price and cut to 60.

With capacity reservations in play (``reservations`` counts given), a ``reservations.Ledger`` tracks which
reservations each planned NodeClaim holds; in strict mode (provisioning, validation) a pod that would cost a
NodeClaim its reservations fails with a ``ReservedOfferingError``, which is not relaxed, does not fall back to
lower-weight NodePools and is not reported as a scheduling failure (Karpenter retries in the next batch).

Speed comes from keeping per-slot headroom (allocatable − requests, per resource; for a NodeClaim the
maximum over its remaining options) in one numpy matrix, so each pod only looks at slots that can hold it;
instance-type options shrink with vector masks cached per requirement.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from ekstwin.autoscaling.karpenter import preferences
from ekstwin.autoscaling.karpenter import reservations as rsv
from ekstwin.autoscaling.karpenter.instancetypes import CAPACITY_TYPES, TypeTable
from ekstwin.autoscaling.karpenter.topology import Topology
from ekstwin.memo import IdentityMemo
from ekstwin.model import requirements as rq
from ekstwin.model import taints as tn
from ekstwin.model.pod import PodInfo
from ekstwin.units.resources import Resources

MAX_INSTANCE_TYPES = 60
IntArray = npt.NDArray[np.int64]


class ReservedOfferingError(str):
    """A scheduling error caused by the reservation fallback policy (Karpenter's ``ReservedOfferingError``)."""

    __slots__ = ()


@dataclass(frozen=True)
class NodeClaimTemplate:
    """What a NodePool offers a new NodeClaim: requirements, taints, daemonset overhead, candidate types."""

    nodepool: str
    weight: int
    requirements: rq.Requirements
    taints: tuple[tn.Taint, ...]
    startup_taints: tuple[tn.Taint, ...]
    labels: Mapping[str, str]
    daemon_overhead: Resources
    type_idx: IntArray  # rows of the TypeTable the NodePool allows (requirements + offerings)
    limits: Mapping[str, int] | None = None  # remaining limits: spec.limits − capacity of the pool's nodes


@dataclass(slots=True)
class ExistingNode:
    """A node (or in-flight NodeClaim) the simulation may place pods on."""

    name: str
    requirements: rq.Requirements  # node labels as In requirements (or the NodeClaim's requirements)
    taints: tuple[tn.Taint, ...]
    available: Resources  # allocatable − requests of pods bound to it
    daemon_remaining: Resources  # daemonset requests still expected on it
    initialized: bool = True
    nodepool: str | None = None
    startup_taints: tuple[tn.Taint, ...] = ()
    pods: list[PodInfo] = field(default_factory=list)
    slot: int = -1
    requests: Resources = field(default_factory=Resources)
    """Set by the scheduler to the daemonset requests still expected; later placements are tracked in its
    headroom matrix, not here."""
    bound: list[PodInfo] = field(default_factory=list)  # pods already on it (for topology counts)

    def fresh(self) -> ExistingNode:
        """A copy a simulation may mutate: no placements yet, only the daemonset requests still expected.
        (Built field by field: consolidation copies every node for every candidate it simulates.)"""
        return ExistingNode(self.name, self.requirements, self.taints, self.available, self.daemon_remaining,
                            self.initialized, self.nodepool, self.startup_taints, [], -1, self.daemon_remaining,
                            self.bound)


@dataclass
class PlannedClaim:
    """A NodeClaim the simulation decided to create."""

    template: NodeClaimTemplate
    hostname: str
    requirements: rq.Requirements
    requests: Resources
    options: IntArray
    pods: list[PodInfo] = field(default_factory=list)
    slot: int = -1
    reserved: frozenset[str] = frozenset()
    """Capacity reservations this NodeClaim holds a slot of (it is pinned to them when finalized)."""


@dataclass
class SolveResult:
    """Outcome of one simulation: new NodeClaims, placements on existing nodes, per-pod errors."""

    new_claims: list[PlannedClaim]
    existing: dict[str, list[PodInfo]]
    errors: dict[str, str]  # pod key → reason
    messages: list[str]
    relaxed: dict[str, PodInfo]

    @property
    def placed(self) -> int:
        """Number of pods that found a place."""
        return sum(len(c.pods) for c in self.new_claims) + sum(len(v) for v in self.existing.values())


_CLASSES: dict[tuple[Resources, tuple[object, ...], rq.Requirements], int] = {}
_CLASS_OF: IdentityMemo[PodInfo, int] = IdentityMemo(500_000)


def _intern_class(p: PodInfo) -> int:
    return _CLASSES.setdefault((p.requests, tuple(p.tolerations), p.karpenter_requirements()), len(_CLASSES))


def pod_class(p: PodInfo) -> int:
    """A small integer shared by pods with equal requests, tolerations and Karpenter requirements."""
    return _CLASS_OF(p, _intern_class)


def pod_order(p: PodInfo) -> tuple[int, int, str, str]:
    """Karpenter's queue order: CPU desc, memory desc, creation time asc, UID asc."""
    return (-p.requests["cpu"], -p.requests["memory"], p.created, p.uid)


class _Slots:
    """Per-slot headroom matrix over the table's resource columns."""

    def __init__(self, n_res: int) -> None:
        self.headroom = np.zeros((256, n_res), dtype=np.int64)
        self.npods = np.zeros(256, dtype=np.int64)
        self.n = 0

    def add(self) -> int:
        if self.n == len(self.npods):
            self.headroom = np.concatenate([self.headroom, np.zeros_like(self.headroom)])
            self.npods = np.concatenate([self.npods, np.zeros_like(self.npods)])
        self.n += 1
        return self.n - 1


class Scheduler:
    """One scheduling simulation (Karpenter ``Scheduler``). Use ``solve`` for the common case."""

    def __init__(self, table: TypeTable, templates: Sequence[NodeClaimTemplate],
                 existing: Sequence[ExistingNode], topology: Topology,
                 prefer_no_schedule_pools: bool = False, hostname_prefix: str = "hostname-placeholder",
                 reservations: Mapping[str, int] | None = None, strict_reservations: bool = False) -> None:
        self.table = table
        ledger = rsv.Ledger(table, reservations, strict=strict_reservations) if reservations is not None else None
        self.ledger = ledger if ledger else None  # no usable reservation: nothing to track
        self.templates = list(templates)
        self.topology = topology
        self.prefer_no_schedule_pools = prefer_no_schedule_pools
        self.hostname_prefix = hostname_prefix
        self.slots = _Slots(len(table.resources))
        self.existing = sorted(existing, key=lambda n: (not n.initialized, n.name))
        self.claims: list[PlannedClaim] = []
        self.slot_owner: list[ExistingNode | PlannedClaim] = []
        self.remaining: dict[str, dict[str, int] | None] = {
            t.nodepool: dict(t.limits) if t.limits is not None else None for t in templates}
        self.messages: list[str] = []
        self._vec_cache: dict[Resources, IntArray | None] = {}
        self._full_cache: dict[Resources, IntArray] = {}
        self._compat_cache: dict[tuple[rq.Requirements, rq.Requirements], rq.Requirements | str] = {}
        for node in self.existing:
            node.slot = self.slots.add()
            node.requests = node.daemon_remaining
            self.slot_owner.append(node)
            self._refresh_existing(node)
            # Every existing node is a hostname domain, as Karpenter registers each ExistingNode's hostname with
            # the topology. An in-flight NodeClaim has no Node and so no node name among the caller's domains:
            # without this its placeholder hostname (the NodeClaim's name) is no domain at all, a hostname-spread
            # pod can never be placed on it, and every batch launches new NodeClaims for pods already covered.
            host = node.requirements.get(rq.HOSTNAME)
            if host is not None and not host.complement:
                for value in host.values:
                    self.topology.register_domain(rq.HOSTNAME, value)

    # -- vectors -------------------------------------------------------------------------------------
    def _vec(self, r: Resources) -> IntArray | None:
        if r not in self._vec_cache:
            self._vec_cache[r] = self.table.request_vector(r)
        return self._vec_cache[r]

    def _full_vec(self, r: Resources) -> IntArray:
        hit = self._full_cache.get(r)
        if hit is None:
            hit = np.array([r[k] for k in self.table.resources], dtype=np.int64)
            if len(self._full_cache) < 100_000:
                self._full_cache[r] = hit
        return hit

    def _refresh_existing(self, node: ExistingNode) -> None:
        self.slots.headroom[node.slot] = self._full_vec(node.available) - self._full_vec(node.requests)
        self.slots.npods[node.slot] = len(node.pods)

    def _refresh_claim(self, claim: PlannedClaim) -> None:
        options = claim.options
        if claim.reserved and self.ledger is not None and self.ledger.strict:
            # strict mode keeps a reservation: only options it holds one for can still take pods
            options = options[np.isin(options, self.ledger.rows_of(claim.reserved))]
        alloc = self.table.alloc[options]
        self.slots.headroom[claim.slot] = (alloc - self._full_vec(claim.requests)).max(axis=0)
        self.slots.npods[claim.slot] = len(claim.pods)

    def _pod_reqs(self, pod: PodInfo) -> rq.Requirements:
        return pod.karpenter_requirements()

    def _compatible(self, node_reqs: rq.Requirements, pod_reqs: rq.Requirements) -> rq.Requirements | str:
        if not pod_reqs:
            return node_reqs
        key = (node_reqs, pod_reqs)
        hit = self._compat_cache.get(key)
        if hit is None:
            err = node_reqs.compatible(pod_reqs)
            hit = f"incompatible requirements, {err}" if err else node_reqs.merge(pod_reqs)
            if len(self._compat_cache) < 200_000:
                self._compat_cache[key] = hit
        return hit

    # -- the loop ------------------------------------------------------------------------------------
    def solve(self, pods: Sequence[PodInfo]) -> SolveResult:
        """Place ``pods``; see the module docstring for the order of attempts."""
        for p in pods:
            self.topology.add_pod(p)
        # count bound pods only now, once every group the pending pods need exists
        self.topology.seed_existing((node.requirements, node.slot, node.bound) for node in self.existing)
        queue = deque(sorted(pods, key=pod_order))
        last_len: dict[str, int] = {}
        errors: dict[str, str] = {}
        relaxed: dict[str, PodInfo] = {}
        full: PodInfo | None = None
        while queue:
            pod = queue.popleft()
            if last_len.get(pod.uid) == len(queue) + 1:
                queue.appendleft(pod)
                break  # a full pass without progress
            if self.existing and pod.uid not in last_len and not self.topology.has_constraints(pod) and not (
                    full is not None and self._alike(full, pod)):
                leftover = self._place_alike_on_existing(pod, queue)
                if leftover is None:
                    continue
                pod = full = leftover  # existing nodes are full for pods like this one from now on
            err = self._add(pod)
            if err is None:
                errors.pop(pod.key, None)
                continue
            errors[pod.key] = err
            # a reservation-policy failure is retried as it is, never relaxed
            looser = None if isinstance(err, ReservedOfferingError) else preferences.relax(
                pod, self.prefer_no_schedule_pools)
            if looser is not None:
                relaxed[pod.key] = looser
                self.topology.add_pod(looser)
                queue.append(looser)
                last_len.clear()
            else:
                queue.append(pod)
                last_len[pod.uid] = len(queue)
        for claim in self.claims:
            self._finalize(claim, errors)
        claims = [c for c in self.claims if c.pods]
        existing = {n.name: n.pods for n in self.existing if n.pods}
        return SolveResult(claims, existing, errors, self.messages, relaxed)

    def _alike(self, a: PodInfo, b: PodInfo) -> bool:
        """Pods the simulation cannot tell apart: same requests, requirements and tolerations, no topology."""
        return pod_class(a) == pod_class(b) and not self.topology.has_constraints(b)

    def _place_alike_on_existing(self, pod: PodInfo, queue: deque[PodInfo]) -> PodInfo | None:
        """First fit of a run of alike pods onto existing nodes, all at once.

        For identical pods, placing them one by one with first fit fills the first node that takes them up to
        its capacity, then the next, so the run can be placed with one capacity vector instead of one scan per
        pod. Returns the first pod that found no existing node (to go on the usual way), or None.
        """
        run = [pod]
        while queue and self._alike(pod, queue[0]):
            run.append(queue.popleft())
        vec = self._vec(pod.requests)
        placed = 0
        if vec is not None:
            count = len(self.existing)
            used = vec > 0
            head = self.slots.headroom[:count][:, used]
            capacity = (head // vec[used]).min(axis=1) if used.any() else np.full(count, len(run))
            for slot in np.flatnonzero(capacity > 0):
                node = self.existing[int(slot)]
                if self._existing_incompatible(node, pod) is not None:
                    continue
                take = int(min(capacity[slot], len(run) - placed))
                for p in run[placed:placed + take]:
                    node.pods.append(p)
                    self.topology.record(p, node.requirements, node.slot)
                self.slots.headroom[node.slot] -= vec * take
                self.slots.npods[node.slot] += take
                placed += take
                if placed == len(run):
                    return None
        for p in reversed(run[placed + 1:]):
            queue.appendleft(p)
        return run[placed]

    def _add(self, pod: PodInfo) -> str | None:
        vec = self._vec(pod.requests)
        if vec is None:
            missing = [k for k, v in pod.requests.items() if v > 0 and k not in self.table.resources]
            return f"no instance type has resource {', '.join(sorted(missing))}"
        n = self.slots.n
        fits: npt.NDArray[np.bool_] = np.asarray((self.slots.headroom[:n] >= vec).all(axis=1), dtype=bool)
        host_ok = self.topology.hostname_slot_filter(pod, n)
        if host_ok is not None:
            fits &= host_ok
        for slot in np.flatnonzero(fits[:len(self.existing)]):
            node = self.existing[int(slot)]
            if self._try_existing(node, pod) is None:
                return None
        cand = np.flatnonzero(fits[len(self.existing):]) + len(self.existing)
        if len(cand):
            order = cand[np.argsort(self.slots.npods[cand], kind="stable")]
            for slot in order:
                owner = self.slot_owner[int(slot)]
                assert isinstance(owner, PlannedClaim)
                if self._try_claim(owner, pod) is None:
                    return None
        return self._new_claim(pod)

    def _existing_incompatible(self, node: ExistingNode, pod: PodInfo) -> str | None:
        """Why ``pod`` cannot go on ``node`` regardless of room (taints, requirements), or None."""
        ignore = frozenset() if node.initialized else tn.KNOWN_EPHEMERAL | {t.key for t in node.startup_taints}
        bad = tn.tolerates_all(pod.tolerations, node.taints, ignore_keys=ignore)
        if bad is not None:
            return f"did not tolerate {bad}"
        reqs = self._compatible(node.requirements, self._pod_reqs(pod))
        return reqs if isinstance(reqs, str) else None

    def _try_existing(self, node: ExistingNode, pod: PodInfo) -> str | None:
        # resources were checked for every slot at once against the headroom row (exact for nodes)
        err = self._existing_incompatible(node, pod)
        if err is not None:
            return err
        reqs = self._compatible(node.requirements, self._pod_reqs(pod))
        assert not isinstance(reqs, str)
        if self.topology.has_constraints(pod):
            topo = self.topology.add_requirements(pod, self._pod_reqs(pod), reqs)
            if isinstance(topo, str):
                return topo
        node.pods.append(pod)
        self.topology.record(pod, node.requirements, node.slot)
        self.slots.headroom[node.slot] -= self._full_vec(pod.requests)
        self.slots.npods[node.slot] += 1
        return None

    def _try_claim(self, claim: PlannedClaim, pod: PodInfo) -> str | None:
        bad = tn.tolerates_all(pod.tolerations, claim.template.taints)
        if bad is not None:
            return f"did not tolerate {bad}"
        pod_reqs = self._pod_reqs(pod)
        reqs = self._compatible(claim.requirements, pod_reqs)
        if isinstance(reqs, str):
            return reqs
        if self.topology.has_constraints(pod):
            topo = self.topology.add_requirements(pod, pod_reqs, reqs)
            if isinstance(topo, str):
                return topo
            reqs = topo
        requests = claim.requests + pod.requests
        options = claim.options
        if reqs is not claim.requirements and reqs != claim.requirements:
            options = options[self.table.requirements_mask(reqs)[options]]
        vec = self._full_vec(requests)
        options = options[(self.table.alloc[options] >= vec).all(axis=1)]
        if len(options) == 0:
            return self._no_type_error(requests, reqs)
        err = self._min_values_error(reqs, options)
        if err:
            return err
        if self.ledger is not None:
            held, why = self.ledger.to_reserve(claim.hostname, reqs, options)
            if why is not None:
                return ReservedOfferingError(why)
            self.ledger.commit(claim.hostname, held)
            claim.reserved = held
        claim.requirements = reqs
        claim.requests = requests
        claim.options = options
        claim.pods.append(pod)
        self.topology.record(pod, reqs, claim.slot)
        self._refresh_claim(claim)
        return None

    def _new_claim(self, pod: PodInfo) -> str | None:
        errs: list[str] = []
        for tpl in self.templates:
            types = tpl.type_idx
            remaining = self.remaining.get(tpl.nodepool)
            if remaining is not None:
                keep = np.ones(len(types), dtype=bool)
                for i, r in enumerate(self.table.resources):
                    if r in remaining:
                        keep &= self.table.capacity[types, i] <= remaining[r]
                if not keep.any():
                    errs.append(f'all available instance types exceed limits for nodepool: "{tpl.nodepool}"')
                    continue
                if not keep.all():
                    self.messages.append(f"{int((~keep).sum())} out of {len(types)} instance types were "
                                         f"excluded because they would breach limits")
                types = types[keep]
            hostname = f"{self.hostname_prefix}-{len(self.claims) + 1:04d}"
            claim = PlannedClaim(tpl, hostname, tpl.requirements.add(
                rq.Requirement(rq.HOSTNAME, False, frozenset((hostname,)))), tpl.daemon_overhead, types)
            claim.slot = self.slots.add()
            self.slot_owner.append(claim)
            self.topology.register_domain(rq.HOSTNAME, hostname)
            err = self._try_claim(claim, pod)
            if err is None:
                self.claims.append(claim)
                if remaining is not None:
                    self.remaining[tpl.nodepool] = self._subtract_max(remaining, claim.options)
                return None
            self.slots.headroom[claim.slot] = -1  # an abandoned slot never fits anything
            if isinstance(err, ReservedOfferingError):
                # compatible with a pool whose reservations are held: no fallback to lower-weight pools
                errs.append(f'compatible with nodepool "{tpl.nodepool}" but failed to add pod while adhering to '
                            f"reservation fallback policy, {err}")
                return ReservedOfferingError("; ".join(errs))
            errs.append(f'incompatible with nodepool "{tpl.nodepool}", daemonset overhead='
                        f"{json.dumps(tpl.daemon_overhead.to_k8s(), separators=(',', ':'))}, {err}")
        return "; ".join(errs) if errs else "no nodepools found"

    def _subtract_max(self, remaining: dict[str, int], options: IntArray) -> dict[str, int]:
        out = dict(remaining)
        for i, r in enumerate(self.table.resources):
            if r in out:
                out[r] -= int(self.table.capacity[options, i].max())
        return out

    def _no_type_error(self, requests: Resources, reqs: rq.Requirements) -> str:
        shown = json.dumps(requests.to_k8s(), separators=(",", ":"))
        return (f"no instance type satisfied resources {shown} and requirements "
                f"{', '.join(str(reqs[k]) for k in sorted(reqs) if k != rq.HOSTNAME)}")

    def _min_values_error(self, reqs: rq.Requirements, options: IntArray) -> str | None:
        for r in reqs.values():
            if r.min_values is None:
                continue
            col = self.table.label_column(r.key)[options]
            distinct = len({v for v in col if v is not None})
            if distinct < r.min_values:
                return (f"minValues requirement is not met for label {r.key} "
                        f"(needed {r.min_values}, got {distinct})")
        return None

    def _finalize(self, claim: PlannedClaim, errors: dict[str, str]) -> None:
        """Pin a NodeClaim holding reservations to them, order options by cheapest compatible offering (ties by
        name) and keep at most 60."""
        claim.requirements = rsv.pinned(claim.requirements, claim.reserved)
        _, price = self.table.offering_mask(claim.requirements)
        opts = claim.options
        names = np.array([self.table.names[i] for i in opts], dtype=object)
        order = np.lexsort((names, price[opts]))
        claim.options = opts[order][:MAX_INSTANCE_TYPES]
        if self._min_values_error(claim.requirements, claim.options):
            for p in claim.pods:
                errors[p.key] = (f"pod didn’t schedule because NodePool \"{claim.template.nodepool}\" "
                                 "couldn’t meet minValues requirements")
            claim.pods = []


def solve(pods: Sequence[PodInfo], table: TypeTable, templates: Sequence[NodeClaimTemplate],
          existing: Sequence[ExistingNode] = (), domains: Mapping[str, Iterable[str]] | None = None,
          prefer_no_schedule_pools: bool = False, reservations: Mapping[str, int] | None = None,
          strict_reservations: bool = False) -> SolveResult:
    """Run one scheduling simulation (see the module docstring).

    ``reservations``: free slots per capacity reservation as Karpenter last saw them (None: none tracked);
    ``strict_reservations``: Karpenter's strict reserved-offering mode (provisioning) instead of fallback.
    """
    topo = Topology(domains or {})
    return Scheduler(table, templates, existing, topo, prefer_no_schedule_pools,
                     reservations=reservations, strict_reservations=strict_reservations).solve(pods)


def template_domains(table: TypeTable, templates: Sequence[NodeClaimTemplate]) -> dict[str, set[str]]:
    """Topology domains the NodePools can reach: zones and capacity types of their types' offerings."""
    zones: set[str] = set()
    cts: set[str] = set()
    for tpl in templates:
        zr = tpl.requirements.get_or_exists(rq.ZONE)
        cr = tpl.requirements.get_or_exists(rq.CAPACITY_TYPE)
        avail = table.available[tpl.type_idx]
        for zi, z in enumerate(table.zones):
            for ci, c in enumerate(CAPACITY_TYPES):
                if zr.has(z) and cr.has(c) and avail[:, zi, ci].any():
                    zones.add(z)
                    cts.add(c)
    return {rq.ZONE: zones, rq.CAPACITY_TYPE: cts}
