"""Adoption of a cluster as it stands: Nodes, NodeClaims and bound Pods listed in a scenario.

After a batch of objects is applied, ``adopt`` turns the Nodes and NodeClaims among them into a running
cluster the controllers can work with:

* A NodeClaim with ``status.providerID`` is Karpenter-managed. Its instance type, zone and capacity type
  come from its labels (or its Node's). The EC2 emulator records a matching ``running`` instance
  (``EC2.adopt``), priced from the catalog and billed from the moment of adoption, so termination and
  cost work as for a launched one. Missing ``Launched``/``Registered`` conditions are set; ``Initialized``
  is kept as given, and set when absent if the Node is Ready. A Node that is not Ready becomes Ready a
  sampled boot delay later, when the NodeClaim controller then initializes the claim.
  The Node gets the NodeClaim's link label and Karpenter's termination finalizer; the claim gets its
  ``status.nodeName``, capacity and allocatable (the Node's when given, else the catalog's).
* A Node without a NodeClaim is unmanaged (even with a ``karpenter.sh/nodepool`` label): pods are scheduled
  onto it and the scheduling simulation counts it, but Karpenter never disrupts it. When its instance type
  and zone are in the catalog and it has a ``spec.providerID``, an instance is adopted for it so its cost
  counts; otherwise it is kept without a price.
* Allocatable given on a Node wins over the catalog; a Node without one gets the catalog's.
* Pods with ``spec.nodeName`` stay bound; a ``Running`` pod stays Running (the kubelet only starts Pending pods).
* A ``karpenter.sh/capacity-type: reserved`` node holds a slot of the capacity reservation its
  ``karpenter.k8s.aws/capacity-reservation-id`` label names (declared in ``spec.cloud``); an unknown or full
  reservation is an ``InvalidScenario`` naming the NodeClaim.

An unknown instance type on a managed node is an ``InvalidScenario`` naming the object and the label.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ekstwin.controllers.base import Obj, is_true, with_condition
from ekstwin.errors import CloudError, InvalidInput, InvalidScenario
from ekstwin.model import requirements as rq
from ekstwin.store import indexes

if TYPE_CHECKING:
    from ekstwin.scenario.world import World

FINALIZER = "karpenter.sh/termination"
CLAIM_LINK = "ekstwin.dev/nodeclaim"


def adopt(world: World, objects: list[dict[str, Any]], where: str) -> None:
    """Adopt the NodeClaims, then the remaining Nodes, among ``objects`` (already in the store)."""
    names = {(o["kind"], o["metadata"]["name"]) for o in objects if o["kind"] in ("Node", "NodeClaim")}
    claimed: set[str] = set()
    for kind, name in sorted(names):
        if kind == "NodeClaim":
            node = _adopt_claim(world, name, where)
            if node:
                claimed.add(node)
    for kind, name in sorted(names):
        if kind == "Node" and name not in claimed and not _has_claim(world, name):
            _adopt_unmanaged(world, name, where)


def _instance_id(provider_id: str) -> str:
    return provider_id.rsplit("/", 1)[-1]


def _has_claim(world: World, node_name: str) -> bool:
    node = world.store.get("Node", node_name)
    pid = (node.get("spec") or {}).get("providerID")
    return bool(pid) and bool(world.store.by_index("NodeClaim", indexes.CLAIM_PROVIDER_ID, str(pid)))


def _node_of(world: World, claim: Obj) -> Obj | None:
    st = claim.get("status") or {}
    if st.get("nodeName"):
        return world.store.try_get("Node", st["nodeName"])
    pid = st.get("providerID")
    return next((n for n in world.store.list("Node") if (n.get("spec") or {}).get("providerID") == pid), None)


def _adopt_claim(world: World, name: str, where: str) -> str | None:
    """Adopt one NodeClaim with a providerID; return its Node's name (None when it has none yet)."""
    store, now = world.store, world.driver.now()
    claim = store.get("NodeClaim", name)
    st = dict(claim.get("status") or {})
    pid = st.get("providerID")
    if not pid:
        return None  # not launched yet: the NodeClaim controller launches it like any other
    node = _node_of(world, claim)
    labels = dict(claim["metadata"].get("labels") or {})
    node_labels = (node["metadata"].get("labels") or {}) if node else {}
    labels = {**node_labels, **labels}
    labels.pop(rq.HOSTNAME, None)
    itype = labels.get(rq.INSTANCE_TYPE, "")
    if itype in world.catalog:  # well-known labels the manifests left out come from the catalog
        labels = {**world.catalog.get(itype).labels, **labels}
    else:
        raise InvalidScenario(f"NodeClaim {name}: instance type {itype!r} (label {rq.INSTANCE_TYPE}) is not in "
                              "the catalog; supply it in a custom catalog", file=where, obj=f"NodeClaim/{name}",
                              field=f"metadata.labels[{rq.INSTANCE_TYPE}]")
    zone = labels.get(rq.ZONE) or str(pid).removeprefix("aws:///").split("/")[0]
    labels[rq.ZONE] = zone
    capacity_type = labels.setdefault(rq.CAPACITY_TYPE, "on-demand")
    ready = node is not None and is_true(node, "Ready")
    node_name = node["metadata"]["name"] if node else ""
    try:
        inst = world.deps.ec2.adopt(_instance_id(str(pid)), itype, zone, capacity_type, now,
                                    private_dns_name=node_name or f"{_instance_id(str(pid))}.adopted",
                                    ready=ready,
                                    tags={"karpenter.sh/nodeclaim": name,
                                          "karpenter.sh/nodepool": labels.get(rq.NODEPOOL, "")},
                                    capacity_reservation_id=labels.get(rq.CAPACITY_RESERVATION_ID))
    except (InvalidInput, CloudError) as e:
        reason = e.reason if isinstance(e, InvalidInput) else str(e)
        raise InvalidScenario(f"NodeClaim {name}: cannot adopt its instance: {reason}", file=where,
                              obj=f"NodeClaim/{name}", field="status.providerID") from None
    t = world.catalog.get(itype)
    node_status = (node.get("status") or {}) if node else {}
    st["capacity"] = node_status.get("capacity") or st.get("capacity") or t.capacity.to_k8s()
    st["allocatable"] = node_status.get("allocatable") or st.get("allocatable") or t.allocatable.to_k8s()
    if node is not None:
        st["nodeName"] = node_name
    ts = store.format_time()
    st["conditions"] = _stamped(st.get("conditions"), ts)
    updated: Obj = {**claim, "metadata": {**claim["metadata"], "labels": labels,
                                          "finalizers": _with_finalizer(claim)}, "status": st}
    for ctype, applies in (("Launched", True), ("Registered", node is not None),
                           ("Initialized", node is not None and ready)):
        if applies and not any(c.get("type") == ctype for c in st.get("conditions") or ()):
            updated = with_condition(updated, ctype, "True", ts)
    if is_true(updated, "Initialized") and not any(c.get("type") == "Ready" for c in st.get("conditions") or ()):
        updated = with_condition(updated, "Ready", "True", ts)
    store.update(updated)
    if node is None:
        return None
    nlabels = {**node_labels, **{k: v for k, v in labels.items() if k not in node_labels}, CLAIM_LINK: name,
               "karpenter.sh/registered": "true", rq.HOSTNAME: node_labels.get(rq.HOSTNAME, node_name)}
    if is_true(updated, "Initialized"):
        nlabels["karpenter.sh/initialized"] = "true"
    nstatus = {**node_status, "capacity": st["capacity"], "allocatable": st["allocatable"],
               "conditions": _stamped(node_status.get("conditions"), ts)}
    store.update({**node, "metadata": {**node["metadata"], "labels": nlabels, "finalizers": _with_finalizer(node)},
                  "spec": {**(node.get("spec") or {}), "providerID": inst.provider_id}, "status": nstatus})
    return node_name


def _stamped(conditions: Any, ts: str) -> list[dict[str, Any]]:
    """Conditions with the fields the controllers read filled in (transition time: adoption)."""
    return [{"reason": "", "message": "", "lastTransitionTime": ts, **c} for c in conditions or ()]


def _with_finalizer(obj: Obj) -> list[str]:
    fins = list(obj["metadata"].get("finalizers") or ())
    return fins if FINALIZER in fins else [*fins, FINALIZER]


def _adopt_unmanaged(world: World, name: str, where: str) -> None:
    """Fill an unmanaged Node's allocatable from the catalog when absent; cost it when its type is known."""
    store = world.store
    node = store.get("Node", name)
    labels = node["metadata"].get("labels") or {}
    itype = labels.get(rq.INSTANCE_TYPE, "")
    t = world.catalog.get(itype) if itype in world.catalog else None
    status = dict(node.get("status") or {})
    status["conditions"] = _stamped(status.get("conditions"), store.format_time())
    if not status.get("allocatable") and t is not None:
        status["capacity"] = status.get("capacity") or t.capacity.to_k8s()
        status["allocatable"] = t.allocatable.to_k8s()
    node = store.update({**node, "status": status})
    pid = str((node.get("spec") or {}).get("providerID") or "")
    zone = labels.get(rq.ZONE, "")
    if t is None or not pid or zone not in world.catalog.zones:
        return  # kept as given, without a price
    try:
        world.deps.ec2.adopt(_instance_id(pid), itype, zone, labels.get(rq.CAPACITY_TYPE, "on-demand"),
                             world.driver.now(), private_dns_name=name,
                             tags={"ekstwin.dev/unmanaged-node": name},
                             capacity_reservation_id=labels.get(rq.CAPACITY_RESERVATION_ID))
    except InvalidInput:
        return  # not offered there: kept without a price
