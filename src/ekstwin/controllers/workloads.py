"""Deployment → ReplicaSet → Pod and DaemonSet → Pod, as kube-controller-manager does it (subset).

Deployments own one ReplicaSet per pod-template hash; the current one is scaled to ``spec.replicas`` and
older ones to zero (a rollout without surge pacing: documented as a simplification). ReplicaSets create
pods from their template and, when scaling down, delete in Kubernetes' order: unscheduled before
scheduled, pending before running, not-ready before ready, lower pod-deletion-cost first, newest first.
DaemonSets create one pod per eligible node, pinned with a ``matchFields metadata.name`` affinity and bound
by the scheduler, with the tolerations the DaemonSet controller adds automatically.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from ekstwin.controllers.base import Deps, Obj, is_true, owner_ref
from ekstwin.model import defaults
from ekstwin.model import requirements as rq
from ekstwin.model import taints as tn
from ekstwin.model.pod import PodInfo
from ekstwin.model.selectors import LabelSelector
from ekstwin.sim import driver
from ekstwin.sim.reconcile import Result
from ekstwin.store import indexes
from ekstwin.store.watch import WatchEvent

DEPLOYMENTS, REPLICASETS, DAEMONSETS = "deployments", "replicasets", "daemonsets"
TEMPLATE_HASH = "pod-template-hash"
STATUS_INTERVAL_S = 1.0

# Tolerations the DaemonSet controller adds to every daemon pod.
DS_TOLERATIONS = (
    {"key": tn.NOT_READY, "operator": "Exists", "effect": tn.NO_EXECUTE},
    {"key": tn.UNREACHABLE, "operator": "Exists", "effect": tn.NO_EXECUTE},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": tn.NO_SCHEDULE},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": tn.NO_SCHEDULE},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": tn.NO_SCHEDULE},
    {"key": tn.UNSCHEDULABLE, "operator": "Exists", "effect": tn.NO_SCHEDULE},
)


def owner_keys(ev: WatchEvent, kind: str) -> list[str]:
    """Keys of the owners of kind ``kind`` of the changed object."""
    ns = ev.obj["metadata"].get("namespace", "default")
    return [f"{ns}/{o['name']}" for o in ev.obj["metadata"].get("ownerReferences") or () if o.get("kind") == kind]


def _owner_keys(kind: str) -> driver.KeyFn:
    return lambda ev: owner_keys(ev, kind)


def template_hash(template: Obj) -> str:
    """A stable 10-character hash of a pod template (the pod-template-hash label)."""
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    n = int(digest[:16], 16)
    out = []
    for _ in range(10):
        n, r = divmod(n, len(alphabet))
        out.append(alphabet[r])
    return "".join(out)


# -- Deployment --------------------------------------------------------------------------------------
def deployment_watches() -> list[driver.Watch]:
    """Deployments wake themselves; ReplicaSets wake their owning Deployment."""
    return [driver.Watch("Deployment", driver.by_object), driver.Watch("ReplicaSet", _owner_keys("Deployment"))]


def reconcile_deployment(deps: Deps, key: str, now: float) -> Result:
    """Keep one ReplicaSet per template hash; the current one at spec.replicas, others at 0."""
    ns, name = driver.split_key(key)
    dep = deps.store.try_get("Deployment", name, ns)
    if dep is None or dep["metadata"].get("deletionTimestamp"):
        return Result()
    spec = dep["spec"]
    want = int(spec.get("replicas", 1))
    h = template_hash(spec["template"])
    owned = _owned_rs(deps, dep)
    current = next((rs for rs in owned if rs["metadata"].get("labels", {}).get(TEMPLATE_HASH) == h), None)
    if current is None:  # an adopted ReplicaSet carries another hash (e.g. an imported cluster's)
        current = next((rs for rs in owned if _same_template(rs, spec["template"])), None)
    if current is None:
        tmpl = dict(spec["template"])
        meta = dict(tmpl.get("metadata") or {})
        meta["labels"] = {**(meta.get("labels") or {}), TEMPLATE_HASH: h}
        tmpl["metadata"] = meta
        sel = dict(spec.get("selector") or {})
        sel["matchLabels"] = {**(sel.get("matchLabels") or {}), TEMPLATE_HASH: h}
        current = deps.store.create({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"{name}-{h}", "namespace": ns, "labels": meta["labels"],
                         "ownerReferences": [owner_ref(dep)],
                         "annotations": {"deployment.kubernetes.io/desired-replicas": str(want)}},
            "spec": {"replicas": want, "selector": sel, "template": tmpl}})
        deps.recorder.event(dep, "Normal", "ScalingReplicaSet",
                            f"Scaled up replica set {current['metadata']['name']} to {want}",
                            component="deployment-controller")
    for rs in owned:
        target = want if rs is current else 0
        have = int(rs["spec"].get("replicas", 0))
        if have != target:
            deps.store.update({**rs, "spec": {**rs["spec"], "replicas": target}})
            verb = "up" if target > have else "down"
            deps.recorder.event(dep, "Normal", "ScalingReplicaSet",
                                f"Scaled {verb} replica set {rs['metadata']['name']} from {have} to {target}",
                                component="deployment-controller")
    _deployment_status(deps, dep, current)
    return Result()


def _owned_rs(deps: Deps, dep: Obj) -> list[Obj]:
    """The Deployment's ReplicaSets, adopting orphans its selector matches (as kube-controller-manager does)."""
    uid = dep["metadata"]["uid"]
    selector = LabelSelector.parse(dep["spec"].get("selector"))
    out = []
    for rs in deps.store.list("ReplicaSet", dep["metadata"].get("namespace")):
        refs = rs["metadata"].get("ownerReferences") or ()
        if any(o.get("uid") == uid for o in refs):
            out.append(rs)
        elif _orphan(rs) and selector.matches(rs["metadata"].get("labels") or {}):
            out.append(adopt(deps, rs, dep))
    return out


def _orphan(obj: Obj) -> bool:
    """No controller owns it and it is not going away: a controller whose selector matches adopts it."""
    return not obj["metadata"].get("deletionTimestamp") and not any(
        o.get("controller") for o in obj["metadata"].get("ownerReferences") or ())


def adopt(deps: Deps, obj: Obj, owner: Obj) -> Obj:
    """Make ``owner`` the controller of ``obj``."""
    refs = [*(obj["metadata"].get("ownerReferences") or ()), owner_ref(owner)]
    return deps.store.update({**obj, "metadata": {**obj["metadata"], "ownerReferences": refs}})


def _same_template(rs: Obj, template: Obj) -> bool:
    """The ReplicaSet runs ``template`` (its pod-template-hash label aside)."""
    tmpl = dict((rs.get("spec") or {}).get("template") or {})
    meta = dict(tmpl.get("metadata") or {})
    meta["labels"] = {k: v for k, v in (meta.get("labels") or {}).items() if k != TEMPLATE_HASH}
    if not meta["labels"]:
        meta.pop("labels")
    tmpl["metadata"] = meta
    want = dict(template)
    want_meta = dict(want.get("metadata") or {})
    if not want_meta.get("labels"):
        want_meta.pop("labels", None)
    want["metadata"] = want_meta
    return tmpl == want


def _deployment_status(deps: Deps, dep: Obj, current: Obj) -> None:
    rs_status = current.get("status") or {}
    status = {"observedGeneration": dep["metadata"].get("generation", 1),
              "replicas": int(rs_status.get("replicas", 0)),
              "updatedReplicas": int(rs_status.get("replicas", 0)),
              "readyReplicas": int(rs_status.get("readyReplicas", 0)),
              "availableReplicas": int(rs_status.get("availableReplicas", 0))}
    if dep.get("status") != status:
        deps.store.update_status({**dep, "status": status})


# -- ReplicaSet --------------------------------------------------------------------------------------
STATUS_PREFIX = "status:"
ADOPT_PREFIX = "adopt:"


def _pod_change_keys(ev: WatchEvent) -> list[str]:
    """Membership changes (added, deleted, terminating, terminal) wake the owner's full sync; a change
    of readiness only wakes its (coalesced) status refresh; other pod updates wake nothing."""
    owners = owner_keys(ev, "ReplicaSet")
    if not owners and ev.type == "ADDED" and _orphan(ev.obj):
        return [ADOPT_PREFIX + ev.obj["metadata"].get("namespace", "default")]
    if not owners or ev.type != "MODIFIED" or ev.old is None:
        return owners
    old, new = ev.old, ev.obj
    terminal = ("Succeeded", "Failed")
    if (bool(old["metadata"].get("deletionTimestamp")) != bool(new["metadata"].get("deletionTimestamp"))
            or ((old.get("status") or {}).get("phase") in terminal)
            != ((new.get("status") or {}).get("phase") in terminal)):
        return owners
    if is_true(old, "Ready") != is_true(new, "Ready"):
        return [STATUS_PREFIX + k for k in owners]
    return []


def replicaset_watches() -> list[driver.Watch]:
    """ReplicaSets wake themselves; pods wake their owning ReplicaSet (see ``_pod_change_keys``)."""
    return [driver.Watch("ReplicaSet", driver.by_object), driver.Watch("Pod", _pod_change_keys)]


def _deletion_rank(p: Obj) -> tuple[int, int, int, int]:
    """Lower ranks are deleted first: unscheduled, pending, not ready, cheaper deletion cost."""
    spec, status = p.get("spec") or {}, p.get("status") or {}
    phase = status.get("phase", "Pending")
    cost = PodInfo.parse(p).deletion_cost
    return (1 if spec.get("nodeName") else 0, {"Pending": 0, "Unknown": 1}.get(phase, 2),
            1 if is_true(p, "Ready") else 0, cost)


def reconcile_replicaset(deps: Deps, key: str, now: float) -> Result:
    """Create or delete pods until the active ones match spec.replicas; keep status counts.

    Status counts are refreshed at most once per ``STATUS_INTERVAL_S`` per ReplicaSet (the next refresh is
    requeued), so thousands of pods starting at different instants do not cost one full recount each.
    """
    if key.startswith(ADOPT_PREFIX):
        for candidate in deps.store.list("ReplicaSet", key[len(ADOPT_PREFIX):]):
            _adopt_pods(deps, candidate)
        return Result()
    status_only = key.startswith(STATUS_PREFIX)
    key = key.removeprefix(STATUS_PREFIX)
    ns, name = driver.split_key(key)
    rs = deps.store.try_get("ReplicaSet", name, ns)
    if rs is None:
        return Result()
    last: dict[str, float] = deps.state.setdefault("replicaset.status-at", {})
    due = last.get(key, -STATUS_INTERVAL_S) + STATUS_INTERVAL_S
    if status_only and now < due:
        return Result(requeue_after=due - now)
    adopted: set[str] = deps.state.setdefault("replicaset.adopted", set())
    if rs["metadata"]["uid"] not in adopted:  # a new ReplicaSet first adopts the orphans it selects
        adopted.add(rs["metadata"]["uid"])
        _adopt_pods(deps, rs)
    pods = deps.store.by_index("Pod", indexes.POD_OWNER_UID, rs["metadata"]["uid"])
    active = [p for p in pods if not p["metadata"].get("deletionTimestamp")
              and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
    want = int(rs["spec"].get("replicas", 0))
    if len(active) < want:
        for _ in range(want - len(active)):
            create_pod(deps, rs, rs["spec"]["template"])
    elif len(active) > want:
        # within equal rank the newest goes first: stable sort by time desc, then by rank asc
        newest_first = sorted(active, key=lambda p: (p["metadata"].get("creationTimestamp", ""),
                                                     p["metadata"]["name"]), reverse=True)
        ranked = sorted(newest_first, key=_deletion_rank)
        for p in ranked[:len(active) - want]:
            delete_pod(deps, p)
            deps.recorder.event(rs, "Normal", "SuccessfulDelete", f"Deleted pod: {p['metadata']['name']}",
                                component="replicaset-controller")
    if now < due:
        deps.enqueue("replicaset", STATUS_PREFIX + key, due)
        return Result()
    last[key] = now
    ready = sum(1 for p in active if is_true(p, "Ready"))
    status = {"replicas": len(active), "readyReplicas": ready, "availableReplicas": ready,
              "observedGeneration": rs["metadata"].get("generation", 1)}
    if (rs.get("status") or {}) != status:
        deps.store.update_status({**rs, "status": status})
    return Result()


def _adopt_pods(deps: Deps, rs: Obj) -> None:
    if rs["metadata"].get("deletionTimestamp"):
        return
    selector = LabelSelector.parse((rs.get("spec") or {}).get("selector"))
    for pod in deps.store.list("Pod", rs["metadata"].get("namespace")):
        if _orphan(pod) and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed") \
                and selector.matches(pod["metadata"].get("labels") or {}):
            adopt(deps, pod, rs)


def create_pod(deps: Deps, owner: Obj, template: Obj, extra_spec: dict[str, Any] | None = None) -> Obj:
    """Create a pod from ``template`` owned by ``owner``, with API-server defaults applied."""
    meta = {k: v for k, v in (template.get("metadata") or {}).items() if k != "name"}
    pod: Obj = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {**meta, "generateName": f"{owner['metadata']['name']}-",
                        "namespace": owner["metadata"].get("namespace", "default"),
                        "ownerReferences": [owner_ref(owner)]},
           "spec": {**(template.get("spec") or {}), **(extra_spec or {})},
           "status": {"phase": "Pending"}}
    classes = deps.state.get("priority_classes")
    # Defaulting deep-copies the whole pod. Every pod of a ReplicaSet comes from its one stored template, and
    # stored objects are never mutated, so its pods share the defaulted spec (and start from the same status).
    shared = extra_spec is None and template is (owner.get("spec") or {}).get("template")
    memo: dict[str, tuple[Obj, Any, Obj, Obj]] = deps.state.setdefault("workloads.pod-specs", {})
    hit = memo.get(owner["metadata"]["uid"]) if shared else None
    if hit is not None and hit[0] is template and hit[1] is classes:
        return deps.store.create({**pod, "spec": hit[2], "status": dict(hit[3])})
    pod = defaults.apply_defaults(pod, priority_classes=classes)
    if shared:
        memo[owner["metadata"]["uid"]] = (template, classes, pod["spec"], dict(pod["status"]))
    return deps.store.create(pod)


def delete_pod(deps: Deps, pod: Obj) -> None:
    """Delete a pod the way the API server does: graceful when bound to a node, immediate otherwise."""
    meta = pod["metadata"]
    if meta.get("deletionTimestamp"):
        return
    grace = int((pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30))
    deps.store.delete("Pod", meta["name"], meta.get("namespace"), grace_seconds=grace)


# -- DaemonSet ---------------------------------------------------------------------------------------
def daemonset_watches() -> list[driver.Watch]:
    """DaemonSets wake themselves; node changes wake every DaemonSet (key "*"); pods wake their owner."""
    return [driver.Watch("DaemonSet", _daemonset_key), driver.Watch("Node", _node_change_key),
            driver.Watch("Pod", _daemon_pod_keys)]


def _daemonset_key(ev: WatchEvent) -> str | None:
    """A DaemonSet wakes itself unless only its status changed (which its own sync just wrote)."""
    if ev.type == "MODIFIED" and ev.old is not None and ev.old.get("spec") is ev.obj.get("spec") \
            and ev.old["metadata"].get("deletionTimestamp") == ev.obj["metadata"].get("deletionTimestamp"):
        return None
    return driver.by_object(ev)


def _daemon_pod_keys(ev: WatchEvent) -> list[str]:
    """A daemon pod's owner wakes when the pod comes, goes, starts deleting or flips readiness (its status
    counts); binding and other updates change nothing a sync decides or reports."""
    owners = owner_keys(ev, "DaemonSet")
    if not owners or ev.type != "MODIFIED" or ev.old is None:
        return owners
    old, new = ev.old, ev.obj
    if bool(old["metadata"].get("deletionTimestamp")) != bool(new["metadata"].get("deletionTimestamp")) \
            or is_true(old, "Ready") != is_true(new, "Ready"):
        return owners
    return []


def _node_change_key(ev: WatchEvent) -> str | None:
    """Every DaemonSet ("*") when a node comes, goes, or changes labels, taints or deletion; a status-only
    update (conditions, addresses) changes no DaemonSet's placement."""
    if ev.type != "MODIFIED" or ev.old is None:
        return "*"
    old, new = ev.old, ev.obj
    if old.get("spec") is not new.get("spec") or old["metadata"].get("labels") is not new["metadata"].get("labels") \
            or old["metadata"].get("deletionTimestamp") != new["metadata"].get("deletionTimestamp"):
        return "*"
    return None


def _target_node(pod: Obj) -> str | None:
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    terms = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
             .get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get("nodeSelectorTerms") or ()
    for t in terms:
        for f in t.get("matchFields") or ():
            if f.get("key") == "metadata.name" and f.get("values"):
                return str(f["values"][0])
    return None


_DS_TOLS = tn.parse_tolerations(DS_TOLERATIONS)
_NEW_POD_EFFECTS = frozenset((tn.NO_SCHEDULE, tn.NO_EXECUTE))
_RUNNING_POD_EFFECTS = frozenset((tn.NO_EXECUTE,))


def _selects(ds_pod: PodInfo, node: Obj) -> bool:
    labels = node["metadata"].get("labels") or {}
    if any(labels.get(k) != v for k, v in ds_pod.node_selector.items()):
        return False
    return not ds_pod.required_terms or any(all(rq.matches_label(r, labels) for r in term.values()
                                                if not r.key.startswith("field:"))
                                            for term in ds_pod.required_terms)


def _taints(node: Obj) -> tuple[tn.Taint, ...]:
    return tn.parse_taints((node.get("spec") or {}).get("taints"))


def _node_sets(memo: _SyncMemo, info: PodInfo, nodes: list[Obj]) -> tuple[set[str], set[str]]:
    """(nodes wanting a daemon pod, nodes where a running one may stay), recomputed only when the node list
    holds other objects than at the last sync — pod events, most syncs, leave it alone. Read only."""
    last = memo.last_nodes
    if last is not None and len(last) == len(nodes) and all(a is b for a, b in zip(last, nodes, strict=True)):
        return memo.wanted, memo.keep_ok
    tols = (*info.tolerations, *_DS_TOLS)
    wanted: set[str] = set()
    keep_ok: set[str] = set()
    verdicts = memo.nodes
    for node in nodes:
        meta = node["metadata"]
        name, labels, spec = meta["name"], meta.get("labels"), node.get("spec")
        hit = verdicts.get(name)
        if hit is None or hit[0] is not labels or hit[1] is not spec:
            taints = _taints(node)
            selected = _selects(info, node)
            hit = verdicts[name] = (labels, spec,
                                    selected and tn.tolerates_all(tols, taints, _NEW_POD_EFFECTS) is None,
                                    selected and tn.tolerates_all(tols, taints, _RUNNING_POD_EFFECTS) is None)
        if hit[2] and not meta.get("deletionTimestamp"):
            wanted.add(name)
        if hit[3]:
            keep_ok.add(name)
    memo.last_nodes, memo.wanted, memo.keep_ok = list(nodes), wanted, keep_ok
    return wanted, keep_ok


@dataclass
class _SyncMemo:
    """What a DaemonSet's syncs keep between runs. A sync runs on every node change and on every change of one of
    its pods, and most nodes and pods are unchanged since the last one: the store replaces an object on every
    write (sharing unchanged parts), so an entry holds while its objects are the very same."""

    template: PodInfo
    """The daemon pod's spec parsed (selector, affinity, tolerations)."""
    nodes: dict[str, tuple[Any, Any, bool, bool]] = field(default_factory=dict)
    """Node → (labels, spec, wants a new daemon pod unless deleting, keeps a running one)."""
    pods: dict[str, tuple[Obj, str | None, bool]] = field(default_factory=dict)
    """Pod uid → (pod, the node it is for, Ready)."""
    last_nodes: list[Obj] | None = None
    """The Node objects of the last sync, and what they gave:"""
    wanted: set[str] = field(default_factory=set)
    keep_ok: set[str] = field(default_factory=set)


def _memo(deps: Deps, ds: Obj) -> _SyncMemo:
    """This DaemonSet's memo, for its current template (a new template starts afresh)."""
    memos: dict[str, tuple[Any, _SyncMemo]] = deps.state.setdefault("ds.memo", {})
    uid, tmpl = ds["metadata"]["uid"], ds["spec"]["template"]
    entry = memos.get(uid)
    if entry is None or entry[0] is not tmpl or len(entry[1].nodes) + len(entry[1].pods) > 100_000:
        info = PodInfo.parse({"metadata": {"namespace": ds["metadata"].get("namespace")}, "spec": tmpl.get("spec")})
        entry = memos[uid] = (tmpl, _SyncMemo(info))
    return entry[1]


def reconcile_daemonset(deps: Deps, key: str, now: float) -> Result:
    """One daemon pod per eligible node; pods on vanished or ineligible nodes are deleted."""
    targets = deps.store.list("DaemonSet") if key == "*" else [
        d for d in [deps.store.try_get("DaemonSet", driver.split_key(key)[1], driver.split_key(key)[0])] if d]
    nodes = deps.store.list("Node")
    for ds in targets:
        _sync_daemonset(deps, ds, nodes)
    return Result()


def _sync_daemonset(deps: Deps, ds: Obj, nodes: list[Obj]) -> None:
    tmpl = ds["spec"]["template"]
    memo = _memo(deps, ds)
    info = memo.template
    found: dict[str, tuple[Obj, str | None, bool]] = {}  # node → (its daemon pod, node, Ready)
    for p in deps.store.by_index("Pod", indexes.POD_OWNER_UID, ds["metadata"]["uid"]):
        meta = p["metadata"]
        if meta.get("deletionTimestamp"):
            continue
        seen = memo.pods.get(meta["uid"])
        if seen is None or seen[0] is not p:
            seen = memo.pods[meta["uid"]] = (p, _target_node(p), is_true(p, "Ready"))
        if seen[1] is not None:
            found[seen[1]] = seen
    by_node = {n: seen[0] for n, seen in found.items()}
    ready_on = {n for n, seen in found.items() if seen[2]}
    # no new daemon pods on nodes being deleted; running ones stay until evicted or NoExecute-tainted away
    # A node wants a daemon pod when it matches the selector/affinity and its NoSchedule and NoExecute taints
    # are tolerated (with the automatic tolerations); a running one is only removed by an untolerated
    # NoExecute taint, so a node cordoned or tainted karpenter.sh/disrupted:NoSchedule for a drain keeps its
    # daemon pods until the drain evicts them last. Node verdicts are kept per node object (``_node_sets``).
    wanted, keep_ok = _node_sets(memo, info, nodes)
    keep = keep_ok & by_node.keys()
    for node_name in sorted(wanted - set(by_node)):
        spec = dict(tmpl.get("spec") or {})
        spec["tolerations"] = [*(spec.get("tolerations") or []), *DS_TOLERATIONS]
        spec["affinity"] = {**(spec.get("affinity") or {}), "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}]}}}
        create_pod(deps, ds, {**tmpl, "spec": spec})
    for node_name, p in by_node.items():
        if node_name not in wanted and node_name not in keep:
            delete_pod(deps, p)
    desired = len(wanted)
    ready = len(ready_on & wanted)
    status = {"desiredNumberScheduled": desired, "currentNumberScheduled": min(desired, len(by_node)),
              "numberReady": ready, "numberAvailable": ready, "updatedNumberScheduled": min(desired, len(by_node)),
              "numberMisscheduled": 0, "observedGeneration": ds["metadata"].get("generation", 1)}
    if (ds.get("status") or {}) != status:
        deps.store.update_status({**ds, "status": status})
