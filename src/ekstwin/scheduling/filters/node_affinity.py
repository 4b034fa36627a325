"""NodeAffinity: ``nodeSelector`` AND the OR-ed ``requiredDuringScheduling…`` node-selector terms.

Also the plugin's PreFilter: terms that pin ``matchFields metadata.name In [...]`` (DaemonSet pods)
narrow the nodes the cycle looks at; the others are reported as ``node(s) didn't satisfy plugin(s)
[NodeAffinity]``.
"""

from __future__ import annotations

from ekstwin.model import pod as pod_model
from ekstwin.scheduling import framework
from ekstwin.scheduling.snapshot import NODE_NAME_FIELD

NAME = "NodeAffinity"
REASON = "node(s) didn't match Pod's node affinity/selector"
REASON_CONFLICT = "pod affinity terms conflict"  # PreFilter: the pinned node-name sets do not intersect
FAILED = framework.Status(framework.Code.UNSCHEDULABLE_AND_UNRESOLVABLE, (REASON,), NAME)


def filter(state: framework.CycleState, candidates: framework.BoolArray) -> framework.FilterResult:
    """Fail nodes that do not match the pod's nodeSelector and required node affinity."""
    pod = state.pod
    if not pod.node_selector and not pod.required_terms:
        return None
    mask = state.snapshot.required_affinity_mask(pod)
    return framework.status_ids(len(mask), mask), (FAILED,)


def prefilter_node_names(pod: pod_model.PodInfo) -> frozenset[str] | None:
    """Node names the pod is pinned to by ``matchFields metadata.name In``, or None (all nodes).

    A term without such a field leaves every node possible (terms are OR-ed); an empty result means the
    terms conflict.
    """
    names: set[str] = set()
    for term in pod.required_terms:
        r = term.get(NODE_NAME_FIELD)
        if r is None or r.complement:  # no name pin (or only NotIn): any node may match this term
            return None
        names |= r.values  # In-sets already intersected per term; empty when they conflict
    return frozenset(names) if pod.required_terms else None
