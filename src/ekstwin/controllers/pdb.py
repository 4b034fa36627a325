"""kube-controller-manager's disruption controller: the status of every PodDisruptionBudget.

For a policy/v1 PDB the controller counts the pods its selector matches in its namespace (all of them, terminal
ones included, as the controller's pod lister returns them) and writes:

* ``expectedPods`` — with an integer ``minAvailable``, the number of matched pods; otherwise (``maxUnavailable``,
  or a percentage ``minAvailable``) the sum of ``spec.replicas`` of the pods' distinct controllers (Deployment
  for a ReplicaSet it controls, else the ReplicaSet; StatefulSet). Pods without a controller are skipped
  (``UnmanagedPods`` event); a controller that has no scale (DaemonSet, Job) or cannot be found makes the sync
  fail safe: ``disruptionsAllowed`` 0 and ``DisruptionAllowed=False`` reason ``SyncFailed``.
* ``desiredHealthy`` — ``minAvailable``, or ``expectedPods − maxUnavailable`` (at least 0); percentages of
  ``expectedPods`` are rounded up in both cases.
* ``currentHealthy`` — matched pods that are Ready, not terminating and not recently evicted.
* ``disruptionsAllowed = max(0, currentHealthy − desiredHealthy)``, and 0 while ``expectedPods`` is 0.
* ``disruptedPods`` — pods the Eviction API approved (see ``eviction.py``) and that are not terminating yet;
  an entry older than 2 minutes is dropped with a ``NotDeleted`` event.
* ``observedGeneration`` and the ``DisruptionAllowed`` condition.

Pod changes wake only the PDBs of the pod's namespace whose selector matches the pod's old or new labels. A pod
that stops counting as healthy (not Ready, terminating, gone, relabelled) makes its PDB recount at once; changes
that can only raise the allowance (a pod created or becoming Ready) are folded into one recount a second.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable
from functools import partial
from typing import Any

from ekstwin.controllers.base import Deps, Obj, with_condition
from ekstwin.memo import IdentityMemo
from ekstwin.model.selectors import NOTHING, LabelSelector
from ekstwin.sim import driver
from ekstwin.sim.reconcile import Result
from ekstwin.store.watch import WatchEvent

NAME = "pdb"
KIND = "PodDisruptionBudget"
DELETION_TIMEOUT_S = 120.0
"""How long an approved eviction keeps the pod out of ``currentHealthy`` while it is not yet terminating."""
DISRUPTION_ALLOWED = "DisruptionAllowed"
LABEL_INDEX = "pdb:namespace-label"
"""Pod index by ``namespace`` + one ``key=value`` label, added when the first PDB is synced."""
COMPONENT = "controllermanager"
REFRESH = "refresh:"
REFRESH_S = 1.0
"""Changes that can only raise the allowance are folded into one recount per PDB per second (an assumption)."""
TERMINAL = ("Succeeded", "Failed")
# Controllers the disruption controller cannot scale: it reports their missing scale subresource.
_NO_SCALE = {"DaemonSet": "daemonsets.apps", "Job": "jobs.batch", "CronJob": "cronjobs.batch"}


class SyncFailed(Exception):
    """The expected pod count cannot be computed; the PDB is written in its fail-safe state."""


# -- selectors and pod facts ------------------------------------------------------------------------
def selector_of(pdb: Obj) -> LabelSelector:
    """The PDB's label selector; a missing (null) selector matches no pod, an empty one every pod."""
    raw = (pdb.get("spec") or {}).get("selector")
    if raw is None:
        return NOTHING
    # Parsed once per selector dict: the store shares an unchanged spec between versions.
    return _SELECTORS(raw, LabelSelector.parse)


_SELECTORS: IdentityMemo[Any, LabelSelector] = IdentityMemo(10_000)
"""Selector dict (kept alive, so its id cannot be reused) → parsed selector."""


def matches(pdb: Obj, pod: Obj) -> bool:
    """Whether ``pdb`` covers ``pod``: same namespace and the selector matches the pod's labels."""
    if _ns(pdb) != _ns(pod):
        return False
    return selector_of(pdb).matches(pod["metadata"].get("labels") or {})


def is_ready(pod: Obj) -> bool:
    """The pod's Ready condition is True (what the disruption controller counts as healthy)."""
    for c in (pod.get("status") or {}).get("conditions") or ():
        if c.get("type") == "Ready":
            return bool(c.get("status") == "True")
    return False


def _ns(obj: Obj) -> str:
    return str(obj["metadata"].get("namespace") or "default")


def _controller_ref(obj: Obj) -> Obj | None:
    return next((o for o in obj["metadata"].get("ownerReferences") or () if o.get("controller")), None)


# -- watches -----------------------------------------------------------------------------------------
def watches(deps: Deps) -> list[driver.Watch]:
    """Spec changes wake the PDB; relevant pod changes wake the matching PDBs of the pod's namespace."""
    return [driver.Watch(KIND, _spec_changed), driver.Watch("Pod", partial(_pod_keys, deps))]


def _spec_changed(ev: WatchEvent) -> str | None:
    # Status writes (ours, and the Eviction API's decrement) need no recount: pod events follow them.
    old = ev.old
    if ev.type == "MODIFIED" and old is not None \
            and old["metadata"].get("generation") == ev.obj["metadata"].get("generation"):
        return None
    return driver.key_of(ev.obj)


def _pod_keys(deps: Deps, ev: WatchEvent) -> list[str]:
    """A PDB whose healthy pod stops being healthy is recounted at once; any other change is coalesced."""
    new, old = ev.obj, ev.old
    if ev.type == "MODIFIED" and old is not None and not _counts_changed(old, new):
        return []
    pdbs = deps.store.list(KIND, _ns(new))
    if not pdbs:
        return []
    new_labels = new["metadata"].get("labels") or {}
    old_labels = (old["metadata"].get("labels") or {}) if old is not None else None
    healthy_now = ev.type != "DELETED" and _healthy(new)
    healthy_before = old is not None and ev.type != "ADDED" and _healthy(old)
    keys = []
    for p in pdbs:
        sel = selector_of(p)
        was = old_labels is not None and sel.matches(old_labels)
        is_ = sel.matches(new_labels)
        if was or is_:
            lost = was and healthy_before and not (is_ and healthy_now)
            keys.append(driver.key_of(p) if lost else REFRESH + driver.key_of(p))
    return keys


def _healthy(pod: Obj) -> bool:
    return not pod["metadata"].get("deletionTimestamp") and is_ready(pod)


def _counts_changed(old: Obj, new: Obj) -> bool:
    """Whether a pod update can change any PDB number (membership, health, termination, controller)."""
    om, nm = old["metadata"], new["metadata"]
    return (om.get("labels") != nm.get("labels") or om.get("deletionTimestamp") != nm.get("deletionTimestamp")
            or om.get("ownerReferences") != nm.get("ownerReferences") or is_ready(old) != is_ready(new)
            or (old.get("status") or {}).get("phase") != (new.get("status") or {}).get("phase"))


# -- reconcile ---------------------------------------------------------------------------------------
def reconcile(deps: Deps, key: str, now: float) -> Result:
    """Recompute one PDB's status; requeue when an unconfirmed eviction times out.

    A ``refresh:`` key (a change that can only add healthy pods) waits until ``REFRESH_S`` after the PDB's
    last recount, so thousands of pods becoming Ready one by one cost one recount a second, not one each.
    """
    coalesced = key.startswith(REFRESH)
    key = key.removeprefix(REFRESH)
    last: dict[str, float] = deps.state.setdefault("pdb.synced-at", {})
    due = last.get(key, -REFRESH_S) + REFRESH_S
    if coalesced and now < due:
        return Result(requeue_after=due - now)
    ns, name = driver.split_key(key)
    pdb = deps.store.try_get(KIND, name, ns)
    if pdb is None:
        last.pop(key, None)
        return Result()
    last[key] = now
    pods = matched_pods(deps, pdb)
    if not pods:
        deps.recorder.event(pdb, "Normal", "NoPods", "No matching pods found", component=COMPONENT)
    try:
        expected, desired, unmanaged = expected_counts(deps, pdb, pods)
    except SyncFailed as e:
        deps.recorder.event(pdb, "Warning", "CalculateExpectedPodCountFailed",
                            f"Failed to calculate the number of expected pods: {e}", component=COMPONENT)
        _fail_safe(deps, pdb, str(e))
        return Result()
    if unmanaged:
        deps.recorder.event(pdb, "Warning", "UnmanagedPods", _unmanaged_message(pdb), component=COMPONENT)
    disrupted, recheck = _disrupted_pods(deps, pdb, pods, now)
    healthy = count_healthy(deps, pods, disrupted, now)
    _write_status(deps, pdb, healthy, desired, expected, disrupted)
    return Result() if recheck is None else Result(requeue_after=max(0.0, recheck - now))


def matched_pods(deps: Deps, pdb: Obj) -> list[Obj]:
    """Pods of the PDB's namespace its selector matches (through a label index when it has matchLabels)."""
    sel = selector_of(pdb)
    if sel.matches_nothing:
        return []
    ns = _ns(pdb)
    if not sel.match_labels:
        return deps.store.list("Pod", ns, label_selector=sel.matches)
    _ensure_label_index(deps)
    # Any one matchLabels pair narrows the candidates; the smallest bucket is the cheapest to filter.
    buckets = [deps.store.by_index("Pod", LABEL_INDEX, _label_key(ns, k, v)) for k, v in sel.match_labels]
    smallest = min(buckets, key=len)
    return [p for p in smallest if sel.matches(p["metadata"].get("labels") or {})]


def _label_key(ns: str, k: str, v: str) -> str:
    return f"{ns}\x1f{k}={v}"


def _pod_label_keys(pod: Obj) -> list[str]:
    ns = _ns(pod)
    return [_label_key(ns, k, str(v)) for k, v in (pod["metadata"].get("labels") or {}).items()]


def _ensure_label_index(deps: Deps) -> None:
    # Added lazily so runs without PDBs never pay for it on pod writes.
    if not deps.state.get("pdb.label-index"):
        with contextlib.suppress(ValueError):  # another Deps on the same store added it first
            deps.store.add_index("Pod", LABEL_INDEX, _pod_label_keys)
        deps.state["pdb.label-index"] = True


def expected_counts(deps: Deps, pdb: Obj, pods: list[Obj]) -> tuple[int, int, list[str]]:
    """(expectedPods, desiredHealthy, names of unmanaged pods), as the disruption controller computes them.

    Raises:
        SyncFailed: a pod's controller has no scale or cannot be found, or a value is not a number or percentage.
    """
    spec = pdb.get("spec") or {}
    max_unavailable, min_available = spec.get("maxUnavailable"), spec.get("minAvailable")
    if max_unavailable is not None:
        expected, unmanaged = _expected_scale(deps, pods)
        return expected, max(0, expected - scaled(max_unavailable, expected)), unmanaged
    if min_available is None:
        return 0, 0, []
    if isinstance(min_available, int):
        return len(pods), min_available, []
    expected, unmanaged = _expected_scale(deps, pods)
    return expected, scaled(min_available, expected), unmanaged


def scaled(value: int | str, total: int) -> int:
    """An int-or-percent against ``total``, percentages rounded up (``GetScaledValueFromIntOrPercent``).

    Raises:
        SyncFailed: a string that is not ``<n>%``.
    """
    if isinstance(value, int):
        return value
    text = str(value)
    if not text.endswith("%") or not text[:-1].isdigit():
        raise SyncFailed(f"invalid value for IntOrString: invalid type: string is not a percentage: {text!r}")
    return math.ceil(int(text[:-1]) * total / 100)


def _expected_scale(deps: Deps, pods: list[Obj]) -> tuple[int, list[str]]:
    """Sum of the replicas of the pods' distinct controllers, and the pods that have no controller."""
    scales: dict[str, int] = {}
    seen_refs: set[str] = set()
    unmanaged: list[str] = []
    for p in pods:
        ref = _controller_ref(p)
        if ref is None:
            unmanaged.append(str(p["metadata"]["name"]))
            continue
        if ref.get("uid") in seen_refs:
            continue
        seen_refs.add(str(ref.get("uid")))
        uid, replicas = _controller_scale(deps, ref, _ns(p), str(p["metadata"]["name"]))
        scales[uid] = replicas
    return sum(scales.values()), unmanaged


def _controller_scale(deps: Deps, ref: Obj, ns: str, pod_name: str) -> tuple[str, int]:
    """(uid, replicas) of the workload that scales the pod's controller.

    Raises:
        SyncFailed: the controller has no scale subresource or does not exist.
    """
    kind = str(ref.get("kind"))
    if kind in _NO_SCALE:
        raise SyncFailed(f"{_NO_SCALE[kind]} does not implement the scale subresource")
    found = _scaled_owner(deps, kind, str(ref.get("name")), str(ref.get("uid")), ns)
    if found is None:
        raise SyncFailed(f'found no controllers for pod "{pod_name}"')
    return found


def _scaled_owner(deps: Deps, kind: str, name: str, uid: str, ns: str) -> tuple[str, int] | None:
    if kind not in ("ReplicaSet", "StatefulSet"):
        return None
    owner = deps.store.try_get(kind, name, ns)
    if owner is None or owner["metadata"].get("uid") != uid:
        return None
    dep = _owning_deployment(deps, owner, ns) if kind == "ReplicaSet" else None
    if dep is not None:  # a Deployment's ReplicaSets come and go; the Deployment holds the scale
        return str(dep["metadata"]["uid"]), _replicas(dep)
    return uid, _replicas(owner)


def _owning_deployment(deps: Deps, rs: Obj, ns: str) -> Obj | None:
    ref = _controller_ref(rs)
    if ref is None or ref.get("kind") != "Deployment":
        return None
    dep = deps.store.try_get("Deployment", str(ref.get("name")), ns)
    return dep if dep is not None and dep["metadata"].get("uid") == ref.get("uid") else None


def _replicas(workload: Obj) -> int:
    replicas = (workload.get("spec") or {}).get("replicas")
    return 1 if replicas is None else int(replicas)


def _disrupted_pods(deps: Deps, pdb: Obj, pods: list[Obj], now: float) -> tuple[dict[str, str], float | None]:
    """Approved evictions still pending (pod exists, not terminating, under 2 minutes) and the next expiry."""
    recorded: dict[str, str] = (pdb.get("status") or {}).get("disruptedPods") or {}
    kept: dict[str, str] = {}
    recheck: float | None = None
    if not recorded:
        return kept, recheck
    for p in pods:
        name = str(p["metadata"]["name"])
        if p["metadata"].get("deletionTimestamp") or name not in recorded:
            continue
        expires = deps.store.parse_time(recorded[name]) + DELETION_TIMEOUT_S
        if expires <= now:
            deps.recorder.event(p, "Warning", "NotDeleted",
                                f"Pod was expected by PDB {_ns(pdb)}/{pdb['metadata']['name']} to be deleted but it "
                                "wasn't", component=COMPONENT)
            continue
        kept[name] = recorded[name]
        recheck = expires if recheck is None else min(recheck, expires)
    return kept, recheck


def count_healthy(deps: Deps, pods: Iterable[Obj], disrupted: dict[str, str], now: float) -> int:
    """Matched pods that are Ready, not terminating and not awaiting an approved eviction."""
    n = 0
    for p in pods:
        meta = p["metadata"]
        if meta.get("deletionTimestamp"):
            continue
        when = disrupted.get(str(meta["name"]))
        if when is not None and deps.store.parse_time(when) + DELETION_TIMEOUT_S > now:
            continue
        n += is_ready(p)
    return n


def _write_status(deps: Deps, pdb: Obj, healthy: int, desired: int, expected: int,
                  disrupted: dict[str, str]) -> None:
    # No allowance while nothing is expected: a PDB whose pods appear later starts out safe.
    allowed = healthy - desired if expected > 0 and healthy > desired else 0
    status: dict[str, Any] = {
        **(pdb.get("status") or {}), "observedGeneration": pdb["metadata"].get("generation", 1),
        "disruptionsAllowed": allowed, "currentHealthy": healthy, "desiredHealthy": desired,
        "expectedPods": expected}
    status.pop("disruptedPods", None)
    if disrupted:
        status["disruptedPods"] = disrupted
    deps.store.update_status(allowed_condition({**pdb, "status": status}, deps.store.format_time()))


def allowed_condition(pdb: Obj, ts: str) -> Obj:
    """``pdb`` with its ``DisruptionAllowed`` condition matching ``status.disruptionsAllowed``."""
    if int((pdb.get("status") or {}).get("disruptionsAllowed", 0)) > 0:
        return with_condition(pdb, DISRUPTION_ALLOWED, "True", ts, "SufficientPods")
    return with_condition(pdb, DISRUPTION_ALLOWED, "False", ts, "InsufficientPods")


def _fail_safe(deps: Deps, pdb: Obj, message: str) -> None:
    # Only the allowance is forced to 0; observedGeneration stays, so the Eviction API keeps refusing too.
    status = {**(pdb.get("status") or {}), "disruptionsAllowed": 0}
    failed = with_condition({**pdb, "status": status}, DISRUPTION_ALLOWED, "False", deps.store.format_time(),
                            "SyncFailed", message)
    deps.store.update_status(failed)


def _unmanaged_message(pdb: Obj) -> str:
    return (f"Pods selected by this PodDisruptionBudget (selector: {(pdb.get('spec') or {}).get('selector')}) were "
            "found to be unmanaged. As a result, the status of the PDB cannot be calculated correctly, which may "
            "result in undefined behavior. To account for these pods please set \".spec.minAvailable\" field of "
            "the PDB to an integer value.")

