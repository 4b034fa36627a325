"""Plugin registry and scheduling profiles: which filters run, in which order, and how scores weigh.

Called by ``cycle`` and by whoever configures a scheduler (the scheduler controller, autoscaler
simulations). Pure configuration values; adding a plugin means one module plus one line here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ekstwin.errors import InvalidInput
from ekstwin.scheduling import framework
from ekstwin.scheduling.filters import fit, node_affinity, node_name, node_ports, node_unschedulable
from ekstwin.scheduling.filters import pod_affinity as pod_affinity_filter
from ekstwin.scheduling.filters import taint_toleration as taint_filter
from ekstwin.scheduling.filters import topology_spread as spread_filter
from ekstwin.scheduling.scores import balanced, least_allocated, most_allocated
from ekstwin.scheduling.scores import node_affinity as node_affinity_score
from ekstwin.scheduling.scores import pod_affinity as pod_affinity_score
from ekstwin.scheduling.scores import taint_toleration as taint_score
from ekstwin.scheduling.scores import topology_spread as spread_score

FILTERS: Mapping[str, framework.FilterFn] = {
    node_unschedulable.NAME: node_unschedulable.filter,
    node_name.NAME: node_name.filter,
    taint_filter.NAME: taint_filter.filter,
    node_affinity.NAME: node_affinity.filter,
    node_ports.NAME: node_ports.filter,
    fit.NAME: fit.filter,
    spread_filter.NAME: spread_filter.filter,
    pod_affinity_filter.NAME: pod_affinity_filter.filter,
}
SCORES: Mapping[str, framework.ScoreFn] = {
    taint_score.NAME: taint_score.score,
    node_affinity_score.NAME: node_affinity_score.score,
    spread_score.NAME: spread_score.score,
    pod_affinity_score.NAME: pod_affinity_score.score,
    balanced.NAME: balanced.score,
}
# NodeResourcesFit scores with the profile's strategy (NodeResourcesFitArgs.scoringStrategy.type).
FIT_STRATEGIES: Mapping[str, framework.ScoreFn] = {
    least_allocated.STRATEGY: least_allocated.score,
    most_allocated.STRATEGY: most_allocated.score,
}

# kube-scheduler's default filter order (default_plugins.go); volume plugins are not modelled.
DEFAULT_FILTERS = (node_unschedulable.NAME, node_name.NAME, taint_filter.NAME, node_affinity.NAME,
                   node_ports.NAME, fit.NAME, spread_filter.NAME, pod_affinity_filter.NAME)
DEFAULT_SCORES = ((taint_score.NAME, 3), (node_affinity_score.NAME, 2), (fit.NAME, 1), (spread_score.NAME, 2),
                  (pod_affinity_score.NAME, 2), (balanced.NAME, 1))


@dataclass(frozen=True, slots=True)
class Profile:
    """A scheduling profile: enabled filters (in order), weighted scores, and NodeResourcesFit strategy.

    ``percentage_of_nodes_to_score`` 0 means adaptive (all nodes below 100, else
    ``max(100, N × max(5, 50 − N/125) %)`` feasible nodes). ``redact_taint_values`` picks the
    TaintToleration reason wording of late-2025 patch releases (``node(s) had untolerated taint(s)``).

    Raises:
        InvalidInput: an unknown plugin or strategy, a negative weight, or a percentage outside 0–100.
    """

    filters: tuple[str, ...] = DEFAULT_FILTERS
    scores: tuple[tuple[str, int], ...] = DEFAULT_SCORES
    scoring_strategy: str = least_allocated.STRATEGY
    percentage_of_nodes_to_score: int = 0
    redact_taint_values: bool = False
    name: str = "default-scheduler"
    _scores: tuple[tuple[str, framework.ScoreFn, int], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for f in self.filters:
            if f not in FILTERS:
                raise InvalidInput(f"unknown filter plugin {f!r} (known: {', '.join(FILTERS)})", field="filters")
        if self.scoring_strategy not in FIT_STRATEGIES:
            raise InvalidInput(f"unknown scoring strategy {self.scoring_strategy!r} "
                               f"(known: {', '.join(FIT_STRATEGIES)})", field="scoringStrategy")
        if not 0 <= self.percentage_of_nodes_to_score <= 100:
            raise InvalidInput(f"percentageOfNodesToScore must be 0–100, got {self.percentage_of_nodes_to_score}",
                               field="percentageOfNodesToScore")
        resolved = []
        for name, weight in self.scores:
            fn = FIT_STRATEGIES[self.scoring_strategy] if name == fit.NAME else SCORES.get(name)
            if fn is None:
                raise InvalidInput(f"unknown score plugin {name!r} (known: {fit.NAME}, {', '.join(SCORES)})",
                                   field="scores")
            if weight < 0:
                raise InvalidInput(f"score plugin {name} has negative weight {weight}", field="scores")
            resolved.append((name, fn, weight))
        object.__setattr__(self, "_scores", tuple(resolved))

    def filter_plugins(self) -> tuple[tuple[str, framework.FilterFn], ...]:
        """Enabled filters in run order."""
        return tuple((f, FILTERS[f]) for f in self.filters)

    def score_plugins(self) -> tuple[tuple[str, framework.ScoreFn, int], ...]:
        """Enabled scores as (name, function, weight)."""
        return self._scores


def default_profile(**overrides: object) -> Profile:
    """kube-scheduler's default profile as on EKS: TaintToleration 3, NodeAffinity 2, NodeResourcesFit 1
    (LeastAllocated), PodTopologySpread 2, InterPodAffinity 2, NodeResourcesBalancedAllocation 1.

    ImageLocality (weight 1) is omitted: the twin does not model container images on nodes, so it would
    add the same score to every node. Volume filters (VolumeBinding, VolumeZone, NodeVolumeLimits…) are
    not modelled yet either.
    """
    return Profile(**overrides)  # type: ignore[arg-type]
