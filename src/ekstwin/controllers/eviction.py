"""The Eviction API (``POST pods/<name>/eviction``) and the pod facts that decide who may be evicted.

``evict`` answers as the API server does:

* the pod is gone → 404; a different pod under that name → 409;
* a terminal, pending or already terminating pod is deleted without looking at PDBs → 200;
* more than one PDB covers the pod → 500 (the API cannot decrement two budgets atomically);
* one PDB covers it: a not-Ready pod is deleted without spending the budget when the PDB says
  ``unhealthyPodEvictionPolicy: AlwaysAllow``, or (default ``IfHealthyBudget``) while ``currentHealthy ≥
  desiredHealthy > 0``; otherwise the PDB must have been synced for its generation and have
  ``disruptionsAllowed ≥ 1`` → the allowance is decremented at once and the pod recorded in
  ``disruptedPods`` (so two evictions in one instant cannot both spend the last unit), else 429 (403 for a
  negative allowance or more than 2000 evictions the disruption controller has not confirmed);
* no PDB → 200.

An approved pod gets the ``DisruptionTarget`` condition and is deleted gracefully (its kubelet stops it).

The pure helpers are what Karpenter checks before it disrupts a node: ``is_evictable`` (pods its drain would
evict), ``blocking_pdb`` (a PDB that would refuse such a pod now) and ``fully_blocking`` (a PDB that can never
allow an eviction).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ekstwin.controllers import pdb as pdbs_mod
from ekstwin.controllers.base import Deps, Obj, ns_name, with_condition
from ekstwin.memo import IdentityMemo
from ekstwin.model import taints as tn
from ekstwin.model.pod import DO_NOT_DISRUPT

EVICTION_METRIC = "karpenter_nodes_eviction_requests_total"
MAX_DISRUPTED_PODS = 2000
"""The API server refuses evictions while a PDB lists more unconfirmed evictions than this."""
TOO_MANY_REQUESTS = "Cannot evict pod as it would violate the pod's disruption budget."
MULTIPLE_PDBS = "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."
ALWAYS_ALLOW = "AlwaysAllow"
TERMINAL = ("Succeeded", "Failed")
DISRUPTED_TAINT = tn.Taint(tn.DISRUPTED, "", tn.NO_SCHEDULE)


@dataclass(frozen=True, slots=True)
class EvictionResult:
    """The API server's answer: HTTP ``code``, Status ``reason`` and ``message``, and the first cause, if any."""

    code: int
    reason: str
    message: str
    cause: str = ""


OK = EvictionResult(200, "", "")


# -- pod facts (Karpenter's pkg/utils/pod) -----------------------------------------------------------
def is_terminal(pod: Obj) -> bool:
    """Phase Succeeded or Failed."""
    return (pod.get("status") or {}).get("phase") in TERMINAL


def is_terminating(pod: Obj) -> bool:
    """Marked for deletion."""
    return bool(pod["metadata"].get("deletionTimestamp"))


def owned_by(pod: Obj, kind: str) -> bool:
    """Any owner reference of ``kind`` (Karpenter looks at every owner, not only the controller)."""
    return any(o.get("kind") == kind for o in pod["metadata"].get("ownerReferences") or ())


def is_static(pod: Obj) -> bool:
    """A mirror pod of a static pod: owned by its Node, the API server cannot delete it for good."""
    return owned_by(pod, "Node")


def has_do_not_disrupt(pod: Obj) -> bool:
    """``karpenter.sh/do-not-disrupt: "true"`` on the pod."""
    return (pod["metadata"].get("annotations") or {}).get(DO_NOT_DISRUPT) == "true"


def tolerates_disrupted(pod: Obj) -> bool:
    """The pod tolerates ``karpenter.sh/disrupted:NoSchedule``, so a drain leaves it where it is."""
    raw = (pod.get("spec") or {}).get("tolerations")
    if not raw:
        return False
    # Drains ask this of every pod on every pass; the store shares unchanged lists between versions.
    return _TOLERATES(raw, lambda r: tn.tolerates_all(tn.parse_tolerations(r), (DISRUPTED_TAINT,)) is None)


_TOLERATES: IdentityMemo[Any, bool] = IdentityMemo()
"""Toleration list (kept alive, so its id cannot be reused) → whether it tolerates the disrupted taint."""


def is_evictable(pod: Obj) -> bool:
    """A pod Karpenter's drain would call the Eviction API for."""
    return (not is_terminal(pod) and not is_terminating(pod) and not tolerates_disrupted(pod)
            and not is_static(pod) and not has_do_not_disrupt(pod))


def _ready_false(pod: Obj) -> bool:
    # Karpenter's PDB check looks for an explicit Ready=False (a pod without the condition is not skipped).
    return any(c.get("type") == "Ready" and c.get("status") == "False"
               for c in (pod.get("status") or {}).get("conditions") or ())


# -- what Karpenter checks before disrupting ---------------------------------------------------------
def blocking_pdb(pdbs: Iterable[Obj], pod: Obj) -> str | None:
    """``namespace/name`` of a PDB that would refuse evicting ``pod`` now, or None.

    Only evictable pods are checked (the drain never calls the API for the others). A not-Ready pod under an
    ``AlwaysAllow`` PDB is not blocked by it; any other covering PDB with ``disruptionsAllowed`` 0 blocks.
    """
    if not is_evictable(pod):
        return None
    for pdb in pdbs:
        if not pdbs_mod.matches(pdb, pod):
            continue
        if _always_allow(pdb) and _ready_false(pod):
            continue
        if int((pdb.get("status") or {}).get("disruptionsAllowed", 0)) == 0:
            return ns_name(pdb)
    return None


def fully_blocking(pdb: Obj) -> bool:
    """A PDB no eviction can ever pass: ``maxUnavailable`` 0 or "0%", or ``minAvailable`` "100%"."""
    spec = pdb.get("spec") or {}
    max_unavailable, min_available = spec.get("maxUnavailable"), spec.get("minAvailable")
    return (max_unavailable == 0 and not isinstance(max_unavailable, bool)) or max_unavailable == "0%" \
        or min_available == "100%"


def _always_allow(pdb: Obj) -> bool:
    return (pdb.get("spec") or {}).get("unhealthyPodEvictionPolicy") == ALWAYS_ALLOW


# -- the API -----------------------------------------------------------------------------------------
def evict(deps: Deps, pod: Obj, now: float, *, metric: str | None = EVICTION_METRIC) -> EvictionResult:
    """Ask the API server to evict ``pod``; on 200 it is deleted gracefully (see the module docstring).

    ``metric`` counts the request by response code (Karpenter's client-side counter by default; other
    callers pass their own name or None).
    """
    result = _evict(deps, pod, now)
    if metric:
        deps.recorder.count(metric, code=str(result.code))
    return result


def _evict(deps: Deps, pod: Obj, now: float) -> EvictionResult:
    meta = pod["metadata"]
    name, ns = str(meta["name"]), str(meta.get("namespace") or "default")
    current = deps.store.try_get("Pod", name, ns)
    if current is None:
        return EvictionResult(404, "NotFound", f'pods "{name}" not found')
    if meta.get("uid") and current["metadata"].get("uid") != meta.get("uid"):
        return EvictionResult(409, "Conflict", f'Operation cannot be fulfilled on Pod "{name}": the UID in the '
                              "precondition does not match the UID in record. The object might have been deleted "
                              "and then recreated")
    if _can_ignore_pdb(current):
        _delete(deps, current)
        return OK
    covering = [p for p in deps.store.list(pdbs_mod.KIND, ns) if pdbs_mod.matches(p, current)]
    if len(covering) > 1:
        return EvictionResult(500, "InternalError", MULTIPLE_PDBS)
    if covering:
        refusal = _spend_budget(deps, covering[0], current, now)
        if refusal is not None:
            return refusal
    _delete(deps, current)
    return OK


def _can_ignore_pdb(pod: Obj) -> bool:
    # Terminal and pending pods disrupt nothing more; a terminating pod is on its way out anyway.
    phase = (pod.get("status") or {}).get("phase") or "Pending"
    return phase in (*TERMINAL, "Pending") or is_terminating(pod)


def _spend_budget(deps: Deps, pdb: Obj, pod: Obj, now: float) -> EvictionResult | None:
    """None when the pod may go (budget decremented if it had to be); the refusal otherwise."""
    status = pdb.get("status") or {}
    if not pdbs_mod.is_ready(pod):
        # An unhealthy pod does not count towards currentHealthy, so removing it spends nothing.
        if _always_allow(pdb):
            return None
        if int(status.get("currentHealthy", 0)) >= int(status.get("desiredHealthy", 0)) > 0:
            return None
    name = str(pdb["metadata"]["name"])
    if int(status.get("observedGeneration", 0)) < int(pdb["metadata"].get("generation", 1)):
        return EvictionResult(429, "TooManyRequests", TOO_MANY_REQUESTS,
                              f"The disruption budget {name} is still being processed by the server.")
    allowed = int(status.get("disruptionsAllowed", 0))
    disrupted = dict(status.get("disruptedPods") or {})
    if allowed < 0 or len(disrupted) > MAX_DISRUPTED_PODS:
        why = "pdb disruptions allowed is negative" if allowed < 0 else \
            "DisruptedPods map too big - too many evictions not confirmed by PDB controller"
        return EvictionResult(403, "Forbidden", f'poddisruptionbudget.policy "{name}" is forbidden: {why}')
    if allowed == 0:
        return EvictionResult(429, "TooManyRequests", TOO_MANY_REQUESTS,
                              f"The disruption budget {name} needs {status.get('desiredHealthy', 0)} healthy pods "
                              f"and has {status.get('currentHealthy', 0)} currently")
    disrupted[str(pod["metadata"]["name"])] = deps.store.format_time(now)
    spent = {**pdb, "status": {**status, "disruptionsAllowed": allowed - 1, "disruptedPods": disrupted}}
    deps.store.update_status(pdbs_mod.allowed_condition(spent, deps.store.format_time(now)))
    return None


def _delete(deps: Deps, pod: Obj) -> None:
    meta = pod["metadata"]
    if not is_terminating(pod):
        marked = with_condition(pod, "DisruptionTarget", "True", deps.store.format_time(), "EvictionByEvictionAPI",
                                "Eviction API: evicting")
        deps.store.update_status(marked)
    # Default grace: the pod's own terminationGracePeriodSeconds, as a plain eviction carries no override.
    deps.store.delete("Pod", str(meta["name"]), str(meta.get("namespace") or "default"))
