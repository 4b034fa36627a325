"""NodeResourcesFit (filter): requests must fit into allocatable minus what the node's pods request.

Per requested resource: ``request ≤ allocatable − Σ requests on node``; a resource the pod does not
request is ignored even if the node is over-committed on it; the pod count must stay ≤ ``pods``.
All failing resources are reported, as kube-scheduler does, so one node may count for both
``Insufficient cpu`` and ``Insufficient memory``.
"""

from __future__ import annotations

import functools

import numpy as np

from ekstwin.scheduling import framework
from ekstwin.units import resources as res

NAME = "NodeResourcesFit"
REASON_TOO_MANY_PODS = "Too many pods"
REASON_INSUFFICIENT = "Insufficient {resource}"


def insufficient(resource: str) -> str:
    """``Insufficient <resource>``."""
    return REASON_INSUFFICIENT.format(resource=resource)


def is_checked(name: str) -> bool:
    """Resources NodeResourcesFit checks besides cpu/memory/pods: ephemeral-storage and "scalar" ones
    (extended ``domain/name``, ``kubernetes.io/`` prefixed, hugepages-*, attachable-volumes-*)."""
    return name == res.EPHEMERAL or "/" in name or name.startswith(("hugepages-", "attachable-volumes-"))


@functools.lru_cache(maxsize=256)
def _statuses(reasons: tuple[str, ...]) -> tuple[framework.Status, ...]:
    # status id = bit mask of failed checks, so statuses[mask - 1] lists the reasons of the set bits
    return tuple(framework.Status(framework.Code.UNSCHEDULABLE,
                                  tuple(r for bit, r in enumerate(reasons) if mask >> bit & 1), NAME)
                 for mask in range(1, 1 << len(reasons)))


def filter(state: framework.CycleState, candidates: framework.BoolArray) -> framework.FilterResult:
    """Fail nodes without room for the pod's requests or without a free pod slot."""
    snap, requests = state.snapshot, state.pod.requests
    reasons = [REASON_TOO_MANY_PODS]
    ids = (snap.free_pods < 1).astype(np.int64)
    cpu, memory = requests[res.CPU], requests[res.MEMORY]
    checks: list[tuple[str, framework.BoolArray]] = []
    if cpu > 0:
        checks.append((insufficient(res.CPU), cpu > snap.free_cpu))
    if memory > 0:
        checks.append((insufficient(res.MEMORY), memory > snap.free_memory))
    for name in sorted(k for k, v in requests.items() if v > 0 and is_checked(k)):
        alloc, used = snap.extended(name)
        checks.append((insufficient(name), requests[name] > alloc - used))
    for reason, bad in checks:
        ids += bad.astype(np.int64) << len(reasons)
        reasons.append(reason)
    return ids, _statuses(tuple(reasons))
