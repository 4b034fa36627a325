"""One kube-scheduler scheduling cycle for one pod: PreFilter, Filter (with sampling), Score, select.

Called by the scheduler controller and by autoscaler simulations; the caller binds the result with
``Snapshot.assume``. Pure apart from advancing ``snapshot.next_start_index`` (the scheduler's rotating
filter start, which is scheduler state): no store, no clock, randomness only from the ``rng`` passed in.

Not modelled here: the queue (priority sort, backoff, scheduling gates: callers do not submit gated
pods), nominated pods, and PostFilter preemption, so FailedScheduling messages end after the filter
histogram without kube-scheduler's ``preemption: …`` suffix.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from ekstwin.model import pod as pod_model
from ekstwin.scheduling import framework, registry
from ekstwin.scheduling.filters import node_affinity

NO_NODES = "no nodes available to schedule pods"  # kube-scheduler ErrNoNodesAvailable
NO_NODE_AVAILABLE = "0/{n} nodes are available"
PREFILTER_ABSENT = "node(s) didn't satisfy plugin(s) [{plugins}]"  # nodes a PreFilter result excluded
MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5


@dataclass(frozen=True, slots=True)
class Decision:
    """Outcome of ``schedule_one``.

    ``node`` is the chosen node or None. ``feasible`` counts nodes that passed every filter among those
    evaluated (``evaluated`` ≤ all nodes when sampling stops early). ``statuses`` holds the failing
    status of every evaluated node that failed (plus nodes a PreFilter excluded). ``scores`` holds the
    weighted total of every scored node; it is empty when a single node was feasible, because
    kube-scheduler skips scoring then. ``message`` is the FailedScheduling text when ``node`` is None.
    """

    node: str | None
    feasible: int
    statuses: dict[str, framework.Status]
    scores: dict[str, int]
    message: str | None
    evaluated: int = 0


@dataclass(slots=True)
class _Failure:
    ids: framework.IntArray
    statuses: tuple[framework.Status, ...]
    failed: framework.BoolArray


def num_feasible_nodes_to_find(percentage: int, num_nodes: int) -> int:
    """How many feasible nodes the filter phase looks for before it stops (``numFeasibleNodesToFind``)."""
    if num_nodes < MIN_FEASIBLE_NODES_TO_FIND:
        return num_nodes
    if percentage == 0:
        percentage = max(50 - num_nodes // 125, MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND)
    return max(num_nodes * percentage // 100, MIN_FEASIBLE_NODES_TO_FIND)


def _run_filters(state: framework.CycleState, profile: registry.Profile,
                 in_play: framework.BoolArray) -> tuple[framework.BoolArray, list[_Failure]]:
    """Filters in order; a node leaves play at its first failure, so later (costlier) filters see fewer nodes."""
    failures = []
    for _, fn in profile.filter_plugins():
        result = fn(state, in_play)
        if result is None:
            continue
        ids, statuses = result
        failed = in_play & (ids > 0)
        if failed.any():
            failures.append(_Failure(ids, statuses, failed))
            in_play = in_play & ~failed
    return in_play, failures


@dataclass(frozen=True, slots=True)
class _PreFilter:
    rows: framework.IntArray  # node rows to evaluate, in snapshot order
    absent: framework.Status | None = None  # status of the nodes left out, if any
    rejected: framework.Status | None = None  # the whole cycle fails before Filter


def _prefilter(pod: pod_model.PodInfo, snapshot: framework.Snapshot, profile: registry.Profile) -> _PreFilter:
    everything = np.arange(len(snapshot), dtype=np.int64)
    if node_affinity.NAME not in profile.filters:
        return _PreFilter(everything)
    names = node_affinity.prefilter_node_names(pod)
    if names is None:
        return _PreFilter(everything)
    if not names:
        return _PreFilter(everything[:0], rejected=framework.Status(
            framework.Code.UNSCHEDULABLE_AND_UNRESOLVABLE, (node_affinity.REASON_CONFLICT,), node_affinity.NAME))
    rows = np.array(sorted(snapshot.index(n) for n in names if snapshot.has_node(n)), dtype=np.int64)
    return _PreFilter(rows, absent=framework.Status(
        framework.Code.UNSCHEDULABLE_AND_UNRESOLVABLE, (PREFILTER_ABSENT.format(plugins=node_affinity.NAME),),
        node_affinity.NAME))


def _statuses(snapshot: framework.Snapshot, failures: list[_Failure], visited: framework.BoolArray,
              scan: framework.IntArray, absent: framework.Status | None) -> dict[str, framework.Status]:
    names = snapshot.names
    out: dict[str, framework.Status] = {}
    if absent is not None:
        outside = np.ones(len(snapshot), dtype=np.bool_)
        outside[scan] = False
        out.update(dict.fromkeys(names[outside].tolist(), absent))
    for f in failures:
        rows = np.flatnonzero(f.failed & visited)
        statuses = f.statuses
        out.update(zip(names[rows].tolist(), [statuses[k - 1] for k in f.ids[rows].tolist()], strict=True))
    return out


def fit_error(num_nodes: int, statuses: dict[str, framework.Status], prefilter: framework.Status | None = None
              ) -> str:
    """kube-scheduler's ``FitError.Error()``: ``0/N nodes are available: <count> <reason>, ….``

    Each node contributes every reason of its status; the ``"<count> <reason>"`` strings are sorted as
    strings (so "10 …" sorts before "2 …", as in Go). A PreFilter rejection replaces the histogram.
    """
    head = NO_NODE_AVAILABLE.format(n=num_nodes) + ":"
    if prefilter is not None:
        return f"{head} {prefilter.message()}."
    histogram = Counter(r for s in statuses.values() for r in s.reasons)
    if not histogram:
        return head
    return f"{head} {', '.join(sorted(f'{c} {r}' for r, c in histogram.items()))}."


def schedule_one(pod: pod_model.PodInfo, snapshot: framework.Snapshot, profile: registry.Profile,
                 rng: framework.TieBreaker) -> Decision:
    """Pick a node for ``pod`` as kube-scheduler would, or explain why none fits.

    Filters run in profile order over the nodes (or the PreFilter-narrowed ones) starting at
    ``snapshot.next_start_index`` and stop once ``num_feasible_nodes_to_find`` feasible nodes are found;
    feasible nodes are scored, the highest weighted total wins, and ties are broken uniformly with ``rng``.
    """
    n = len(snapshot)
    if n == 0:
        return Decision(None, 0, {}, {}, NO_NODES)
    state = framework.CycleState(pod, snapshot, redact_taint_values=profile.redact_taint_values)
    pre = _prefilter(pod, snapshot, profile)
    if pre.rejected is not None:
        return Decision(None, 0, dict.fromkeys(snapshot.names.tolist(), pre.rejected), {},
                        fit_error(n, {}, pre.rejected))
    scan, absent = pre.rows, pre.absent
    in_play = np.zeros(n, dtype=np.bool_)
    in_play[scan] = True
    passed, failures = _run_filters(state, profile, in_play)

    m = len(scan)
    start = snapshot.next_start_index % m if m else 0
    order = np.concatenate((scan[start:], scan[:start]))
    ok = passed[order]
    processed = m
    to_find = num_feasible_nodes_to_find(profile.percentage_of_nodes_to_score, m)
    if to_find < m:
        found = np.cumsum(ok)
        if m and found[-1] > to_find:
            processed = int(np.searchsorted(found, to_find)) + 1  # stop at the to_find-th feasible node
    snapshot.next_start_index = (snapshot.next_start_index + processed) % n
    visited = np.zeros(n, dtype=np.bool_)
    visited[order[:processed]] = True
    feasible = order[:processed][ok[:processed]]
    statuses = _statuses(snapshot, failures, visited, scan, absent)

    if len(feasible) == 0:
        return Decision(None, 0, statuses, {}, fit_error(n, statuses), processed)
    if len(feasible) == 1:
        return Decision(str(snapshot.names[feasible[0]]), 1, statuses, {}, None, processed)
    total = np.zeros(len(feasible), dtype=np.int64)
    for _, fn, weight in profile.score_plugins():
        scores = fn(state, feasible)
        if scores is not None:
            total += scores * weight
    ties = np.flatnonzero(total == total.max())
    pick = int(ties[0]) if len(ties) == 1 else int(ties[rng.randrange(len(ties))])
    names = snapshot.names[feasible].tolist()
    return Decision(names[pick], len(feasible), statuses, dict(zip(names, total.tolist(), strict=True)), None,
                    processed)


def filter_statuses(pod: pod_model.PodInfo, snapshot: framework.Snapshot,
                    profile: registry.Profile | None = None) -> dict[str, framework.Status]:
    """Every node's filter verdict for ``pod`` (Success included), without sampling or scoring.

    For tests, reports and what-if simulations ("would this pod fit on node X?"). Does not touch
    ``next_start_index``.
    """
    profile = profile or registry.default_profile()
    state = framework.CycleState(pod, snapshot, redact_taint_values=profile.redact_taint_values)
    pre = _prefilter(pod, snapshot, profile)
    scan, absent = pre.rows, pre.absent or pre.rejected
    in_play = np.zeros(len(snapshot), dtype=np.bool_)
    in_play[scan] = True
    passed, failures = _run_filters(state, profile, in_play)
    out = dict.fromkeys(snapshot.names[passed].tolist(), framework.SUCCESS)
    out.update(_statuses(snapshot, failures, np.ones(len(snapshot), dtype=np.bool_), scan, absent))
    return {name: out[name] for name in snapshot.names.tolist()}
