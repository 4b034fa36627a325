"""``PodInfo``: the scheduling-relevant facts of a pod, parsed once from its Kubernetes dict.

Used by kube-scheduler plugins, Karpenter's scheduling simulation and the workload controllers. Parsing
follows Kubernetes' effective-request rules (KEP-753: app containers + native sidecars vs. the init peak,
plus pod overhead) and Karpenter's pod-requirement rules (nodeSelector + the first required node-affinity
term + the heaviest preferred term, which relaxation may later drop).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from ekstwin.memo import IdentityMemo
from ekstwin.model import requirements as req
from ekstwin.model import selectors, taints
from ekstwin.units import resources as res

DAEMONSET_KIND = "DaemonSet"
_KREQS: IdentityMemo[PodInfo, req.Requirements] = IdentityMemo(500_000)  # per PodInfo, see karpenter_requirements
DO_NOT_DISRUPT = "karpenter.sh/do-not-disrupt"
DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
FIELD_PREFIX = "field:"  # matchFields keys are stored with this prefix (only metadata.name exists)
# Scoring's stand-ins for containers without requests (kube-scheduler DefaultMilliCPURequest/MemoryRequest)
NONZERO_CPU_M = 100
NONZERO_MEMORY_B = 200 * 1024 * 1024
CONTROL_PLANE_SCHEDULER = "ekstwin-control-plane"
"""``spec.schedulerName`` of pods that stand for components outside the simulated data plane (the Karpenter
controller): no scheduler binds them, Karpenter never provisions for them, reports and metrics leave them out."""


@dataclass(frozen=True, slots=True)
class SpreadConstraint:
    """A topologySpreadConstraint with defaults applied."""

    max_skew: int
    topology_key: str
    when_unsatisfiable: str
    selector: selectors.LabelSelector
    min_domains: int = 1
    node_affinity_policy: str = "Honor"
    node_taints_policy: str = "Ignore"

    @property
    def hard(self) -> bool:
        """True for DoNotSchedule (a filter), False for ScheduleAnyway (a score)."""
        return self.when_unsatisfiable == "DoNotSchedule"


@dataclass(frozen=True, slots=True)
class AffinityTerm:
    """A pod (anti-)affinity term with its namespaces resolved; ``weight`` is 0 for required terms."""

    selector: selectors.LabelSelector
    namespaces: frozenset[str]
    topology_key: str
    namespace_selector: selectors.LabelSelector | None = None
    weight: int = 0

    def matches(self, namespace: str, labels: Mapping[str, str],
                namespace_labels: Mapping[str, Mapping[str, str]] | None = None) -> bool:
        """Does a pod in ``namespace`` with ``labels`` match this term?"""
        in_ns = namespace in self.namespaces
        if not in_ns and self.namespace_selector is not None:
            ns_labels = (namespace_labels or {}).get(namespace, {"kubernetes.io/metadata.name": namespace})
            in_ns = self.namespace_selector.matches(ns_labels)
        return in_ns and self.selector.matches(labels)


@dataclass(frozen=True, slots=True)
class PodInfo:
    """Scheduling view of one pod. Build with ``PodInfo.parse(pod_dict)``."""

    namespace: str
    name: str
    uid: str
    labels: Mapping[str, str]
    requests: res.Resources  # effective requests incl. ``pods: 1``
    nonzero_cpu_m: int
    nonzero_memory_b: int
    node_name: str | None
    node_selector: Mapping[str, str]
    required_terms: tuple[req.Requirements, ...]  # OR-ed; empty = no required node affinity
    preferred_terms: tuple[tuple[int, req.Requirements], ...]
    tolerations: tuple[taints.Toleration, ...]
    spread: tuple[SpreadConstraint, ...]
    affinity: tuple[AffinityTerm, ...]
    anti_affinity: tuple[AffinityTerm, ...]
    preferred_affinity: tuple[AffinityTerm, ...]
    preferred_anti_affinity: tuple[AffinityTerm, ...]
    priority: int
    created: str
    owner_kind: str | None
    owner_name: str | None
    owner_uid: str | None
    host_ports: tuple[tuple[int, str, str], ...]
    gated: bool
    do_not_disrupt: bool
    deletion_cost: int  # controller.kubernetes.io/pod-deletion-cost (ReplicaSet scale-down, Karpenter's cost)
    deleting: bool
    phase: str

    @property
    def key(self) -> str:
        """``namespace/name``."""
        return f"{self.namespace}/{self.name}"

    @property
    def is_daemonset(self) -> bool:
        """Owned by a DaemonSet."""
        return self.owner_kind == DAEMONSET_KIND

    @property
    def best_effort(self) -> bool:
        """No cpu or memory request at all (BalancedAllocation skips these)."""
        return self.requests[res.CPU] == 0 and self.requests[res.MEMORY] == 0

    def karpenter_requirements(self) -> req.Requirements:
        """Karpenter's pod requirements: nodeSelector ∩ first required term ∩ heaviest preferred term.

        Computed once per PodInfo (the value is immutable; ``relaxed`` makes a new PodInfo).
        """
        return _KREQS(self, PodInfo._karpenter_requirements)

    def _karpenter_requirements(self) -> req.Requirements:
        out = req.Requirements.from_labels(self.node_selector)
        if self.preferred_terms:
            heaviest = max(self.preferred_terms, key=lambda wt: wt[0])[1]
            out = out.merge(heaviest)
        if self.required_terms:
            out = out.merge(self.required_terms[0])
        return req.Requirements(r for k, r in out.items() if not k.startswith(FIELD_PREFIX))

    def strict_requirements(self) -> req.Requirements:
        """nodeSelector ∩ first required term (no preferences)."""
        out = req.Requirements.from_labels(self.node_selector)
        if self.required_terms:
            out = out.merge(self.required_terms[0])
        return req.Requirements(r for k, r in out.items() if not k.startswith(FIELD_PREFIX))

    def relaxed(self, **changes: Any) -> PodInfo:
        """A copy with some scheduling constraints replaced (preference relaxation)."""
        return replace(self, **changes)

    @staticmethod
    def parse(pod: Mapping[str, Any]) -> PodInfo:
        """Parse a Kubernetes Pod dict (defaults already applied or not)."""
        meta = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        ns = meta.get("namespace") or "default"
        labels = meta.get("labels") or {}
        requests = effective_requests(spec)
        nz_cpu, nz_mem = nonzero_requests(spec)
        owner = next((o for o in meta.get("ownerReferences") or () if o.get("controller")),
                     next(iter(meta.get("ownerReferences") or ()), None))
        aff = spec.get("affinity") or {}
        node_aff = aff.get("nodeAffinity") or {}
        required = node_aff.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
        req_terms = tuple(_term_requirements(t) for t in required.get("nodeSelectorTerms") or ())
        pref_terms = tuple((int(p.get("weight", 1)), _term_requirements(p.get("preference") or {}))
                           for p in node_aff.get("preferredDuringSchedulingIgnoredDuringExecution") or ())
        pa = aff.get("podAffinity") or {}
        paa = aff.get("podAntiAffinity") or {}
        annotations = meta.get("annotations") or {}
        return PodInfo(
            namespace=ns, name=meta.get("name", ""), uid=meta.get("uid", ""), labels=labels,
            requests=requests, nonzero_cpu_m=nz_cpu, nonzero_memory_b=nz_mem,
            node_name=spec.get("nodeName") or None, node_selector=spec.get("nodeSelector") or {},
            required_terms=req_terms, preferred_terms=pref_terms,
            tolerations=taints.parse_tolerations(spec.get("tolerations")),
            spread=tuple(_spread(c, labels) for c in spec.get("topologySpreadConstraints") or ()),
            affinity=_terms(pa.get("requiredDuringSchedulingIgnoredDuringExecution"), ns, labels),
            anti_affinity=_terms(paa.get("requiredDuringSchedulingIgnoredDuringExecution"), ns, labels),
            preferred_affinity=_weighted(pa.get("preferredDuringSchedulingIgnoredDuringExecution"), ns, labels),
            preferred_anti_affinity=_weighted(paa.get("preferredDuringSchedulingIgnoredDuringExecution"), ns,
                                              labels),
            priority=int(spec.get("priority") or 0), created=str(meta.get("creationTimestamp") or ""),
            owner_kind=owner.get("kind") if owner else None, owner_name=owner.get("name") if owner else None,
            owner_uid=owner.get("uid") if owner else None, host_ports=_host_ports(spec),
            gated=bool(spec.get("schedulingGates")),
            do_not_disrupt=str(annotations.get(DO_NOT_DISRUPT, "")).lower() == "true",
            deletion_cost=_int_or_zero(annotations.get(DELETION_COST)),
            deleting=bool(meta.get("deletionTimestamp")),
            phase=str((pod.get("status") or {}).get("phase") or "Pending"),
        )


def is_control_plane(pod: Mapping[str, Any]) -> bool:
    """True for a pod outside the simulated data plane (``spec.schedulerName: ekstwin-control-plane``)."""
    return (pod.get("spec") or {}).get("schedulerName") == CONTROL_PLANE_SCHEDULER


def _int_or_zero(value: Any) -> int:
    """An integer annotation; anything unparsable counts as 0 (the API server rejects such values)."""
    try:
        return int(str(value)) if value is not None else 0
    except ValueError:
        return 0


def _term_requirements(term: Mapping[str, Any]) -> req.Requirements:
    exprs = list(term.get("matchExpressions") or ())
    fields = [dict(e, key=FIELD_PREFIX + e["key"]) for e in term.get("matchFields") or ()]
    return req.Requirements.from_node_selector_terms(exprs + fields)


def _spread(c: Mapping[str, Any], pod_labels: Mapping[str, str]) -> SpreadConstraint:
    sel = selectors.LabelSelector.parse(c.get("labelSelector"))
    keys = c.get("matchLabelKeys") or ()
    if keys:
        sel = sel.with_labels({k: pod_labels[k] for k in keys if k in pod_labels})
    return SpreadConstraint(
        max_skew=int(c.get("maxSkew", 1)), topology_key=str(c.get("topologyKey", "")),
        when_unsatisfiable=str(c.get("whenUnsatisfiable") or "DoNotSchedule"), selector=sel,
        min_domains=int(c.get("minDomains") or 1),
        node_affinity_policy=str(c.get("nodeAffinityPolicy") or "Honor"),
        node_taints_policy=str(c.get("nodeTaintsPolicy") or "Ignore"))


def _term(t: Mapping[str, Any], ns: str, pod_labels: Mapping[str, str], weight: int) -> AffinityTerm:
    sel = selectors.LabelSelector.parse(t.get("labelSelector"))
    keys = t.get("matchLabelKeys") or ()
    if keys:
        sel = sel.with_labels({k: pod_labels[k] for k in keys if k in pod_labels})
    ns_sel_raw = t.get("namespaceSelector")
    ns_sel = selectors.LabelSelector.parse(ns_sel_raw) if ns_sel_raw is not None else None
    names = frozenset(t.get("namespaces") or ())
    if not names and ns_sel is None:
        names = frozenset((ns,))
    return AffinityTerm(sel, names, str(t.get("topologyKey", "")), ns_sel, weight)


def _terms(raw: Any, ns: str, pod_labels: Mapping[str, str]) -> tuple[AffinityTerm, ...]:
    return tuple(_term(t, ns, pod_labels, 0) for t in raw or ())


def _weighted(raw: Any, ns: str, pod_labels: Mapping[str, str]) -> tuple[AffinityTerm, ...]:
    return tuple(_term(w.get("podAffinityTerm") or {}, ns, pod_labels, int(w.get("weight", 1)))
                 for w in raw or ())


def _host_ports(spec: Mapping[str, Any]) -> tuple[tuple[int, str, str], ...]:
    out = []
    for c in spec.get("containers") or ():
        for p in c.get("ports") or ():
            if p.get("hostPort"):
                out.append((int(p["hostPort"]), str(p.get("protocol", "TCP")), str(p.get("hostIP", "0.0.0.0"))))
    return tuple(out)


def _container_requests(c: Mapping[str, Any], missing: Mapping[str, int] | None = None) -> dict[str, int]:
    r = c.get("resources") or {}
    limits = r.get("limits") or {}
    requests = dict(limits)  # a limit stands in for a missing request (API defaulting)
    requests.update(r.get("requests") or {})
    out = {k: res.to_canonical(k, v) for k, v in requests.items()}
    for k, v in (missing or {}).items():
        if not out.get(k):
            out[k] = v
    return out


def effective_requests(spec: Mapping[str, Any], missing: Mapping[str, int] | None = None) -> res.Resources:
    """Kubernetes pod requests: max(apps + sidecars, init peak) + overhead, plus one ``pods``.

    ``missing`` gives per-container stand-ins for absent requests (scoring's non-zero requests).
    """
    apps: dict[str, int] = {}
    for c in spec.get("containers") or ():
        for k, v in _container_requests(c, missing).items():
            apps[k] = apps.get(k, 0) + v
    sidecars: dict[str, int] = {}
    peak: dict[str, int] = {}
    for c in spec.get("initContainers") or ():
        creq = _container_requests(c, missing)
        if c.get("restartPolicy") == "Always":
            for k, v in creq.items():
                sidecars[k] = sidecars.get(k, 0) + v
                apps[k] = apps.get(k, 0) + v
            candidate = dict(sidecars)
        else:
            candidate = {k: v + sidecars.get(k, 0) for k, v in creq.items()}
        for k, v in candidate.items():
            peak[k] = max(peak.get(k, 0), v)
    out = {k: max(apps.get(k, 0), peak.get(k, 0)) for k in set(apps) | set(peak)}
    level = (spec.get("resources") or {}).get("requests") or {}
    for k in ("cpu", "memory"):
        if k in level:
            out[k] = res.to_canonical(k, level[k])
    for k, v in (spec.get("overhead") or {}).items():
        out[k] = out.get(k, 0) + res.to_canonical(k, v)
    out[res.PODS] = out.get(res.PODS, 0) + 1
    return res.Resources(out)


_NONZERO = {res.CPU: NONZERO_CPU_M, res.MEMORY: NONZERO_MEMORY_B}


def nonzero_requests(spec: Mapping[str, Any]) -> tuple[int, int]:
    """cpu (m) and memory (bytes) for scoring: the effective requests (init containers, sidecars and
    overhead included, as kube-scheduler 1.29+ does) with 100m / 200MiB for each container that sets none."""
    r = effective_requests(spec, _NONZERO)
    return r[res.CPU], r[res.MEMORY]
