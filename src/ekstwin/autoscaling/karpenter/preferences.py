"""Preference relaxation: when a pod fits nowhere, Karpenter drops one soft constraint and retries.

Order (one step per call): a required node-affinity term when there are several (OR'ed terms are tried
one at a time), the heaviest preferred pod-affinity term, the heaviest preferred pod-anti-affinity term,
the heaviest preferred node-affinity term, one ScheduleAnyway topology spread, and finally, only when some
NodePool has a PreferNoSchedule taint, a toleration for all PreferNoSchedule taints.
"""

from __future__ import annotations

from ekstwin.model.pod import PodInfo
from ekstwin.model.taints import PREFER_NO_SCHEDULE, Toleration

_TOLERATE_PREFER = Toleration(operator="Exists", effect=PREFER_NO_SCHEDULE)


def _without_heaviest(items: tuple[object, ...], weight_of: object) -> tuple[object, ...]:
    weights = [weight_of(i) for i in items]  # type: ignore[operator]
    drop = weights.index(max(weights))
    return items[:drop] + items[drop + 1:]


def relax(pod: PodInfo, prefer_no_schedule_pools: bool) -> PodInfo | None:
    """Return ``pod`` with one preference dropped, or None when nothing is left to relax."""
    if len(pod.required_terms) > 1:
        return pod.relaxed(required_terms=pod.required_terms[1:])
    if pod.preferred_affinity:
        return pod.relaxed(preferred_affinity=_without_heaviest(pod.preferred_affinity, lambda t: t.weight))
    if pod.preferred_anti_affinity:
        return pod.relaxed(preferred_anti_affinity=_without_heaviest(pod.preferred_anti_affinity,
                                                                     lambda t: t.weight))
    if pod.preferred_terms:
        return pod.relaxed(preferred_terms=_without_heaviest(pod.preferred_terms, lambda wt: wt[0]))
    soft = [i for i, c in enumerate(pod.spread) if not c.hard]
    if soft:
        i = soft[0]
        return pod.relaxed(spread=pod.spread[:i] + pod.spread[i + 1:])
    if prefer_no_schedule_pools and _TOLERATE_PREFER not in pod.tolerations:
        return pod.relaxed(tolerations=(*pod.tolerations, _TOLERATE_PREFER))
    return None
