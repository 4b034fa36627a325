"""Topology tracking for Karpenter's scheduling simulation: spread, pod affinity and anti-affinity.

Each distinct constraint becomes a ``TopologyGroup`` that counts matching pods per domain (a value of
the group's topology key). When a pod is tried on a node or NodeClaim, every group it owns narrows the
node's requirement for the group's key to the allowed domains:

* spread: the single least-populated domain whose count (+1 if the pod matches itself) minus the global
  minimum stays within maxSkew; the minimum is 0 for hostname (a new node can always be made) and when
  fewer than minDomains domains are possible;
* affinity: domains that already hold a matching pod (a self-matching first pod may pick any domain);
* anti-affinity: domains holding no matching pod; and, in the inverse direction, a pod matched by some
  other pod's anti-affinity term must avoid the domains where those owners run.

Counts are recorded only once a pod's domain for the key is a single value. Preferred terms and
ScheduleAnyway spreads are treated as required until preference relaxation drops them, as Karpenter does.
For ``kubernetes.io/hostname`` groups the counts are also kept as numpy vectors indexed by *slot* (one
slot per existing node or planned NodeClaim), so the scheduler can reject full slots for thousands of
NodeClaims at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from ekstwin.model import requirements as rq
from ekstwin.model.pod import AffinityTerm, PodInfo, SpreadConstraint
from ekstwin.model.selectors import LabelSelector

SPREAD, AFFINITY, ANTI_AFFINITY = "spread", "affinity", "anti-affinity"
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class GroupKey:
    """Identity of a topology group: pods with equal constraints share one."""

    kind: str
    key: str
    namespaces: frozenset[str]
    selector: LabelSelector
    max_skew: int = 0
    min_domains: int = 1
    node_filter: rq.Requirements | None = None


@dataclass(eq=False)
class TopologyGroup:
    """Counts of matching pods (and, for anti-affinity, of owners) per domain."""

    gk: GroupKey
    domains: dict[str, int] = field(default_factory=dict)
    owners: dict[str, int] = field(default_factory=dict)
    slot_counts: IntArray = field(default_factory=lambda: np.zeros(64, dtype=np.int64))
    slot_owners: IntArray = field(default_factory=lambda: np.zeros(64, dtype=np.int64))

    def selects(self, pod: PodInfo) -> bool:
        """Does ``pod`` count towards this group?"""
        return pod.namespace in self.gk.namespaces and self.gk.selector.matches(pod.labels)

    def counts_on(self, node_reqs: rq.Requirements) -> bool:
        """Spread's nodeAffinityPolicy=Honor: only nodes compatible with the owner's node filter count."""
        f = self.gk.node_filter
        return f is None or node_reqs.intersects(f) is None

    def min_count(self, pod_domains: rq.Requirement) -> int:
        """Global minimum over the domains the pod may use (0 for hostname or below minDomains)."""
        if self.gk.key == rq.HOSTNAME:
            return 0
        counts = [c for d, c in self.domains.items() if pod_domains.has(d)]
        if not counts or len(counts) < self.gk.min_domains:
            return 0
        return min(counts)

    def next_domains(self, pod: PodInfo, pod_domains: rq.Requirement, node_domains: rq.Requirement,
                     owner: bool) -> rq.Requirement:
        """The requirement on ``gk.key`` a node must meet for ``pod`` (owner or inverse-matched)."""
        key = self.gk.key
        options = self._candidates(pod_domains, node_domains)
        if not owner:  # inverse anti-affinity: avoid domains where owners run
            return _req_in(key, [d for d in options if self.owners.get(d, 0) == 0])
        if self.gk.kind == SPREAD:
            floor = self.min_count(pod_domains)
            extra = 1 if self.selects(pod) else 0
            best: tuple[int, str] | None = None
            for d in options:
                count = self.domains.get(d, 0) + extra
                if count - floor <= self.gk.max_skew and (best is None or (count, d) < best):
                    best = (count, d)
            return _req_in(key, [best[1]] if best else [])
        if self.gk.kind == AFFINITY:
            held = [d for d in options if self.domains.get(d, 0) > 0]
            if not held and self.selects(pod) and not any(self.domains.values()):
                held = sorted(options)[:1]
            return _req_in(key, held)
        return _req_in(key, [d for d in options if self.domains.get(d, 0) == 0])

    def _candidates(self, pod_domains: rq.Requirement, node_domains: rq.Requirement) -> list[str]:
        if node_domains.operator == rq.IN:
            return sorted(d for d in node_domains.values if d in self.domains and pod_domains.has(d))
        return sorted(d for d in self.domains if node_domains.has(d) and pod_domains.has(d))

    def record(self, domain: str, slot: int | None, owner: bool, matches: bool) -> None:
        """Count one pod in ``domain`` (as a match, an owner, or both)."""
        if matches:
            self.domains[domain] = self.domains.get(domain, 0) + 1
        if owner:
            self.owners[domain] = self.owners.get(domain, 0) + 1
        if slot is not None:
            self._grow(slot)
            if matches:
                self.slot_counts[slot] += 1
            if owner:
                self.slot_owners[slot] += 1

    def _grow(self, slot: int) -> None:
        if slot >= len(self.slot_counts):
            size = max(slot + 1, 2 * len(self.slot_counts))
            self.slot_counts = np.concatenate([self.slot_counts,
                                               np.zeros(size - len(self.slot_counts), dtype=np.int64)])
            self.slot_owners = np.concatenate([self.slot_owners,
                                               np.zeros(size - len(self.slot_owners), dtype=np.int64)])

    def register(self, domain: str) -> None:
        """Make ``domain`` known with a zero count."""
        self.domains.setdefault(domain, 0)


def _req_in(key: str, values: Iterable[str]) -> rq.Requirement:
    vals = frozenset(values)
    return rq.Requirement(key, False, vals)


def group_keys(pod: PodInfo) -> list[tuple[GroupKey, str]]:
    """The topology groups ``pod`` owns (kind, with preferred terms and soft spreads included)."""
    out: list[tuple[GroupKey, str]] = []
    for c in pod.spread:
        out.append((_spread_key(pod, c), SPREAD))
    for t in (*pod.affinity, *pod.preferred_affinity):
        out.append((_term_key(AFFINITY, t), AFFINITY))
    for t in (*pod.anti_affinity, *pod.preferred_anti_affinity):
        out.append((_term_key(ANTI_AFFINITY, t), ANTI_AFFINITY))
    return out


def _spread_key(pod: PodInfo, c: SpreadConstraint) -> GroupKey:
    node_filter = pod.strict_requirements() if c.node_affinity_policy == "Honor" else None
    if node_filter is not None and len(node_filter) == 0:
        node_filter = None
    return GroupKey(SPREAD, c.topology_key, frozenset((pod.namespace,)), c.selector, c.max_skew,
                    c.min_domains, node_filter)


def _term_key(kind: str, t: AffinityTerm) -> GroupKey:
    return GroupKey(kind, t.topology_key, t.namespaces, t.selector)


class Topology:
    """All topology groups of one scheduling simulation.

    ``domains`` gives, per topology key, the domains that exist (zones from the NodePools' instance types,
    hostnames of existing nodes); planned NodeClaims register their placeholder hostnames.
    """

    def __init__(self, domains: Mapping[str, Iterable[str]]) -> None:
        self._universe: dict[str, set[str]] = {k: set(v) for k, v in domains.items()}
        self.groups: dict[GroupKey, TopologyGroup] = {}
        self._owned: dict[str, list[TopologyGroup]] = {}
        self._anti: list[TopologyGroup] = []
        self._matching_anti: dict[str, list[TopologyGroup]] = {}

    def _group(self, gk: GroupKey) -> TopologyGroup:
        g = self.groups.get(gk)
        if g is None:
            g = TopologyGroup(gk)
            for d in self._universe.get(gk.key, ()):
                g.register(d)
            self.groups[gk] = g
            if gk.kind == ANTI_AFFINITY:
                self._anti.append(g)
                self._matching_anti.clear()
        return g

    def register_domain(self, key: str, domain: str) -> None:
        """A new domain for ``key`` (e.g. a planned NodeClaim's placeholder hostname)."""
        self._universe.setdefault(key, set()).add(domain)
        for g in self.groups.values():
            if g.gk.key == key:
                g.register(domain)

    def add_pod(self, pod: PodInfo) -> None:
        """Create (or refresh after relaxation) the groups ``pod`` owns."""
        self._owned[pod.uid] = [self._group(gk) for gk, _ in group_keys(pod)]
        self._matching_anti.pop(pod.uid, None)

    def seed_existing(self, nodes: Iterable[tuple[rq.Requirements, int | None, Sequence[PodInfo]]]) -> None:
        """Count already-bound pods: per node its requirements (labels), slot and pods.

        Existing pods' required anti-affinity terms become groups too (enforced in the inverse direction).
        Nothing is counted when no group exists: then no placement in this simulation depends on it.
        """
        listed = list(nodes)
        for _, _, pods in listed:
            for pod in pods:
                if pod.anti_affinity:
                    for gk in pod_required_anti(pod):
                        self._group(gk)
        if not self.groups:
            return
        for node_reqs, slot, pods in listed:
            for pod in pods:
                required = pod_required_anti(pod) if pod.anti_affinity else set()
                self._record(pod, node_reqs, slot, owned=[g for g in self._anti if g.gk in required])

    def owned(self, pod: PodInfo) -> list[TopologyGroup]:
        """Groups ``pod`` owns (empty when it has no topology constraints)."""
        return self._owned.get(pod.uid, [])

    def inverse(self, pod: PodInfo) -> list[TopologyGroup]:
        """Anti-affinity groups whose selector matches ``pod`` (their owners repel it)."""
        hit = self._matching_anti.get(pod.uid)
        if hit is None:
            hit = [g for g in self._anti if g.selects(pod)]
            self._matching_anti[pod.uid] = hit
        return hit

    def has_constraints(self, pod: PodInfo) -> bool:
        """True when placement of ``pod`` depends on topology at all."""
        return bool(self.owned(pod)) or bool(self.inverse(pod))

    def add_requirements(self, pod: PodInfo, pod_reqs: rq.Requirements,
                         node_reqs: rq.Requirements) -> rq.Requirements | str:
        """Narrow ``node_reqs`` for ``pod``'s topology, or return why that is impossible."""
        out = node_reqs
        for g in self.owned(pod):
            step = self._narrow(g, pod, pod_reqs, out, owner=True)
            if isinstance(step, str):
                return step
            out = step
        for g in self.inverse(pod):
            if any(g.owners.values()):
                step = self._narrow(g, pod, pod_reqs, out, owner=False)
                if isinstance(step, str):
                    return step
                out = step
        return out

    def _narrow(self, g: TopologyGroup, pod: PodInfo, pod_reqs: rq.Requirements, node_reqs: rq.Requirements,
                owner: bool) -> rq.Requirements | str:
        key = g.gk.key
        nxt = g.next_domains(pod, pod_reqs.get_or_exists(key), node_reqs.get_or_exists(key), owner)
        if nxt.size() == 0:
            what = g.gk.kind if owner else "existing pods' anti-affinity"
            return f"unsatisfiable topology constraint for {what}, key={key}"
        merged = node_reqs.add(nxt)
        if merged[key].size() == 0:
            return f"unsatisfiable topology constraint for {g.gk.kind}, key={key}"
        return merged

    def record(self, pod: PodInfo, node_reqs: rq.Requirements, slot: int | None) -> None:
        """``pod`` was placed on a node with ``node_reqs``: update every group that counts it."""
        self._record(pod, node_reqs, slot, owned=[g for g in self.owned(pod) if g.gk.kind == ANTI_AFFINITY])

    def _record(self, pod: PodInfo, node_reqs: rq.Requirements, slot: int | None,
                owned: list[TopologyGroup]) -> None:
        owned_ids = {id(g) for g in owned}
        for g in self.groups.values():
            matches = g.selects(pod) and g.counts_on(node_reqs)
            owner = id(g) in owned_ids
            if not (matches or owner):
                continue
            r = node_reqs.get(g.gk.key)
            if r is None or r.complement:
                continue
            values = sorted(r.values)
            if g.gk.kind == ANTI_AFFINITY:
                for d in values:  # anti-affinity blocks every domain the pod could land in
                    g.record(d, slot if g.gk.key == rq.HOSTNAME else None, owner, matches)
            elif len(values) == 1:
                g.record(values[0], slot if g.gk.key == rq.HOSTNAME else None, False, matches)

    def hostname_slot_filter(self, pod: PodInfo, n_slots: int) -> npt.NDArray[np.bool_] | None:
        """Slots allowed by ``pod``'s hostname groups (None when it has none), computed for all at once."""
        allowed: npt.NDArray[np.bool_] | None = None
        for g in self.owned(pod):
            if g.gk.key != rq.HOSTNAME:
                continue
            g._grow(n_slots)
            counts = g.slot_counts[:n_slots]
            if g.gk.kind == ANTI_AFFINITY:
                ok = counts == 0
            elif g.gk.kind == SPREAD:
                ok = counts + (1 if g.selects(pod) else 0) <= g.gk.max_skew
            else:
                ok = counts > 0
                if not ok.any() and g.selects(pod) and not any(g.domains.values()):
                    ok = np.ones(n_slots, dtype=bool)
            allowed = ok if allowed is None else allowed & ok
        for g in self.inverse(pod):
            if g.gk.key != rq.HOSTNAME:
                continue
            g._grow(n_slots)
            ok = g.slot_owners[:n_slots] == 0
            allowed = ok if allowed is None else allowed & ok
        return allowed


def pod_required_anti(pod: PodInfo) -> set[GroupKey]:
    """Group keys of ``pod``'s required anti-affinity terms."""
    return {_term_key(ANTI_AFFINITY, t) for t in pod.anti_affinity}
