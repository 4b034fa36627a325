"""A read-only view of the cluster as Karpenter's cluster state sees it, built once per pass.

Nodes and in-flight NodeClaims become ``ExistingNode`` values for the scheduling simulation: available =
allocatable − requests of pods bound there; expected daemonset overhead = requests of compatible
DaemonSets minus daemon pods already on the node; uninitialized nodes keep their startup and ephemeral
taints out of the way, as Karpenter ignores those.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, cast

from ekstwin.autoscaling.karpenter import scheduler, templates
from ekstwin.autoscaling.karpenter.instancetypes import TypeTable
from ekstwin.controllers import snapshot_cache
from ekstwin.controllers.base import Deps, Obj, is_true, resources_of
from ekstwin.model import requirements as rq
from ekstwin.model import taints as tn
from ekstwin.model.pod import PodInfo
from ekstwin.units import resources as res


@dataclass
class ClusterView:
    """Snapshot of NodePools, nodes, NodeClaims, bound pods and DaemonSets."""

    nodepools: list[Obj]
    nodes: list[Obj]
    claims: list[Obj]
    daemonset_pods: list[PodInfo]
    pool_usage: dict[str, res.Resources]
    cache: snapshot_cache.SnapshotCache
    """kube-scheduler's cache, synced to the same moment: the bound, non-terminal pods by node (read only), each
    node's pods version, and its snapshot's per-node requested totals."""
    claim_of_node: dict[str, str] = field(default_factory=dict)
    node_names: set[str] = field(default_factory=set)
    overhead_memo: dict[int, tuple[rq.Requirements, tuple[tn.Taint, ...], res.Resources]] = \
        field(default_factory=dict)
    existing_memo: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    """Node → (requirements, taints, allocatable, claim, overhead memo, pods version, its ExistingNode)."""

    @staticmethod
    def build(deps: Deps) -> ClusterView:
        """Read everything the simulation needs from the store."""
        store = deps.store
        nodepools = [p for p in store.list("NodePool") if not p["metadata"].get("deletionTimestamp")]
        claims = store.list("NodeClaim")
        nodes = store.list("Node")
        capacities: dict[str, list[res.Resources]] = defaultdict(list)
        for c in claims:
            pool = (c["metadata"].get("labels") or {}).get(rq.NODEPOOL)
            cap = (c.get("status") or {}).get("capacity")
            if pool and cap:
                capacities[pool].append(resources_of(cap))
        usage = {pool: res.total(caps) for pool, caps in capacities.items()}
        # Karpenter's cluster state and kube-scheduler's cache both track the bound pods by node; the twin keeps
        # one incrementally (``snapshot_cache``) instead of re-reading every pod on every pass
        cache = snapshot_cache.cache(deps)
        cache.snapshot(deps)
        ds_pods = [_daemon_pod(deps, d) for d in store.list("DaemonSet")]
        view = ClusterView(nodepools, nodes, claims, ds_pods, usage, cache)
        view.existing_memo = deps.state.setdefault(_EXISTING_KEY, {})
        if len(view.existing_memo) > 50_000:
            view.existing_memo.clear()
        # the overhead memo lives as long as the DaemonSets' pods are the same (memoised) objects
        memo = deps.state.get(_OVERHEAD_KEY)
        if memo is None or len(memo[0]) != len(ds_pods) or len(memo[1]) > 50_000 \
                or any(a is not b for a, b in zip(memo[0], ds_pods, strict=True)):
            memo = deps.state[_OVERHEAD_KEY] = (ds_pods, {})
        view.overhead_memo = memo[1]
        view.node_names = {n["metadata"]["name"] for n in nodes}
        for c in claims:
            node = (c.get("status") or {}).get("nodeName")
            if node:
                view.claim_of_node[node] = c["metadata"]["name"]
        return view

    def pods_on(self, node: str) -> list[PodInfo]:
        """The bound, non-terminal pods of ``node`` (or of an in-flight NodeClaim: none)."""
        return list(self.cache.by_node.get(node, {}).values())

    def nodepool(self, name: str) -> Obj:
        """The NodePool called ``name``."""
        return next(p for p in self.nodepools if p["metadata"]["name"] == name)

    def domains(self, table: TypeTable, tpls: list[scheduler.NodeClaimTemplate]) -> dict[str, set[str]]:
        """Topology domains for a simulation: what the NodePools can reach plus existing nodes' zones and
        hostnames (an in-flight NodeClaim's hostname, its own name, is registered by the scheduler with the
        rest of its existing nodes)."""
        out = scheduler.template_domains(table, tpls)
        zones = {(n["metadata"].get("labels") or {}).get(rq.ZONE) for n in self.nodes}
        out[rq.ZONE] = out.get(rq.ZONE, set()) | {z for z in zones if z}
        out[rq.HOSTNAME] = out.get(rq.HOSTNAME, set()) | set(self.node_names)
        return out

    def existing_nodes(self, deps: Deps, tpls: list[scheduler.NodeClaimTemplate]) -> list[scheduler.ExistingNode]:
        """Nodes and in-flight NodeClaims that pods may be placed on.

        Read only: a node unchanged since the last pass is the very same object, so a simulation must work on
        ``ExistingNode.fresh()`` copies (the scheduler records placements on the objects it is given).
        """
        claims_by_name = {c["metadata"]["name"]: c for c in self.claims}
        out = []
        for n in self.nodes:
            if n["metadata"].get("deletionTimestamp"):
                continue
            name = n["metadata"]["name"]
            claim = claims_by_name.get(self.claim_of_node.get(name, ""))
            if claim is not None and claim["metadata"].get("deletionTimestamp"):
                continue
            reqs, taints, allocatable = _node_parts(deps, n)
            out.append(self._existing(name, reqs, taints, allocatable,
                                      initialized=claim is None or is_true(claim, "Initialized"),
                                      nodepool=(n["metadata"].get("labels") or {}).get(rq.NODEPOOL), claim=claim))
        for c in self.claims:
            st = c.get("status") or {}
            if c["metadata"].get("deletionTimestamp") or st.get("nodeName") or not st.get("allocatable"):
                continue
            reqs = rq.Requirements.from_node_selector_terms(
                [{k: v for k, v in r.items() if k != "minValues"} for r in c["spec"].get("requirements") or ()])
            reqs = reqs.merge(rq.Requirements.from_labels(c["metadata"].get("labels") or {}))
            reqs = reqs.add(rq.Requirement(rq.HOSTNAME, False, frozenset((c["metadata"]["name"],))))
            out.append(self._existing(c["metadata"]["name"], reqs, tn.parse_taints(c["spec"].get("taints")),
                                      res.Resources.parse(st["allocatable"]), initialized=False,
                                      nodepool=(c["metadata"].get("labels") or {}).get(rq.NODEPOOL), claim=c))
        return out

    def _overhead(self, reqs: rq.Requirements, taints: tuple[tn.Taint, ...]) -> res.Resources:
        """``templates.daemon_overhead`` for a node, memoised while the DaemonSets and the node's requirements
        (the very object ``_node_parts`` keeps while its labels are unchanged) stay the same."""
        memo = self.overhead_memo
        hit = memo.get(id(reqs))
        if hit is not None and hit[0] is reqs and hit[1] == taints:
            return hit[2]
        value = templates.daemon_overhead(self.daemonset_pods, reqs, taints)
        memo[id(reqs)] = (reqs, taints, value)
        return value

    def _existing(self, name: str, reqs: rq.Requirements, taints: tuple[tn.Taint, ...], allocatable: res.Resources,
                  *, initialized: bool, nodepool: str | None, claim: Obj | None) -> scheduler.ExistingNode:
        # What follows depends only on these parts, and a pass sees most nodes unchanged since the last one.
        version = self.cache.pods_version(name)
        hit = self.existing_memo.get(name)
        if hit is not None and hit[0] is reqs and hit[1] == taints and \
                hit[2] is allocatable and hit[3] is claim and hit[4] is self.overhead_memo and hit[5] == version \
                and hit[6].initialized == initialized and hit[6].nodepool == nodepool:
            return cast(scheduler.ExistingNode, hit[6])
        bound = self.pods_on(name)
        snap = self.cache.snap
        used = snap.node(name).requested if snap is not None and snap.has_node(name) else \
            res.total(p.requests for p in bound)
        startup = tn.parse_taints((claim or {}).get("spec", {}).get("startupTaints")) if claim else ()
        expected = self._overhead(reqs, taints)
        present = res.total(p.requests for p in bound if p.is_daemonset)
        available, remaining = allocatable - used, (expected - present).clamp_non_negative()
        node = scheduler.ExistingNode(
            name=name, requirements=reqs, taints=taints, available=available, daemon_remaining=remaining,
            initialized=initialized, nodepool=nodepool, startup_taints=startup, bound=bound)
        self.existing_memo[name] = (reqs, taints, allocatable, claim, self.overhead_memo, version, node)
        return node


# Passes run every few seconds over every node and DaemonSet, and most have not changed since the last pass.
# The store shares unchanged subtrees between versions, so these caches key on the very objects a pass reads.
_DAEMON_POD_KEY, _NODE_PARTS_KEY, _OVERHEAD_KEY, _EXISTING_KEY = "nodes_view.daemon_pods", \
    "nodes_view.node_parts", "nodes_view.overhead", "nodes_view.existing"


def _daemon_pod(deps: Deps, ds: Obj) -> PodInfo:
    """The pod a DaemonSet would run on a node (what Karpenter counts as daemon overhead), parsed once per spec."""
    meta = ds["metadata"]
    cache: dict[str, tuple[Any, PodInfo]] = deps.state.setdefault(_DAEMON_POD_KEY, {})
    hit = cache.get(meta["uid"])
    if hit is not None and hit[0] is ds["spec"]:
        return hit[1]
    info = PodInfo.parse({"metadata": {"namespace": meta.get("namespace"),
                                       "ownerReferences": [{"kind": "DaemonSet", "name": meta["name"],
                                                            "uid": meta["uid"], "controller": True}]},
                          "spec": (ds["spec"].get("template") or {}).get("spec") or {}})
    cache[meta["uid"]] = (ds["spec"], info)
    return info


def _node_parts(deps: Deps, node: Obj) -> tuple[rq.Requirements, tuple[tn.Taint, ...], res.Resources]:
    """A node's requirements (labels + hostname), taints and allocatable, parsed once per change of them."""
    cache: dict[str, tuple[Any, Any, Any, tuple[rq.Requirements, tuple[tn.Taint, ...], res.Resources]]] = \
        deps.state.setdefault(_NODE_PARTS_KEY, {})
    name, labels = node["metadata"]["name"], node["metadata"].get("labels")
    spec, alloc = node.get("spec"), (node.get("status") or {}).get("allocatable")
    hit = cache.get(name)
    if hit is not None and hit[0] is labels and hit[1] is spec and hit[2] is alloc:
        return hit[3]
    if len(cache) > 50_000:
        cache.clear()
    parts = (rq.Requirements.from_labels({**(labels or {}), rq.HOSTNAME: name}),
             tn.parse_taints((spec or {}).get("taints")), res.Resources.parse(alloc))
    cache[name] = (labels, spec, alloc, parts)
    return parts
