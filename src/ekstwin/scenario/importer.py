"""``ekstwin import``: a cluster snapshot (``kubectl get ... -o json``) → a scenario the twin adopts.

Input: a Kubernetes ``List`` (``{"kind": "List", "items": [...]}``), the ``{"objects": {plural: [...]}}`` shape
of ``ekstwin run --json``, or a directory of such JSON files. Output: a Scenario whose ``spec.manifests`` hold
the objects, with region and zones taken from the nodes' labels (``write`` puts the NodePools and EC2NodeClasses
inline and everything else in a JSON file beside it).

What is kept, and why (uids are the store's, so a snapshot's ownership links cannot survive the import as
they are; the twin's controllers re-establish them by *adoption*, as kube-controller-manager does: a
ReplicaSet adopts the orphan pods its selector matches, a Deployment the orphan ReplicaSets):

* Nodes, NodeClaims, NodePools, EC2NodeClasses, Namespaces, PodDisruptionBudgets, DaemonSets, Deployments and
  ReplicaSets: kept; ReplicaSets and pods lose their ownerReferences and are adopted again.
* Bound pods are kept bound, as they are (adoption keeps them Running); the original owner is recorded in the
  annotation ``ekstwin.dev/imported-owner``. Pods of kept ReplicaSets are recreated when evicted.
* StatefulSets and Jobs are left out (with a warning): the twin has no controller for them, so their pods stay
  as bare pods and are gone once evicted.
* DaemonSet pods are dropped: the DaemonSet re-creates one per node, as Kubernetes does.
* Mirror (static) pods (annotation ``kubernetes.io/config.mirror``) are kept bound and unmanaged.
* Finished pods (Succeeded/Failed) and objects being deleted are dropped.
* Server-set fields (uid, resourceVersion, managedFields, creationTimestamp, generation, selfLink,
  the last-applied annotation) are stripped.

``anonymize`` renames namespaces (except the system ones), workloads, pods, nodes, containers and images
with counters in a deterministic order, and every reference to them (``spec.nodeName``, ``status.nodeName``,
the hostname label, node addresses, ``app``-style labels and selectors).
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field
from typing import Any

from ekstwin.errors import InvalidInput
from ekstwin.model import requirements as rq
from ekstwin.model.manifests import safe_dump

REGION_LABEL = "topology.kubernetes.io/region"
KINDS = {"nodes": "Node", "nodeclaims": "NodeClaim", "pods": "Pod", "nodepools": "NodePool",
         "ec2nodeclasses": "EC2NodeClass", "deployments": "Deployment", "replicasets": "ReplicaSet",
         "statefulsets": "StatefulSet", "daemonsets": "DaemonSet", "jobs": "Job",
         "poddisruptionbudgets": "PodDisruptionBudget", "namespaces": "Namespace"}
KEPT = ("Namespace", "EC2NodeClass", "NodePool", "DaemonSet", "PodDisruptionBudget", "Deployment", "ReplicaSet",
        "Node", "NodeClaim", "Pod")
LEFT_OUT = ("StatefulSet", "Job")
SYSTEM_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
MIRROR = "kubernetes.io/config.mirror"
OWNER_ANNOTATION = "ekstwin.dev/imported-owner"
_SERVER_FIELDS = ("uid", "resourceVersion", "managedFields", "creationTimestamp", "generation", "selfLink")
_CONTAINER_LISTS = ("containers", "initContainers", "containerStatuses", "initContainerStatuses")
_APP_LABELS = ("app", "app.kubernetes.io/name", "app.kubernetes.io/instance", "k8s-app")


@dataclass
class Imported:
    """An imported snapshot: the scenario document and what the user should know about it."""

    scenario: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    unknown_instance_types: list[str] = field(default_factory=list)


INLINE_KINDS = ("NodePool", "EC2NodeClass")
"""Kinds ``write`` keeps in the scenario file itself: the ones a user edits for a what-if."""


def write(imported: Imported, output: str) -> str:
    """Write the scenario to ``output`` and its cluster objects to ``<stem>.objects.json`` beside it.

    The NodePools and EC2NodeClasses stay inline in the YAML, which stays short enough to read and edit; the
    nodes, pods and workloads go to a JSON ``List`` that the scenario lists in ``spec.manifests`` by relative
    path. A 200-node cluster is ~10 MB of objects: JSON loads in well under a second, while YAML takes seconds
    even with libyaml. Returns the objects file's path.
    """
    stem, _ = os.path.splitext(os.path.basename(output))
    objects_name = f"{stem}.objects.json"
    objects_path = os.path.join(os.path.dirname(output), objects_name)
    spec = imported.scenario["spec"]
    inline = [o for o in spec["manifests"] if o.get("kind") in INLINE_KINDS]
    rest = [o for o in spec["manifests"] if o.get("kind") not in INLINE_KINDS]
    with open(objects_path, "w", encoding="utf-8") as fh:
        json.dump({"apiVersion": "v1", "kind": "List", "items": rest}, fh, separators=(",", ":"))
    doc = {**imported.scenario, "spec": {**spec, "manifests": [*inline, objects_name]}}
    with open(output, "w", encoding="utf-8") as fh:
        safe_dump(doc, fh, sort_keys=False)
    return objects_path


def read_snapshot(path: str) -> list[dict[str, Any]]:
    """Every object in ``path`` (a JSON file or a directory of them, sorted by file name).

    Raises:
        InvalidInput: missing file, invalid JSON, or a document that is not a List or a run report.
    """
    if os.path.isdir(path):
        files = sorted(os.path.join(path, f) for f in os.listdir(path) if f.endswith(".json"))
        if not files:
            raise InvalidInput("no .json files in the directory", file=path)
    elif os.path.isfile(path):
        files = [path]
    else:
        raise InvalidInput("no such file", file=path)
    objects: list[dict[str, Any]] = []
    for f in files:
        with open(f, encoding="utf-8") as fh:
            try:
                doc = json.load(fh)
            except json.JSONDecodeError as e:
                raise InvalidInput(f"not valid JSON (line {e.lineno}: {e.msg})", file=f) from None
        objects.extend(_items(doc, f))
    return objects


def _items(doc: Any, file: str) -> list[dict[str, Any]]:
    if isinstance(doc, dict) and isinstance(doc.get("objects"), dict):
        out = []
        for plural, items in sorted(doc["objects"].items()):
            kind = KINDS.get(plural)
            for item in items or ():
                if isinstance(item, dict) and kind is not None:
                    out.append({**item, "kind": item.get("kind") or kind})
        return out
    if isinstance(doc, dict) and isinstance(doc.get("items"), list):
        return [i for i in doc["items"] if isinstance(i, dict) and i.get("kind")]
    if isinstance(doc, dict) and doc.get("kind") and doc.get("metadata"):
        return [doc]
    raise InvalidInput("expected a Kubernetes List (kubectl get -o json) or an `ekstwin run --json` report",
                       file=file)


def import_snapshot(objects: list[dict[str, Any]], *, name: str = "imported", anonymize: bool = False,
                    known_types: frozenset[str] | None = None) -> Imported:
    """Turn snapshot ``objects`` into a scenario document (see the module docstring for the choices).

    ``known_types``: the instance types of the region's catalog (unknown ones on nodes are warned about).

    Raises:
        InvalidInput: a node without a zone label, or nodes in several regions.
    """
    warnings: list[str] = []
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for o in objects:
        by_kind.setdefault(str(o.get("kind")), []).append(o)
    nodes = sorted(by_kind.get("Node", []), key=_name)
    if not nodes:
        raise InvalidInput("the snapshot has no Nodes")
    region, zones = _region_and_zones(nodes)
    left_out = {k: len(by_kind[k]) for k in LEFT_OUT if by_kind.get(k)}
    if left_out:
        counts = ", ".join(f"{n} {k}(s)" for k, n in left_out.items())
        warnings.append(f"left out {counts}: the twin has no controller for them; their pods are kept bound as "
                        f"bare pods (annotation {OWNER_ANNOTATION})")
    kept: list[dict[str, Any]] = []
    dropped_ds = 0
    for kind in KEPT:
        for o in sorted(by_kind.get(kind, []), key=lambda x: (_ns(x), _name(x))):
            if (o.get("metadata") or {}).get("deletionTimestamp"):
                continue
            if kind == "Pod":
                if _owner_kind(o) == "DaemonSet":
                    dropped_ds += 1
                    continue
                if (o.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                    continue
            kept.append(_clean(o))
    if dropped_ds:
        warnings.append(f"dropped {dropped_ds} DaemonSet pod(s): their DaemonSets re-create them")
    unknown: list[str] = []
    if known_types is not None:
        types = {(n["metadata"].get("labels") or {}).get(rq.INSTANCE_TYPE, "") for n in nodes}
        unknown = sorted(t for t in types if t and t not in known_types)
        if unknown:
            warnings.append(f"instance types not in the {region} catalog: {', '.join(unknown)} "
                            "(supply them in spec.cloud.instanceTypes)")
    if anonymize:
        kept = Anonymizer().apply(kept)
    scenario = {"apiVersion": "ekstwin.dev/v1alpha1", "kind": "Scenario", "metadata": {"name": name},
                "spec": {"cluster": {"region": region, "zones": zones, "daemonsets": "none"}, "manifests": kept}}
    return Imported(scenario, warnings, unknown)


def _name(o: dict[str, Any]) -> str:
    return str((o.get("metadata") or {}).get("name", ""))


def _ns(o: dict[str, Any]) -> str:
    return str((o.get("metadata") or {}).get("namespace") or "")


def _owner_kind(o: dict[str, Any]) -> str | None:
    refs = (o.get("metadata") or {}).get("ownerReferences") or []
    return next((str(r.get("kind")) for r in refs if r.get("controller")), refs[0].get("kind") if refs else None)


def _region_and_zones(nodes: list[dict[str, Any]]) -> tuple[str, list[str]]:
    regions: set[str] = set()
    zones: set[str] = set()
    for n in nodes:
        labels = (n.get("metadata") or {}).get("labels") or {}
        zone = labels.get(rq.ZONE)
        if not zone:
            raise InvalidInput(f"Node {_name(n)} has no {rq.ZONE} label: the twin needs every node's zone")
        zones.add(str(zone))
        regions.add(str(labels.get(REGION_LABEL) or str(zone)[:-1]))
    if len(regions) != 1:
        raise InvalidInput(f"nodes span several regions ({', '.join(sorted(regions))}); import one region")
    return regions.pop(), sorted(zones)


def _clean(o: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(o)
    meta = out.setdefault("metadata", {})
    for f in _SERVER_FIELDS:
        meta.pop(f, None)
    annotations = meta.get("annotations") or {}
    annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
    if out["kind"] == "ReplicaSet":
        meta.pop("ownerReferences", None)  # its Deployment adopts it again by selector (uids are the store's)
    if out["kind"] == "Pod" and meta.get("ownerReferences"):
        owner = next((r for r in meta["ownerReferences"] if r.get("controller")), meta["ownerReferences"][0])
        if MIRROR not in annotations:
            annotations[OWNER_ANNOTATION] = f"{owner.get('kind')}/{owner.get('name')}"
        del meta["ownerReferences"]
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    return out


class Anonymizer:
    """Consistent, counter-based renaming (namespace-1, workload-1, pod-1, node-1), in the order met."""

    def __init__(self) -> None:
        self.maps: dict[str, dict[str, str]] = {"namespace": {}, "workload": {}, "pod": {}, "node": {},
                                               "container": {}, "image": {}}

    def rename(self, category: str, value: str) -> str:
        """The stable anonymous name of ``value`` in ``category``."""
        if category == "namespace" and value in SYSTEM_NAMESPACES:
            return value
        m = self.maps[category]
        if value not in m:
            m[value] = f"{category}-{len(m) + 1}"
        return m[value]

    def apply(self, objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Renamed copies of ``objects``."""
        return [self._one(copy.deepcopy(o)) for o in objects]

    def _one(self, o: dict[str, Any]) -> dict[str, Any]:
        meta = o["metadata"]
        kind = o["kind"]
        if meta.get("namespace"):
            meta["namespace"] = self.rename("namespace", meta["namespace"])
        if kind == "Namespace":
            meta["name"] = self.rename("namespace", meta["name"])
        elif kind == "Node":
            meta["name"] = self.rename("node", meta["name"])
            if (o.get("status") or {}).get("addresses"):  # IPs and DNS names say where the cluster is
                o["status"]["addresses"] = [{"type": "Hostname", "address": meta["name"]}]
        elif kind == "Pod":
            meta["name"] = self.rename("pod", meta["name"])
            meta.pop("generateName", None)
        elif kind in ("DaemonSet", "PodDisruptionBudget", "Deployment", "ReplicaSet"):
            meta["name"] = self.rename("workload", meta["name"])
        annotations = meta.get("annotations") or {}
        if OWNER_ANNOTATION in annotations:
            k, _, n = annotations[OWNER_ANNOTATION].partition("/")
            annotations[OWNER_ANNOTATION] = f"{k}/{self.rename('workload', n)}"
        spec, status = o.get("spec") or {}, o.get("status") or {}
        if spec.get("nodeName"):
            spec["nodeName"] = self.rename("node", spec["nodeName"])
        if kind == "NodeClaim" and status.get("nodeName"):
            status["nodeName"] = self.rename("node", status["nodeName"])
        self._containers(o)
        self._labels(o)
        return o

    def _containers(self, value: Any) -> None:
        """Rename container names and images wherever a pod spec or template holds them."""
        if isinstance(value, list):
            for v in value:
                self._containers(v)
        elif isinstance(value, dict):
            for k, v in value.items():
                if k in _CONTAINER_LISTS and isinstance(v, list):
                    for c in v:
                        if isinstance(c, dict) and isinstance(c.get("name"), str):
                            c["name"] = self.rename("container", c["name"])
                        if isinstance(c, dict) and isinstance(c.get("image"), str):
                            c["image"] = self.rename("image", c["image"])
                        if isinstance(c, dict):
                            c.pop("imageID", None)
                            c.pop("containerID", None)
                else:
                    self._containers(v)

    def _labels(self, value: Any) -> None:
        """Rename hostname and app-style label values (labels, selectors, matchExpressions) everywhere."""
        if isinstance(value, list):
            for v in value:
                self._labels(v)
            return
        if not isinstance(value, dict):
            return
        key = value.get("key")
        if isinstance(key, str) and isinstance(value.get("values"), list):
            cat = "node" if key == rq.HOSTNAME else "workload" if key in _APP_LABELS else None
            if cat:
                value["values"] = [self.rename(cat, str(v)) for v in value["values"]]
        for k, v in value.items():
            if isinstance(v, str) and k == rq.HOSTNAME:
                value[k] = self.rename("node", v)
            elif isinstance(v, str) and k in _APP_LABELS:
                value[k] = self.rename("workload", v)
            else:
                self._labels(v)
