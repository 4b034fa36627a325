"""What every controller gets (``Deps``) and small helpers shared by controllers."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from ekstwin.autoscaling.karpenter.instancetypes import TypeTable
from ekstwin.catalog.catalog import Catalog
from ekstwin.cloud.ec2 import EC2
from ekstwin.memo import IdentityMemo
from ekstwin.model.pod import PodInfo
from ekstwin.observe.recorder import Recorder
from ekstwin.rng import Streams
from ekstwin.store.store import Store
from ekstwin.units.resources import EMPTY, Resources

Obj = dict[str, Any]


@dataclass(frozen=True)
class ControllerSettings:
    """Timing and behaviour knobs of the simulated control plane (defaults = Karpenter/Kubernetes defaults)."""

    batch_idle_s: float = 1.0
    """Karpenter BATCH_IDLE_DURATION: the batch closes after this long without a new pending pod."""
    batch_max_s: float = 10.0
    """Karpenter BATCH_MAX_DURATION: a batch never stays open longer than this."""
    pod_startup_s: tuple[float, float] = (1.0, 3.0)
    """Bound pod → Running: uniform range (image pull of a small image + container start); an assumption."""
    pod_shutdown_s: float = 1.0
    """Containers exit this long after SIGTERM (capped by terminationGracePeriodSeconds); an assumption."""
    kubelet_version: str = "v1.30.4-eks-a737599"
    """What ``kubectl get nodes`` shows in VERSION."""
    registration_ttl_s: float = 900.0
    """Karpenter deletes a NodeClaim whose node has not registered 15 minutes after launch."""
    feature_gates: dict[str, bool] = field(default_factory=dict)
    cluster_name: str = "ekstwin"
    karpenter_version: str = "v1.14"
    """Which Karpenter's behaviour to reproduce where versions differ (method order, decision log format)."""


@dataclass
class Deps:
    """Everything a controller may use. Only controllers write the store."""

    store: Store
    recorder: Recorder
    rngs: Streams
    catalog: Catalog
    table: TypeTable
    ec2: EC2
    settings: ControllerSettings
    enqueue: Callable[[str, str, float | None], None]
    state: dict[str, Any] = field(default_factory=dict)
    """Per-controller memory that is not part of any object (batch windows, start times)."""


def condition(obj: Obj, ctype: str) -> Obj | None:
    """The status condition of ``ctype``, if any."""
    for c in (obj.get("status") or {}).get("conditions") or ():
        if c.get("type") == ctype:
            return dict(c)
    return None


def is_true(obj: Obj, ctype: str) -> bool:
    """True when condition ``ctype`` has status "True"."""
    for c in (obj.get("status") or {}).get("conditions") or ():  # no copy: asked of every claim on every pass
        if c.get("type") == ctype:
            return bool(c.get("status") == "True")
    return False


def with_condition(obj: Obj, ctype: str, status: str, ts: str, reason: str = "", message: str = "") -> Obj:
    """A copy of ``obj`` whose status has condition ``ctype`` set (transition time kept when unchanged)."""
    st = dict(obj.get("status") or {})
    conds = [dict(c) for c in st.get("conditions") or ()]
    for c in conds:
        if c.get("type") == ctype:
            if c.get("status") != status:
                c["lastTransitionTime"] = ts
            c.update(status=status, reason=reason or c.get("reason", ctype), message=message)
            break
    else:
        conds.append({"type": ctype, "status": status, "lastTransitionTime": ts,
                      "reason": reason or ctype, "message": message})
    st["conditions"] = conds
    return {**obj, "status": st}


def owner_ref(obj: Obj, controller: bool = True) -> Obj:
    """An ownerReference pointing at ``obj``."""
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": controller, "blockOwnerDeletion": True}


def ns_name(obj: Obj) -> str:
    """``namespace/name`` of a namespaced object."""
    return f"{obj['metadata'].get('namespace', 'default')}/{obj['metadata']['name']}"


_PARSED: IdentityMemo[Any, Resources] = IdentityMemo()


def resources_of(raw: Obj | None) -> Resources:
    """``Resources.parse(raw)`` for a stored resource list (a Node's ``status.allocatable``, a NodeClaim's
    ``status.capacity``), parsed once per object: stored dicts are never mutated, and passes and metric samples
    read the same lists over and over."""
    return _PARSED(raw, Resources.parse) if raw else EMPTY


def pods_of(deps: Deps, infos: Iterable[PodInfo]) -> list[Obj]:
    """The Pod objects of ``infos`` that still exist."""
    found = (deps.store.try_get("Pod", info.name, info.namespace) for info in infos)
    return [p for p in found if p is not None]


def pod_info(deps: Deps, pod: Obj) -> PodInfo:
    """``PodInfo.parse(pod)``, cached per pod while the parts it reads are unchanged.

    The store replaces dicts instead of mutating them and shares untouched subtrees between versions, so a
    status-only update keeps the very same ``spec``, ``labels``, ``annotations`` and ``ownerReferences``
    objects: identity checks are enough. Binding (a spec that only gained ``nodeName``), deletion and phase
    changes happen to every pod, so they update the cached PodInfo instead of parsing it again.
    """
    cache: dict[str, tuple[Any, ...]] = deps.state.setdefault("podinfo", {})
    meta = pod["metadata"]
    uid = meta.get("uid", "")
    spec, labels = pod.get("spec"), meta.get("labels")
    annotations, owners = meta.get("annotations"), meta.get("ownerReferences")
    deleting, phase = meta.get("deletionTimestamp"), (pod.get("status") or {}).get("phase")
    hit = cache.get(uid)
    if hit is not None and hit[1] is labels and hit[2] is annotations and hit[3] is owners:
        same_spec = hit[0] is spec
        if same_spec and hit[4] == deleting and hit[5] == phase:
            return cast(PodInfo, hit[6])
        bound = not same_spec and isinstance(spec, dict) and _only_bound(hit[0], spec)
        if same_spec or bound:
            # the fields PodInfo.parse derives from these, and nothing else, changed
            changes: dict[str, Any] = {"deleting": bool(deleting), "phase": str(phase or "Pending")}
            if bound:
                changes["node_name"] = spec["nodeName"]  # type: ignore[index]
            info = cast(PodInfo, dataclasses.replace(hit[6], **changes))
            cache[uid] = (spec, labels, annotations, owners, deleting, phase, info)
            return info
    if len(cache) > 200_000:  # bound memory on very long runs; entries are cheap to rebuild
        cache.clear()
    info = PodInfo.parse(pod)
    cache[uid] = (spec, labels, annotations, owners, deleting, phase, info)
    return info


def _only_bound(old: Any, new: Any) -> bool:
    """``new`` is ``old`` plus a ``nodeName`` (every other field the very same object)."""
    if not isinstance(old, dict) or not isinstance(new, dict) or old.get("nodeName") or not new.get("nodeName"):
        return False
    return len(new) == len(old) + 1 and all(k in old and old[k] is v for k, v in new.items() if k != "nodeName")
