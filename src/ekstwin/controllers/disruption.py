"""Karpenter's disruption controller: one command per pass, validated, executed through a queue.

Every 10 s (at once after a command) a pass gathers candidates (spec 7.2), computes per-NodePool budgets
per reason (7.3) and tries the methods in the order of the configured Karpenter version: emptiness, drift,
multi-node and single-node consolidation. The first command found is executed — drift at once, the others
after the 15 s validation re-check (7.11). Execution taints the candidates, launches replacements and queues
the command; the queue deletes the candidates once every replacement is Initialized, or gives up after
10 minutes (7.12). While nothing in the cluster changed since a pass found nothing to do, no pass runs (see
``_idle``), which is what Karpenter's consolidation state achieves by skipping unchanged passes.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import numpy as np

from ekstwin.autoscaling.karpenter import budgets, templates
from ekstwin.autoscaling.karpenter.disruption import consolidation, cost, logfmt, methods
from ekstwin.autoscaling.karpenter.disruption.simulate import ClusterState
from ekstwin.autoscaling.karpenter.disruption.types import (
    DRIFTED,
    EMPTY,
    UNDERUTILIZED,
    Candidate,
    Command,
    Verdict,
)
from ekstwin.autoscaling.karpenter.instancetypes import CAPACITY_TYPES
from ekstwin.controllers import capacity_reservations, nodeclaim, nodeclaim_disruption, nodes_view, provisioner
from ekstwin.controllers.base import Deps, Obj, is_true, pod_info, with_condition
from ekstwin.controllers.eviction import blocking_pdb
from ekstwin.model import requirements as rq
from ekstwin.model import taints as tn
from ekstwin.model.pod import DO_NOT_DISRUPT, PodInfo
from ekstwin.sim import driver
from ekstwin.sim.reconcile import Result
from ekstwin.units.resources import Resources

NAME = "disruption"
LOOP, CHANGED = "loop", "changed"
POLL_S, VALIDATION_S, REPLACEMENT_TIMEOUT_S = 10.0, 15.0, 600.0
EVENT_DEDUP_S = 900.0
DISRUPTED_TAINT = tn.Taint(tn.DISRUPTED, "", tn.NO_SCHEDULE)
SPOT_TO_SPOT = "SpotToSpotConsolidation"

# An EC2NodeClass change can change the offerings (e.g. which capacity reservations it selects).
WATCHES = [driver.Watch(kind, lambda ev: CHANGED)
           for kind in ("Pod", "Node", "NodeClaim", "NodePool", "PodDisruptionBudget", "EC2NodeClass")]


@dataclass
class Queued:
    """A command being executed: waiting for its replacements to initialize."""

    command: Command
    command_id: str
    started: float
    replacements: list[str]
    polls: int = 0


@dataclass
class PassNotes:
    """What one computed pass looked at and concluded, node by node (a forced pass's decision record)."""

    candidates: list[str] = field(default_factory=list)
    """The candidates' nodes, cheapest to disrupt first."""
    verdicts: dict[str, str] = field(default_factory=dict)
    """Node → why this pass left it alone (Karpenter's event message) or ``chosen: …``."""


@dataclass(frozen=True)
class PassOutcome:
    """What a disruption pass run on demand (``run_pass``) did."""

    command: Command | None
    status: Literal["executed", "validating", "waiting", "none"]
    """``executed`` (drift starts at once), ``validating`` (consolidation: executed at ``validate_at`` if the
    re-check still agrees), ``waiting`` (the loop's own command, already waiting for its validation at
    ``validate_at``, returned as it is) or ``none``."""
    validate_at: float | None = None
    notes: PassNotes = field(default_factory=PassNotes)
    """The pass's candidates and verdicts (empty for ``waiting``: no pass was computed)."""


NOT_CONSOLIDATABLE = "not consolidatable yet (consolidateAfter has not passed since its last pod event)"
"""A forced pass's note for a candidate without the Consolidatable condition (Karpenter skips it silently)."""


@dataclass
class State:
    """The controller's memory between passes."""

    pending: tuple[Command, float] | None = None
    queue: list[Queued] = field(default_factory=list)
    dirty: bool = True
    refresh_at: float = math.inf
    """When time alone (budget schedules, expiring unavailable offerings) calls for a fresh pass."""
    seq: int = 0
    published: dict[tuple[str, str, str], float] = field(default_factory=dict)
    verdicts: dict[str, tuple[str, str]] = field(default_factory=dict)
    candidates: dict[str, tuple[Obj, Obj, tuple[int, int], Candidate, float, float, float | None]] = \
        field(default_factory=dict)
    """Node → (NodeClaim, Node, pods version, candidate, Σ pod cost, created, expireAfter) of its last pass."""
    last_pass: PassNotes = field(default_factory=PassNotes)
    """The latest computed pass's notes; ``verdicts`` only keeps changes, which cannot tell one pass's story."""


def _state(deps: Deps) -> State:
    st = deps.state.get(NAME)
    if st is None:
        st = State()
        deps.state[NAME] = st
    assert isinstance(st, State)
    return st


def reconcile(deps: Deps, key: str, now: float) -> Result:
    """One disruption pass (key "loop"), or note that the cluster changed (key "changed")."""
    st = _state(deps)
    if key == CHANGED:
        # the next pass on Karpenter's 10 s polling grid will see the change
        st.dirty = True
        _orchestrate(deps, st, now)
        deps.enqueue(NAME, LOOP, math.ceil(now / POLL_S) * POLL_S)
        return Result()
    wait = _orchestrate(deps, st, now)
    if st.pending is not None:
        pending, at = st.pending
        if now < at:
            return Result(requeue_after=min(at - now, wait))
        st.pending = None
        if _validate(deps, pending, now):
            _execute(deps, st, pending, now)
            return Result(requeue_after=0.0)
        deps.recorder.log(NAME, f"abandoning {_noun(pending)} attempt due to pod churn, command is no longer valid",
                          level="DEBUG")
        return Result(requeue_after=min(POLL_S, wait))
    if now >= st.refresh_at:
        st.dirty = True  # a budget window or an unavailable offering changed with time alone
    if not st.dirty:
        return _idle(deps, st, now, wait)
    cmd = _compute(deps, st, now)
    if cmd is None:
        st.dirty = False
        return _idle(deps, st, now, wait)
    if cmd.method == methods.DRIFT:
        _execute(deps, st, cmd, now)
        return Result(requeue_after=0.0)
    st.pending = (cmd, now + VALIDATION_S)
    return Result(requeue_after=VALIDATION_S)


def _idle(deps: Deps, st: State, now: float, wait: float) -> Result:
    """Nothing to do. Karpenter polls every 10 s and skips the work until something changes (its 5-minute
    forced refresh catches what it cannot observe). In the twin every change is a store event, which wakes
    the loop on the 10 s grid; only budget schedules and expiring unavailable-offerings entries change with
    time alone, so sleep until the next of those."""
    if st.queue:
        return Result(requeue_after=min(POLL_S, wait))
    wall = _wall(deps)
    changes = [(t - wall).total_seconds() for pool in deps.store.list("NodePool")
               for b in budgets.nodepool_budgets(pool) if (t := b.next_change(wall)) is not None]
    changes += [until - now for until in deps.state.get("ice", {}).values() if until > now]
    if not changes:
        st.refresh_at = math.inf
        return Result()
    delay = max(POLL_S, math.ceil(min(changes) / POLL_S) * POLL_S)
    st.refresh_at = now + delay
    return Result(requeue_after=delay)


def _noun(cmd: Command) -> str:
    return {"single": "single-node consolidation", "multi": "multi-node consolidation",
            "emptiness": "empty node consolidation"}.get(cmd.method, cmd.method)


# -- candidates --------------------------------------------------------------------------------------
@dataclass
class Pass:
    """Everything one pass computed: cluster state for simulations, candidates, budgets, pools."""

    cluster: ClusterState
    candidates: list[Candidate]
    pod_blocked: dict[str, str]
    pools: dict[str, Obj]
    claims: dict[str, Obj]
    pool_counts: dict[str, tuple[int, int]] | None = None
    """Filled by ``allowances`` on first use (the same for every method of the pass)."""


def _wall(deps: Deps) -> datetime:
    return datetime.fromisoformat(deps.store.format_time().replace("Z", "+00:00")).astimezone(UTC)


def _reschedulable(pods: list[PodInfo]) -> list[PodInfo]:
    return [p for p in pods if not p.is_daemonset and p.owner_kind != "Node" and not p.deleting
            and p.phase not in ("Succeeded", "Failed")]


def build_pass(deps: Deps, st: State, now: float, publish: bool = True) -> Pass:
    """Gather candidates (spec 7.2) and the state their simulations run against."""
    view = nodes_view.ClusterView.build(deps)
    table = nodeclaim.available_table(deps, now)  # simulations see ICE-cached offerings as unavailable
    tpls, _ = templates.build_templates(view.nodepools, table, view.daemonset_pods, view.pool_usage,
                                        provisioner.pool_reservation_scope(deps, view.nodepools, now))
    queued = {c.node for q in st.queue for c in q.command.candidates}
    pools = {p["metadata"]["name"]: p for p in view.nodepools}
    claims = {c["metadata"]["name"]: c for c in view.claims}
    nodes = {n["metadata"]["name"]: n for n in view.nodes}
    pdbs: dict[str, list[Obj]] = {}  # a PDB only covers pods of its own namespace
    for pdb in deps.store.list("PodDisruptionBudget"):
        pdbs.setdefault(pdb["metadata"].get("namespace", "default"), []).append(pdb)
    nominated: dict[str, float] = deps.state.get("nominated", {})
    candidates, pod_blocked = [], {}
    going: set[str] = set(queued)
    for claim in view.claims:
        node_name = (claim.get("status") or {}).get("nodeName")
        node = nodes.get(node_name or "")
        if node is None:
            continue
        if claim["metadata"].get("deletionTimestamp") or node["metadata"].get("deletionTimestamp"):
            going.add(node_name or "")
            _blocked(deps, st, now, node, claim, "Node is deleting or marked for deletion", publish)
            continue
        if node_name in queued:
            continue
        why = _node_blocker(claim, node, pools, nominated.get(node_name or "", -1.0) > now)
        if why:
            _blocked(deps, st, now, node, claim, why, publish)
            continue
        candidate = _candidate(deps, st, claim, node, view, now)
        blocker = _pod_blocker(deps, candidate, pdbs)
        if blocker:
            pod_blocked[node_name or ""] = blocker
        candidates.append(candidate)
    pending = [pod_info(deps, p) for p in deps.store.by_index("Pod", "spec.nodeName", "")
               if provisioner.is_provisionable(p)]
    pending += [p for n in sorted(going) for p in _reschedulable(view.pods_on(n))]
    existing = [n for n in view.existing_nodes(deps, tpls) if n.name not in going]
    domains = {k: frozenset(v) for k, v in view.domains(table, tpls).items()}
    state = ClusterState(table, tuple(tpls), tuple(existing), tuple(pending), domains,
                         reservations=capacity_reservations.counts(deps, now))
    candidates.sort(key=lambda c: (c.disruption_cost, c.node))
    return Pass(state, candidates, pod_blocked, pools, claims)


def _node_blocker(claim: Obj, node: Obj, pools: dict[str, Obj], nominated: bool) -> str | None:
    if not is_true(claim, "Initialized"):
        return "Node isn't initialized"
    if nominated:
        return "Node is nominated for a pending pod"
    ann = {**(claim["metadata"].get("annotations") or {}), **(node["metadata"].get("annotations") or {})}
    if str(ann.get(DO_NOT_DISRUPT, "")).lower() == "true":
        return 'Disruption is blocked through the "karpenter.sh/do-not-disrupt" annotation'
    pool = (node["metadata"].get("labels") or {}).get(rq.NODEPOOL)
    if pool not in pools:
        return f'NodePool "{pool}" not found'
    return None


def _pod_blocker(deps: Deps, candidate: Candidate, pdbs: dict[str, list[Obj]]) -> str | None:
    """Why the node's pods block its disruption: a do-not-disrupt pod, else a PDB refusing an eviction now
    (``pdbs``: the PDBs by namespace)."""
    pods = candidate.pods
    for p in pods:
        if p.do_not_disrupt:
            return f'Pod "{p.key}" has "karpenter.sh/do-not-disrupt" annotation'
    if pdbs.keys().isdisjoint(p.namespace for p in pods):
        return None
    for p in pods:
        covering = pdbs.get(p.namespace)
        pod = deps.store.try_get("Pod", p.name, p.namespace) if covering else None
        pdb = blocking_pdb(covering, pod) if covering and pod is not None else None
        if pdb:
            return f'Pdb "{pdb}" prevents pod evictions'
    return None


def _candidate(deps: Deps, st: State, claim: Obj, node: Obj, view: nodes_view.ClusterView, now: float) -> Candidate:
    """The node as a candidate. Passes run every few seconds and most nodes are unchanged since the last one,
    so the candidate is kept while its NodeClaim and Node are the very same objects (the store replaces an
    object on every write) and its pods are the same (the scheduler cache's per-node version); only the
    disruption cost, which ages, is recomputed."""
    name = node["metadata"]["name"]
    version = view.cache.pods_version(name)
    hit = st.candidates.get(name)
    if hit is not None and hit[0] is claim and hit[1] is node and hit[2] == version:
        base, pods_cost, created, expire_s = hit[3:]
    else:
        pods = _reschedulable(view.pods_on(name))
        labels = node["metadata"].get("labels") or {}
        itype, ct, zone = labels.get(rq.INSTANCE_TYPE, ""), labels.get(rq.CAPACITY_TYPE, ""), labels.get(rq.ZONE, "")
        created = deps.store.parse_time(claim["metadata"]["creationTimestamp"])
        expire_s = nodeclaim_disruption.duration_or_never(claim["spec"].get("expireAfter"))
        pods_cost = cost.pods_cost(pods)
        drifted = None
        if is_true(claim, "Drifted"):
            cond = next(c for c in claim["status"]["conditions"] if c["type"] == "Drifted")
            drifted = deps.store.parse_time(cond["lastTransitionTime"])
        base = Candidate(node=name, nodeclaim=claim["metadata"]["name"], nodepool=labels.get(rq.NODEPOOL, ""),
                         instance_type=itype, capacity_type=ct, zone=zone, price=_price(deps, itype, zone, ct),
                         pods=tuple(pods), disruption_cost=math.nan,
                         consolidatable=is_true(claim, "Consolidatable"), drifted_at=drifted,
                         capacity=Resources.parse((claim.get("status") or {}).get("capacity")))
        if len(st.candidates) > 50_000:
            st.candidates.clear()
        st.candidates[name] = (claim, node, version, base, pods_cost, created, expire_s)
    return dataclasses.replace(base, disruption_cost=cost.disruption_cost(pods_cost, now - created, expire_s))


def _price(deps: Deps, itype: str, zone: str, capacity_type: str) -> float:
    t = deps.table
    try:
        i, z, c = t.names.index(itype), t.zones.index(zone), CAPACITY_TYPES.index(capacity_type)
    except ValueError:
        return float("inf")
    return float(t.price[i, z, c]) if np.isfinite(t.price[i, z, c]) else float("inf")


def _blocked(deps: Deps, st: State, now: float, node: Obj, claim: Obj, message: str, publish: bool) -> None:
    if publish:
        for obj in (node, claim):
            _publish(deps, st, now, obj, "DisruptionBlocked", _worded(deps, obj, message))
        _remember(deps, st, node["metadata"]["name"], "candidate", message)


def _worded(deps: Deps, obj: Obj, message: str) -> str:
    """v1beta1-era Karpenter prefixed blocked events with the object kind and worded two of them apart."""
    if methods.version_tuple(deps.settings.karpenter_version) >= (1, 0):
        return message
    message = message.replace('blocked through the "karpenter.sh/do-not-disrupt"',
                              'blocked with the "karpenter.sh/do-not-disrupt"').replace('Pdb "', 'PDB "')
    return f"Cannot disrupt {obj['kind']}: {message}"


def _publish(deps: Deps, st: State, now: float, obj: Obj, reason: str, message: str) -> None:
    """Publish an event at most once per 15 minutes per (object, reason, message), as Karpenter does."""
    key = (obj["kind"] + "/" + obj["metadata"]["name"], reason, message)
    if now - st.published.get(key, -1e18) < EVENT_DEDUP_S:
        return
    st.published[key] = now
    deps.recorder.event(obj, "Normal", reason, message)


def _remember(deps: Deps, st: State, node: str, method: str, message: str) -> None:
    """Record why a node was (not) disrupted, once per change, for reports and ``explain``."""
    st.last_pass.verdicts[node] = message
    if st.verdicts.get(node) == (method, message):
        return
    st.verdicts[node] = (method, message)
    deps.recorder.decide("disruption", message, node=node, method=method)


# -- budgets -----------------------------------------------------------------------------------------
def allowances(deps: Deps, p: Pass, reason: str, now: float, publish: bool = True) -> dict[str, int]:
    """Per NodePool: how many nodes may still be disrupted for ``reason`` now (spec 7.3)."""
    wall = _wall(deps)
    out: dict[str, int] = {}
    counts = _pool_counts(deps, p)
    for name, pool in p.pools.items():
        total, disrupting = counts.get(name, (0, 0))
        pool_budgets = budgets.nodepool_budgets(pool)
        allowance = budgets.pool_allowance(pool_budgets, reason, wall, total)
        allowed = budgets.allowed_disruptions(pool_budgets, reason, wall, total, disrupting)
        out[name] = total if allowed is None else allowed
        deps.recorder.gauge("karpenter_nodepools_allowed_disruptions", out[name], nodepool=name,
                            reason=reason.lower())
        if publish and budgets.blocked(allowance, total):
            st = _state(deps)
            _publish(deps, st, now, pool, "DisruptionBlocked", budgets.blocked_message(reason))
    return out


def _pool_counts(deps: Deps, p: Pass) -> dict[str, tuple[int, int]]:
    """Per NodePool: (initialized nodes counted by budgets, those already disrupting), once per pass."""
    if p.pool_counts is not None:
        return p.pool_counts
    counts: dict[str, tuple[int, int]] = {}
    for claim in p.claims.values():
        name = (claim["metadata"].get("labels") or {}).get(rq.NODEPOOL)
        if name is None or not is_true(claim, "Initialized") or is_true(claim, "InstanceTerminating"):
            continue
        node = deps.store.try_get("Node", (claim.get("status") or {}).get("nodeName", ""))
        going = bool(claim["metadata"].get("deletionTimestamp") or node is None or not is_true(node, "Ready")
                     or node["metadata"].get("deletionTimestamp") or _has_disrupted_taint(node))
        total, disrupting = counts.get(name, (0, 0))
        counts[name] = (total + 1, disrupting + going)
    p.pool_counts = counts
    return counts


def _has_disrupted_taint(node: Obj) -> bool:
    return any(t.get("key") == tn.DISRUPTED for t in (node.get("spec") or {}).get("taints") or ())


# -- computing a command -----------------------------------------------------------------------------
def _method_candidates(p: Pass, method: str, deps: Deps, st: State, now: float,
                       publish: bool = True) -> list[Candidate]:
    """The candidates a method may consider, emitting Karpenter's events for the others."""
    out = []
    after_by_pool: dict[str, float | None] = {}
    for c in p.candidates:
        pool = p.pools[c.nodepool]
        disruption = pool["spec"].get("disruption") or {}
        blocker = p.pod_blocked.get(c.node)
        if method == methods.DRIFT:
            claim = p.claims[c.nodeclaim]
            if c.drifted_at is not None and (not blocker or claim["spec"].get("terminationGracePeriod")):
                out.append(c)
            continue
        if c.nodepool not in after_by_pool:
            after_by_pool[c.nodepool] = nodeclaim_disruption.consolidate_after(pool)
        after = after_by_pool[c.nodepool]
        if blocker:
            if publish:
                _blocked(deps, st, now, deps.store.get("Node", c.node), p.claims[c.nodeclaim], blocker, True)
            continue
        if after is None:
            _unconsolidatable(deps, st, now, c, p, f'NodePool "{c.nodepool}" has consolidation disabled', publish)
            continue
        if not c.consolidatable:
            continue
        if method == methods.EMPTINESS:
            if c.empty:
                out.append(c)
            continue
        if disruption.get("consolidationPolicy", "WhenEmptyOrUnderutilized") == "WhenEmpty":
            if not c.empty:
                _unconsolidatable(deps, st, now, c, p, f'NodePool "{c.nodepool}" has non-empty consolidation disabled',
                                  publish)
            continue
        out.append(c)
    return out


def _unconsolidatable(deps: Deps, st: State, now: float, c: Candidate, p: Pass, message: str,
                      publish: bool) -> None:
    if not publish:
        return
    node = deps.store.try_get("Node", c.node)
    if node is not None:
        _publish(deps, st, now, node, "Unconsolidatable", message)
    _publish(deps, st, now, p.claims[c.nodeclaim], "Unconsolidatable", message)
    _remember(deps, st, c.node, "consolidation", message)


def _compute(deps: Deps, st: State, now: float) -> Command | None:
    st.last_pass = PassNotes()  # before build_pass: it records why non-candidates are left alone
    p = build_pass(deps, st, now)
    st.last_pass.candidates = [c.node for c in p.candidates]
    spot_to_spot = bool(deps.settings.feature_gates.get(SPOT_TO_SPOT, False))

    def verdict(v: Verdict) -> None:
        c = next(x for x in p.candidates if x.node == v.node)
        if v.reason == "Unconsolidatable":
            _unconsolidatable(deps, st, now, c, p, v.message, True)
        elif v.reason:
            _blocked(deps, st, now, deps.store.get("Node", c.node), p.claims[c.nodeclaim], v.message, True)

    for method in methods.method_order(deps.settings.karpenter_version):
        cands = _method_candidates(p, method, deps, st, now)
        if not cands:
            continue
        if method == methods.EMPTINESS:
            cmd = methods.emptiness(cands, allowances(deps, p, EMPTY, now))
        elif method == methods.DRIFT:
            cmd = methods.drift(p.cluster, cands, allowances(deps, p, DRIFTED, now), verdict)
        elif method == methods.MULTI:
            cmd = consolidation.multi_node(p.cluster, cands, allowances(deps, p, UNDERUTILIZED, now),
                                           spot_to_spot=spot_to_spot)
        else:
            cmd = consolidation.single_node(p.cluster, cands, allowances(deps, p, UNDERUTILIZED, now),
                                            spot_to_spot=spot_to_spot, verdict=verdict)
        if cmd is not None:
            for c in cmd.candidates:
                _remember(deps, st, c.node, cmd.method, f"chosen: {cmd.message}")
            return cmd
    for c in p.candidates:
        if not c.consolidatable:
            st.last_pass.verdicts.setdefault(c.node, NOT_CONSOLIDATABLE)
    return None


def run_pass(deps: Deps, now: float) -> PassOutcome:
    """One disruption pass on demand (forced passes): compute a command and start it as the loop does.

    Drift executes at once; consolidation waits the 15 s validation re-check, which the controller's loop
    performs when simulated time reaches it. A command the loop found earlier and that still waits for
    its validation is returned as it is (Karpenter holds one command at a time).
    """
    st = _state(deps)
    if st.pending is not None:
        return PassOutcome(st.pending[0], "waiting", st.pending[1])
    _orchestrate(deps, st, now)
    cmd = _compute(deps, st, now)
    notes = st.last_pass
    if cmd is None:
        return PassOutcome(None, "none", notes=notes)
    if cmd.method == methods.DRIFT:
        _execute(deps, st, cmd, now)
        return PassOutcome(cmd, "executed", notes=notes)
    st.pending = (cmd, now + VALIDATION_S)
    deps.enqueue(NAME, LOOP, now + VALIDATION_S)
    return PassOutcome(cmd, "validating", now + VALIDATION_S, notes)


# -- validation (spec 7.11) --------------------------------------------------------------------------
def _validate(deps: Deps, cmd: Command, now: float) -> bool:
    st = _state(deps)
    p = build_pass(deps, st, now, publish=False)
    fresh = {c.node: c for c in _method_candidates(p, cmd.method, deps, st, now, publish=False)}
    if any(c.node not in fresh for c in cmd.candidates):
        return False
    allowed = allowances(deps, p, cmd.reason, now, publish=False)
    for c in cmd.candidates:
        allowed[c.nodepool] = allowed.get(c.nodepool, 0) - 1
        if allowed[c.nodepool] < 0:
            return False
    current = [fresh[c.node] for c in cmd.candidates]
    if cmd.method == methods.EMPTINESS:
        return all(c.empty for c in current)
    spot_to_spot = bool(deps.settings.feature_gates.get(SPOT_TO_SPOT, False))
    strict = dataclasses.replace(p.cluster, strict_reservations=True)  # Karpenter validates in strict mode
    again = consolidation.consolidate(strict, current, spot_to_spot=spot_to_spot, single=cmd.method == "single")
    if not isinstance(again, Command) or again.decision != cmd.decision:
        return False
    if cmd.replacements:
        return set(cmd.replacements[0].options.tolist()) <= set(again.replacements[0].options.tolist())
    return True


# -- execution and the orchestration queue (spec 7.12) -----------------------------------------------
def _execute(deps: Deps, st: State, cmd: Command, now: float) -> None:
    st.seq += 1
    command_id = f"{st.seq:08x}-0000-4000-8000-{st.seq:012x}"
    message, fields = logfmt.decision_log(cmd, deps.table, deps.settings.karpenter_version, command_id)
    deps.recorder.log(NAME, message, **fields)
    ts = deps.store.format_time()
    for c in cmd.candidates:
        node = deps.store.try_get("Node", c.node)
        if node is not None and not _has_disrupted_taint(node):
            taints = [*(node.get("spec") or {}).get("taints", []), DISRUPTED_TAINT.to_k8s()]
            deps.store.update({**node, "spec": {**node["spec"], "taints": taints}})
        claim = deps.store.try_get("NodeClaim", c.nodeclaim)
        if claim is not None:
            deps.store.update_status(with_condition(claim, "DisruptionReason", "True", ts, cmd.reason))
    names = []
    for replacement in cmd.replacements:
        pool = deps.store.get("NodePool", replacement.template.nodepool)
        created = provisioner.create_nodeclaim(deps, replacement, pool, reason=cmd.reason.lower())
        names.append(created["metadata"]["name"])
    deps.recorder.count("karpenter_voluntary_disruption_decisions_total", decision=cmd.decision,
                        reason=cmd.reason.lower(), consolidation_type=cmd.consolidation_type)
    deps.recorder.decide("disruption", message or cmd.message, command_id=command_id, method=cmd.method,
                         decision=cmd.decision, nodes=[c.node for c in cmd.candidates], replacements=names,
                         why=cmd.message)
    st.queue.append(Queued(cmd, command_id, now, names))
    _orchestrate(deps, st, now)


def _orchestrate(deps: Deps, st: State, now: float) -> float:
    """Advance queued commands; returns how soon the queue wants to be polled again."""
    wait = POLL_S
    for q in list(st.queue):
        claims = [deps.store.try_get("NodeClaim", n) for n in q.replacements]
        reason = q.command.reason
        if (any(c is None for c in claims) and now - q.started >= 5.0) or now - q.started > REPLACEMENT_TIMEOUT_S:
            _fail(deps, st, q)
            continue
        if all(c is not None and is_true(c, "Initialized") for c in claims):
            _terminate_candidates(deps, q)
            st.queue.remove(q)
            continue
        if q.polls == 0:
            for c in q.command.candidates:
                node = deps.store.try_get("Node", c.node)
                if node is not None:
                    deps.recorder.event(node, "Normal", "DisruptionLaunching", f"Launching NodeClaim: {reason}")
                    deps.recorder.event(node, "Normal", "DisruptionWaitingReadiness",
                                        "Waiting on readiness to continue disruption")
        q.polls += 1
        wait = min(wait, float(min(POLL_S, 2 ** min(q.polls, 4))))
    return wait


def _terminate_candidates(deps: Deps, q: Queued) -> None:
    reason = q.command.reason
    for c in q.command.candidates:
        node = deps.store.try_get("Node", c.node)
        claim = deps.store.try_get("NodeClaim", c.nodeclaim)
        if node is not None:
            deps.recorder.event(node, "Normal", "DisruptionTerminating", f"Disrupting Node: {reason}")
        if claim is None:
            continue
        deps.recorder.event(claim, "Normal", "DisruptionTerminating", f"Disrupting NodeClaim: {reason}")
        deps.recorder.count("karpenter_nodeclaims_disrupted_total", reason=reason.lower(), nodepool=c.nodepool,
                            capacity_type=c.capacity_type)
        deps.store.delete("NodeClaim", c.nodeclaim)


def _fail(deps: Deps, st: State, q: Queued) -> None:
    """Replacements did not initialize in time (or vanished): un-taint the candidates and give up."""
    for c in q.command.candidates:
        node = deps.store.try_get("Node", c.node)
        if node is not None and _has_disrupted_taint(node):
            taints = [t for t in node["spec"].get("taints", []) if t.get("key") != tn.DISRUPTED]
            deps.store.update({**node, "spec": {**node["spec"], "taints": taints}})
    deps.recorder.count("karpenter_voluntary_disruption_queue_failures_total", decision=q.command.decision,
                        reason=q.command.reason.lower(), consolidation_type=q.command.consolidation_type)
    deps.recorder.log(NAME, "failed to disrupt nodes", level="ERROR", **{"command-id": q.command_id})
    st.queue.remove(q)
