"""Server-side printing: ``meta.k8s.io/v1`` Table responses for ``kubectl get``.

kubectl asks for ``application/json;as=Table;v=v1;g=meta.k8s.io`` and prints the columns the server sends
(priority 1 columns only with ``-o wide``); it adds NAMESPACE and ``-L`` label columns itself from each row's
object metadata, so rows carry a ``PartialObjectMetadata`` unless ``includeObject`` says otherwise.
Columns follow the built-in printers and Karpenter's CRD printer columns; other kinds get NAME and AGE.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ekstwin.units.durations import format_age

Obj = dict[str, Any]
Cell = str | int
Column = tuple[str, int, Callable[[Mapping[str, Any], float], Cell]]
"""(name, priority, cell function of (object, age in seconds))."""

ZONE = "topology.kubernetes.io/zone"
INSTANCE_TYPE = "node.kubernetes.io/instance-type"
CAPACITY_TYPE = "karpenter.sh/capacity-type"
NODEPOOL = "karpenter.sh/nodepool"


def wants_table(accept: str) -> bool:
    return "as=Table" in accept


def _get(obj: Mapping[str, Any], *path: str) -> Any:
    cur: Any = obj
    for p in path:
        cur = cur.get(p) if isinstance(cur, Mapping) else None
    return cur


def _text(value: Any, empty: str = "<none>") -> str:
    return empty if value is None or value == "" else str(value)


def _label(key: str) -> Callable[[Mapping[str, Any], float], Cell]:
    return lambda o, _: _text(_get(o, "metadata", "labels", key), "")


def _condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for cond in _get(obj, "status", "conditions") or ():
        if isinstance(cond, Mapping) and cond.get("type") == kind:
            return cond
    return None


def _condition_status(kind: str) -> Callable[[Mapping[str, Any], float], Cell]:
    return lambda o, _: _text((_condition(o, kind) or {}).get("status"), "")


def _name(obj: Mapping[str, Any], _: float) -> Cell:
    return str(_get(obj, "metadata", "name"))


def _age(_: Mapping[str, Any], age: float) -> Cell:
    return format_age(age) if age >= 0 else "<unknown>"


def _pod_ready(pod: Mapping[str, Any], _: float) -> Cell:
    statuses = _get(pod, "status", "containerStatuses") or ()
    ready = sum(1 for s in statuses if s.get("ready"))
    return f"{ready}/{len(_get(pod, 'spec', 'containers') or ())}"


def _pod_status(pod: Mapping[str, Any], _: float) -> Cell:
    if _get(pod, "metadata", "deletionTimestamp"):
        return "Terminating"
    for s in _get(pod, "status", "containerStatuses") or ():
        reason = _get(s, "state", "waiting", "reason") or _get(s, "state", "terminated", "reason")
        if reason:
            return str(reason)
    return _text(_get(pod, "status", "reason") or _get(pod, "status", "phase"), "Unknown")


def _restarts(pod: Mapping[str, Any], _: float) -> Cell:
    return sum(int(s.get("restartCount", 0)) for s in _get(pod, "status", "containerStatuses") or ())


def _node_status(node: Mapping[str, Any], _: float) -> Cell:
    ready = (_condition(node, "Ready") or {}).get("status")
    text = {"True": "Ready", "False": "NotReady"}.get(str(ready), "Unknown")
    return f"{text},SchedulingDisabled" if _get(node, "spec", "unschedulable") else text


def _node_roles(node: Mapping[str, Any], _: float) -> Cell:
    prefix = "node-role.kubernetes.io/"
    roles = sorted(k[len(prefix):] for k in _get(node, "metadata", "labels") or {} if k.startswith(prefix))
    return ",".join(roles) or "<none>"


def _field(*path: str, empty: str = "<none>") -> Callable[[Mapping[str, Any], float], Cell]:
    return lambda o, _: _text(_get(o, *path), empty)


def _internal_ip(node: Mapping[str, Any], _: float) -> Cell:
    for addr in _get(node, "status", "addresses") or ():
        if isinstance(addr, Mapping) and addr.get("type") == "InternalIP":
            return str(addr.get("address"))
    return "<none>"


def _ready_of(o: Mapping[str, Any], _: float) -> Cell:
    return f"{_get(o, 'status', 'readyReplicas') or 0}/{_get(o, 'spec', 'replicas') or 0}"


def _event_object(e: Mapping[str, Any], _: float) -> Cell:
    return f"{str(_get(e, 'involvedObject', 'kind') or '').lower()}/{_get(e, 'involvedObject', 'name')}"


COLUMNS: dict[str, list[Column]] = {
    "Pod": [("Name", 0, _name), ("Ready", 0, _pod_ready), ("Status", 0, _pod_status),
            ("Restarts", 0, _restarts), ("Age", 0, _age), ("IP", 1, _field("status", "podIP")),
            ("Node", 1, _field("spec", "nodeName"))],
    "Node": [("Name", 0, _name), ("Status", 0, _node_status), ("Roles", 0, _node_roles), ("Age", 0, _age),
             ("Version", 0, _field("status", "nodeInfo", "kubeletVersion", empty="")),
             ("Internal-IP", 1, _internal_ip)],
    "NodeClaim": [("Name", 0, _name), ("Type", 0, _label(INSTANCE_TYPE)), ("Capacity", 0, _label(CAPACITY_TYPE)),
                  ("Zone", 0, _label(ZONE)), ("Node", 0, _field("status", "nodeName", empty="")),
                  ("Ready", 0, _condition_status("Ready")), ("Age", 0, _age),
                  ("ID", 1, _field("status", "providerID", empty="")), ("NodePool", 1, _label(NODEPOOL)),
                  ("NodeClass", 1, _field("spec", "nodeClassRef", "name", empty="")),
                  ("Drifted", 1, _condition_status("Drifted"))],
    "NodePool": [("Name", 0, _name), ("NodeClass", 0, _field("spec", "template", "spec", "nodeClassRef", "name")),
                 ("Nodes", 0, _field("status", "resources", "nodes", empty="0")),
                 ("Ready", 0, _condition_status("Ready")), ("Age", 0, _age),
                 ("Weight", 1, _field("spec", "weight", empty="")),
                 ("CPU", 1, _field("status", "resources", "cpu", empty="")),
                 ("Memory", 1, _field("status", "resources", "memory", empty=""))],
    "Deployment": [("Name", 0, _name), ("Ready", 0, _ready_of),
                   ("Up-to-date", 0, _field("status", "updatedReplicas", empty="0")),
                   ("Available", 0, _field("status", "availableReplicas", empty="0")), ("Age", 0, _age)],
    "ReplicaSet": [("Name", 0, _name), ("Desired", 0, _field("spec", "replicas", empty="0")),
                   ("Current", 0, _field("status", "replicas", empty="0")),
                   ("Ready", 0, _field("status", "readyReplicas", empty="0")), ("Age", 0, _age)],
    "Event": [("Last Seen", 0, _age), ("Type", 0, _field("type", empty="")),
              ("Reason", 0, _field("reason", empty="")), ("Object", 0, _event_object),
              ("Message", 0, _field("message", empty=""))],
}
_GENERIC: list[Column] = [("Name", 0, _name), ("Age", 0, _age)]


def _partial(obj: Mapping[str, Any]) -> Obj:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata")}


def table(kind: str, objs: Iterable[Mapping[str, Any]], *, now: float, parse_time: Callable[[str], float],
          resource_version: str, include_object: str = "Metadata") -> Obj:
    """A Table of ``objs``; ``now`` and ``parse_time`` (the store's) turn timestamps into ages.

    Ages of Events use ``lastTimestamp`` (kubectl's LAST SEEN), of everything else ``creationTimestamp``.
    """
    columns = COLUMNS.get(kind, _GENERIC)
    defs = [{"name": name, "type": "integer" if name == "Restarts" else "string",
             "format": "name" if name == "Name" else "", "description": "", "priority": prio}
            for name, prio, _ in columns]
    rows = []
    for obj in objs:
        stamp = (obj.get("lastTimestamp") if kind == "Event" else None) or _get(obj, "metadata", "creationTimestamp")
        age = now - parse_time(str(stamp)) if stamp else -1.0
        row: Obj = {"cells": [fn(obj, age) for _, _, fn in columns]}
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = _partial(obj)
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": resource_version},
            "columnDefinitions": defs, "rows": rows}
