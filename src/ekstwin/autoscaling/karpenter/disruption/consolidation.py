"""Consolidation: replace or remove underutilized nodes when it is strictly cheaper (spec 7.7-7.10).

``consolidate`` is Karpenter's core for a set of candidates: simulate; no new NodeClaim → delete; one new
NodeClaim whose options are strictly cheaper than the candidates together → replace; Spot-to-Spot has its
own path (feature gate, spot-only options, and for a single node at least 15 cheaper types, of which the 15
cheapest are kept). ``multi_node`` binary-searches the longest prefix of candidates (by disruption cost) that
consolidates; ``single_node`` returns the first candidate that does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import numpy.typing as npt

from ekstwin.autoscaling.karpenter.disruption.simulate import ClusterState, simulate
from ekstwin.autoscaling.karpenter.disruption.types import UNDERUTILIZED, Candidate, Command, Verdict
from ekstwin.autoscaling.karpenter.instancetypes import CAPACITY_TYPES, TypeTable
from ekstwin.autoscaling.karpenter.scheduler import PlannedClaim
from ekstwin.model import requirements as rq

SPOT_TO_SPOT_MIN_TYPES = 15
MULTI_NODE_MAX_CANDIDATES = 100
SPOT = "spot"

DISABLED = "SpotToSpotConsolidation is disabled, can't replace a spot node with a spot node"
NOT_CHEAPER = "Can't replace with a cheaper node"
FEW_TYPES = ("SpotToSpotConsolidation requires {need} cheaper instance type options than the current candidate to "
             "consolidate, got {got}")
FloatArray = npt.NDArray[np.float64]


def worst_launch_prices(table: TypeTable, reqs: rq.Requirements) -> FloatArray:
    """Per type, the most expensive available offering compatible with ``reqs`` within the first capacity
    type (reserved, spot, on-demand) that has any — the price Karpenter assumes a launch could cost."""
    zr, cr = reqs.get_or_exists(rq.ZONE), reqs.get_or_exists(rq.CAPACITY_TYPE)
    zmask = np.array([zr.has(z) for z in table.zones], dtype=bool)
    cube = table.price_cube(reqs)  # reserved offerings only of the reservations reqs allow
    out = np.full(len(table.types), np.nan)
    for ci, ct in enumerate(CAPACITY_TYPES):
        if not cr.has(ct):
            continue
        prices = cube[:, zmask, ci]
        has = np.isfinite(prices).any(axis=1) & np.isnan(out)
        worst = np.where(np.isfinite(prices), prices, -np.inf).max(axis=1, initial=-np.inf)
        out[has] = worst[has]
    return np.where(np.isnan(out), np.inf, out)


def _min_values_error(table: TypeTable, reqs: rq.Requirements, options: npt.NDArray[np.int64]) -> str | None:
    for r in reqs.values():
        if r.min_values is None:
            continue
        distinct = len({v for v in table.label_column(r.key)[options] if v is not None})
        if distinct < r.min_values:
            return f"minValues requirement is not met for label {r.key}"
    return None


def _filter_by_price(table: TypeTable, claim: PlannedClaim, price: float) -> tuple[npt.NDArray[np.int64], str | None]:
    worst = worst_launch_prices(table, claim.requirements)
    kept = claim.options[worst[claim.options] < price]
    return kept, _min_values_error(table, claim.requirements, kept)


def _pin_spot(claim: PlannedClaim) -> PlannedClaim:
    return dataclasses.replace(claim, requirements=claim.requirements.add(
        rq.Requirement(rq.CAPACITY_TYPE, False, frozenset((SPOT,)))))


def consolidate(state: ClusterState, candidates: Sequence[Candidate], *, spot_to_spot: bool,
                single: bool) -> Command | str:
    """Karpenter's ``computeConsolidation`` for ``candidates``: a command, or why not (event message)."""
    sim = simulate(state, candidates)
    if sim.error is not None:
        return sim.error[0].upper() + sim.error[1:]
    claims = sim.result.new_claims
    method = "single" if single else "multi"
    total = sum(c.price for c in candidates)
    if not claims:
        return Command(method, UNDERUTILIZED, list(candidates),
                       message=f"all pods fit on other nodes; deleting saves ${total:.4f}/h")
    if len(claims) > 1:
        return f"Can't remove without creating {len(claims)} candidates"
    claim = claims[0]
    if all(c.capacity_type == SPOT for c in candidates) and claim.requirements.get_or_exists(
            rq.CAPACITY_TYPE).has(SPOT):
        return _spot_to_spot(state.table, candidates, claim, total, spot_to_spot, single, method)
    kept, err = _filter_by_price(state.table, claim, total)
    if err:
        return f"Filtering by price: {err}"
    if len(kept) == 0:
        return NOT_CHEAPER
    cr = claim.requirements.get_or_exists(rq.CAPACITY_TYPE)
    replacement = dataclasses.replace(claim, options=kept)
    if cr.has(SPOT) and cr.has("on-demand"):
        replacement = _pin_spot(replacement)  # the price filter assumed spot; never fall back to on-demand
    cheapest = float(worst_launch_prices(state.table, replacement.requirements)[kept[0]])
    return Command(method, UNDERUTILIZED, list(candidates), [replacement],
                   message=f"replacement from {len(kept)} cheaper type(s) (cheapest ${cheapest:.4f}/h) "
                           f"< current ${total:.4f}/h")


def _spot_to_spot(table: TypeTable, candidates: Sequence[Candidate], claim: PlannedClaim, total: float,
                  enabled: bool, single: bool, method: str) -> Command | str:
    if not enabled:
        return DISABLED
    pinned = _pin_spot(claim)
    _, spot_price = table.offering_mask(pinned.requirements)
    with_spot = pinned.options[np.isfinite(spot_price[pinned.options])]
    kept, err = _filter_by_price(table, dataclasses.replace(pinned, options=with_spot), total)
    if err:
        return f"Filtering by price: {err}"
    if len(kept) == 0:
        return NOT_CHEAPER
    if single:
        if len(kept) < SPOT_TO_SPOT_MIN_TYPES:
            return FEW_TYPES.format(need=SPOT_TO_SPOT_MIN_TYPES, got=len(kept))
        keep = max(SPOT_TO_SPOT_MIN_TYPES, _types_needed_for_min_values(table, pinned.requirements, kept))
        kept = kept[:keep]
    replacement = dataclasses.replace(pinned, options=kept)
    return Command(method, UNDERUTILIZED, list(candidates), [replacement],
                   message=f"spot-to-spot: {len(kept)} cheaper spot type(s) kept, current ${total:.4f}/h")


def _types_needed_for_min_values(table: TypeTable, reqs: rq.Requirements, options: npt.NDArray[np.int64]) -> int:
    """How many of the price-ordered options it takes to satisfy every minValues (0 when none is set)."""
    need = 0
    for r in reqs.values():
        if r.min_values is None:
            continue
        seen: set[object] = set()
        for i, v in enumerate(table.label_column(r.key)[options]):
            seen.add(v)
            if len(seen) >= r.min_values:
                need = max(need, i + 1)
                break
    return need


def _same_type_filter(table: TypeTable, cmd: Command) -> Command | None:
    """Multi-node: drop options of a candidate's own type that are not cheaper than that candidate."""
    if not cmd.replacements:
        return cmd
    claim = cmd.replacements[0]
    by_type: dict[str, float] = {}
    for c in cmd.candidates:
        by_type[c.instance_type] = min(by_type.get(c.instance_type, np.inf), c.price)
    names = [table.names[i] for i in claim.options]
    if not any(n in by_type for n in names):
        return cmd
    limit = min(by_type[n] for n in names if n in by_type)
    worst = worst_launch_prices(table, claim.requirements)
    kept = claim.options[worst[claim.options] < limit]
    if len(kept) == 0:
        return None
    return dataclasses.replace(cmd, replacements=[dataclasses.replace(claim, options=kept)])


def multi_node(state: ClusterState, candidates: Sequence[Candidate], budget: Mapping[str, int], *,
               spot_to_spot: bool) -> Command | None:
    """Binary search over the cheapest-to-disrupt prefix (at most 100 + 1 candidates)."""
    allowed = dict(budget)
    pool: list[Candidate] = []
    for c in candidates:
        if c.empty or allowed.get(c.nodepool, 0) <= 0:
            continue
        allowed[c.nodepool] -= 1
        pool.append(c)
        if len(pool) > MULTI_NODE_MAX_CANDIDATES:
            break
    if len(pool) < 2:
        return None
    lo, hi = 1, min(len(pool) - 1, MULTI_NODE_MAX_CANDIDATES)
    best: Command | None = None
    while lo <= hi:
        mid = (lo + hi) // 2
        result = consolidate(state, pool[:mid + 1], spot_to_spot=spot_to_spot, single=False)
        acceptable = _same_type_filter(state.table, result) if isinstance(result, Command) else None
        if acceptable is not None:
            best = acceptable
            lo = mid + 1
        else:
            hi = mid - 1
    return best


def single_node(state: ClusterState, candidates: Sequence[Candidate], budget: Mapping[str, int], *,
                spot_to_spot: bool, verdict: Callable[[Verdict], None]) -> Command | None:
    """The first candidate (by disruption cost, round-robin across NodePools) that consolidates."""
    for c in _round_robin(candidates):
        if c.empty or budget.get(c.nodepool, 0) <= 0:
            continue
        result = consolidate(state, [c], spot_to_spot=spot_to_spot, single=True)
        if isinstance(result, Command):
            return result
        verdict(Verdict(c.node, "single", "Unconsolidatable", result))
    return None


def _round_robin(candidates: Sequence[Candidate]) -> list[Candidate]:
    """Interleave NodePools (in order of their cheapest candidate), keeping each pool's cost order (v1.4+)."""
    queues: dict[str, list[Candidate]] = {}
    for c in candidates:
        queues.setdefault(c.nodepool, []).append(c)
    out: list[Candidate] = []
    while any(queues.values()):
        for name in queues:
            if queues[name]:
                out.append(queues[name].pop(0))
    return out
