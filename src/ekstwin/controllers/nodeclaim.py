"""Karpenter's NodeClaim lifecycle: launch → registration → initialization, liveness and deletion.

* Launch resolves the NodeClaim's instance types (its ``instance-type`` requirement, offerings allowed by
  its zone/capacity-type requirements and not in the unavailable-offerings cache, allocatable ≥ requests),
  drops exotic types (metal, GPU, accelerators) unless nothing else is left, keeps the 60 cheapest,
  picks the capacity type (reserved, then spot, then on-demand: the first with an available offering) and
  calls the EC2 emulator's CreateFleet with one override per (type, zone). Insufficient-capacity errors mark
  the pool unavailable for 3 minutes; no instance at all deletes the NodeClaim with an
  ``InsufficientCapacityError`` event so its pods are provisioned again.
  Reserved offerings are the capacity reservations the NodeClaim's EC2NodeClass selects that Karpenter believes
  have a free slot (``capacity_reservations``); a reserved launch targets, per (type, zone), the reservation
  with the most free slots. A failed reserved launch marks those reservations full instead of caching the
  offerings; a successful one takes a slot off Karpenter's count. With the ``ReservedCapacity`` gate on,
  Karpenter's launch templates opt out of open reservations (``CapacityReservationPreference: none``).
* Registration: when the instance's kubelet joins, a Node appears with the NodeClaim's labels and taints
  (``karpenter.sh/unregistered`` is removed at once; ``node.kubernetes.io/not-ready`` stays until Ready).
* Initialization: Node Ready, startup taints and ephemeral taints gone → ``Initialized``.
* Liveness: not registered 15 minutes after launch → the NodeClaim is deleted.
"""

from __future__ import annotations

from typing import Any

from ekstwin.autoscaling.karpenter.instancetypes import CAPACITY_TYPES, TypeTable
from ekstwin.catalog.instance_types import InstanceType
from ekstwin.catalog.reservations import RESERVED, CapacityReservation
from ekstwin.controllers import capacity_reservations as crs
from ekstwin.controllers.base import Deps, Obj, condition, is_true, with_condition
from ekstwin.model import requirements as rq
from ekstwin.model import taints as tn
from ekstwin.sim import driver
from ekstwin.sim.reconcile import Result, result_min
from ekstwin.units import resources as res
from ekstwin.units.resources import Resources

NAME = "nodeclaim"
ICE_TTL_S = 180.0
MAX_TYPES = 60
EXOTIC_RESOURCES = ("nvidia.com/gpu", "amd.com/gpu", "aws.amazon.com/neuron", "habana.ai/gaudi")


def _claim_of_node(ev: Any) -> list[str]:
    labels = ev.obj["metadata"].get("labels") or {}
    return [labels["ekstwin.dev/nodeclaim"]] if "ekstwin.dev/nodeclaim" in labels else []


WATCHES = [driver.Watch("NodeClaim", driver.by_object), driver.Watch("Node", _claim_of_node)]


def reconcile(deps: Deps, key: str, now: float) -> Result:
    """Move one NodeClaim through its lifecycle; requeue at the instance's next transition."""
    claim = deps.store.try_get("NodeClaim", key)
    if claim is None:
        return Result()
    if claim["metadata"].get("deletionTimestamp"):
        return _finalize(deps, claim, now)
    deps.ec2.due(now)  # apply the emulator's transitions that are due (running, registered, ready)
    status = claim.get("status") or {}
    if not status.get("providerID"):
        return _launch(deps, claim, now)
    instance = deps.ec2.get(_instance_id(status["providerID"]))
    results = [_register(deps, claim, instance, now)]
    claim = deps.store.get("NodeClaim", key)
    results.append(_initialize(deps, claim, instance, now))
    return result_min(*results)


def _instance_id(provider_id: str) -> str:
    return provider_id.rsplit("/", 1)[-1]


# -- launch ------------------------------------------------------------------------------------------
def _ice(deps: Deps, now: float) -> dict[tuple[str, str, str], float]:
    cache: dict[tuple[str, str, str], float] = deps.state.setdefault("ice", {})
    for k in [k for k, until in cache.items() if until <= now]:
        del cache[k]
    return cache


def available_table(deps: Deps, now: float) -> TypeTable:
    """The instance-type table with the offerings in the unavailable-offerings cache and the capacity
    reservations Karpenter cannot use (not selected, no free slot) masked out: what Karpenter's scheduling
    simulations (provisioning and consolidation) see as launchable right now."""
    return deps.table.without(frozenset(_ice(deps, now)), crs.unavailable(deps, now))


def _claim_requirements(claim: Obj) -> rq.Requirements:
    return rq.Requirements.from_node_selector_terms(claim["spec"].get("requirements") or ())


def _launch(deps: Deps, claim: Obj, now: float) -> Result:
    """Call CreateFleet once; apply its answer when it arrives (the call takes 1–2 s, and until then the
    NodeClaim has no providerID, which holds back the next provisioning batch)."""
    inflight: dict[str, Any] = deps.state.setdefault("nodeclaim.inflight", {})
    name = claim["metadata"]["name"]
    fleet = inflight.get(name)
    if fleet is None:
        fleet = _create_fleet(deps, claim, now)
        if fleet is None:
            return Result()
        inflight[name] = fleet
    if now < fleet.responded_at:
        return Result(requeue_after=fleet.responded_at - now)
    del inflight[name]
    targets: dict[tuple[str, str], str] = deps.state.setdefault("nodeclaim.targets", {}).pop(name, {})
    ice = _ice(deps, now)
    for err in fleet.errors:
        if err.capacity_type == RESERVED:  # Karpenter marks the reservation full, not the offering
            if (err.instance_type, err.zone) in targets:
                crs.mark_unavailable(deps, targets[(err.instance_type, err.zone)])
        elif err.marks_offering_unavailable:
            ice[(err.capacity_type, err.instance_type, err.zone)] = now + ICE_TTL_S
    if not fleet.instances:
        codes = sorted({e.code for e in fleet.errors}) or ["no capacity"]
        return _insufficient(deps, claim, f"creating instance, insufficient capacity, {', '.join(codes)}")
    inst = fleet.instances[0]
    if inst.capacity_type == RESERVED and inst.capacity_reservation_id is not None:
        crs.mark_launched(deps, inst.capacity_reservation_id)
    return _mark_launched(deps, claim, deps.catalog.get(inst.instance_type), inst, now)


def _create_fleet(deps: Deps, claim: Obj, now: float) -> Any:
    """Resolve types and capacity type and call CreateFleet; None when nothing can be requested."""
    reqs = _claim_requirements(claim)
    requests = Resources.parse((claim["spec"].get("resources") or {}).get("requests"))
    ice = _ice(deps, now)
    names = sorted(reqs[rq.INSTANCE_TYPE].values) if rq.INSTANCE_TYPE in reqs else [t.name for t in deps.catalog.types]
    candidates = [t for t in (deps.catalog.get(n) for n in names) if requests.fits(t.allocatable)]
    zr, cr = reqs.get_or_exists(rq.ZONE), reqs.get_or_exists(rq.CAPACITY_TYPE)
    rr = reqs.get_or_exists(rq.CAPACITY_RESERVATION_ID)
    only_reserved = rq.CAPACITY_RESERVATION_ID in reqs and not rr.allows_absent  # ids only reserved offerings have
    free = crs.counts(deps, now) or {}
    reservations = [r for r in crs.selected(deps, _nodeclass(deps, claim)) if free.get(r.id, 0) > 0]

    def offerings(t: InstanceType, ct: str) -> list[Any]:
        if ct == RESERVED:
            return [r for r in reservations if r.instance_type == t.name and zr.has(r.zone) and rr.has(r.id)]
        if only_reserved:
            return []
        return [o for o in t.offerings if o.available and o.capacity_type == ct and zr.has(o.zone)
                and (ct, t.name, o.zone) not in ice]

    non_exotic = [t for t in candidates if not _exotic(t)]
    candidates = non_exotic or candidates
    chosen_ct = next((ct for ct in CAPACITY_TYPES if cr.has(ct) and any(offerings(t, ct) for t in candidates)), None)
    if chosen_ct is None:
        _insufficient(deps, claim, "all requested instance types were unavailable during launch")
        return None
    with_offers = [(min(o.price for o in offerings(t, chosen_ct)), t.name, t) for t in candidates
                   if offerings(t, chosen_ct)]
    with_offers.sort()
    kept = [t for _, _, t in with_offers[:MAX_TYPES]]
    names_order = {t.name: i for i, t in enumerate(kept)}
    if chosen_ct == "on-demand" and cr.has("spot") and len(kept) < 5:
        deps.recorder.log(NAME, "at least 5 instance types are recommended when flexible to spot but requesting "
                          "on-demand, the current provisioning request only has " + str(len(kept)) +
                          " instance type options", level="ERROR", NodeClaim={"name": claim["metadata"]["name"]})
    overrides = sorted({(t.name, o.zone): None for t in kept for o in offerings(t, chosen_ct)},
                       key=lambda tz: (names_order[tz[0]], tz[1]))
    targets = _targets(overrides, [o for t in kept for o in offerings(t, chosen_ct)], free) \
        if chosen_ct == RESERVED else {}
    if targets:
        deps.state.setdefault("nodeclaim.targets", {})[claim["metadata"]["name"]] = targets
    return deps.ec2.create_fleet(now, overrides, chosen_ct, count=1,
                                 tags={"karpenter.sh/nodeclaim": claim["metadata"]["name"],
                                       "karpenter.sh/nodepool": (claim["metadata"].get("labels") or {}).get(
                                           rq.NODEPOOL, "")},
                                 capacity_reservations=targets or None, open_reservations=not crs.enabled(deps))


def _nodeclass(deps: Deps, claim: Obj) -> Obj | None:
    return deps.store.try_get("EC2NodeClass", (claim["spec"].get("nodeClassRef") or {}).get("name", ""))


def _targets(overrides: list[tuple[str, str]], offers: list[CapacityReservation],
             free: dict[str, int]) -> dict[tuple[str, str], str]:
    """Per (type, zone), the reservation to target: the one with the most free slots (CreateFleet takes one
    launch template per type and zone), ties by id."""
    out: dict[tuple[str, str], str] = {}
    for tz in overrides:
        matching = [r for r in offers if (r.instance_type, r.zone) == tz]
        out[tz] = min(matching, key=lambda r: (-free.get(r.id, 0), r.id)).id
    return out


def _exotic(t: InstanceType) -> bool:
    return (t.labels.get("karpenter.k8s.aws/instance-size", "").startswith("metal")
            or any(t.capacity[r] > 0 for r in EXOTIC_RESOURCES))


def _insufficient(deps: Deps, claim: Obj, message: str) -> Result:
    deps.recorder.event(claim, "Warning", "InsufficientCapacityError",
                        f"NodeClaim {claim['metadata']['name']} event: {message}")
    deps.recorder.log(NAME, "failed launching nodeclaim", level="ERROR",
                      NodeClaim={"name": claim["metadata"]["name"]}, error=message)
    deps.recorder.count("karpenter_nodeclaims_disrupted_total", reason="insufficient_capacity",
                        nodepool=(claim["metadata"].get("labels") or {}).get(rq.NODEPOOL, ""))
    deps.store.delete("NodeClaim", claim["metadata"]["name"])
    return Result()


def node_labels(claim: Obj, itype: InstanceType, zone: str, zone_id: str, capacity_type: str,
                region: str, reservation: CapacityReservation | None = None) -> dict[str, str]:
    """Labels Karpenter puts on a launched NodeClaim and its Node (a reserved one also names its reservation)."""
    labels = dict(claim["metadata"].get("labels") or {})
    labels.update(itype.labels)
    labels.update({rq.ZONE: zone, rq.ZONE_ID: zone_id, rq.CAPACITY_TYPE: capacity_type, rq.REGION: region,
                   "failure-domain.beta.kubernetes.io/zone": zone, "failure-domain.beta.kubernetes.io/region": region,
                   "beta.kubernetes.io/instance-type": itype.name, "beta.kubernetes.io/arch": itype.labels[rq.ARCH],
                   "beta.kubernetes.io/os": itype.labels.get(rq.OS, "linux")})
    if reservation is not None:
        labels[rq.CAPACITY_RESERVATION_ID] = reservation.id
        labels[rq.CAPACITY_RESERVATION_TYPE] = reservation.reservation_type
    return labels


def _mark_launched(deps: Deps, claim: Obj, itype: InstanceType, inst: Any, now: float) -> Result:
    reservation = deps.ec2.reservations.get(inst.capacity_reservation_id) \
        if inst.capacity_type == RESERVED and inst.capacity_reservation_id else None
    labels = node_labels(claim, itype, inst.zone, inst.zone_id, inst.capacity_type, deps.catalog.region,
                         reservation)
    status = {**(claim.get("status") or {}), "providerID": inst.provider_id, "imageID": "ami-0ekstwin000000000",
              "capacity": itype.capacity.to_k8s(), "allocatable": itype.allocatable.to_k8s()}
    updated = {**claim, "metadata": {**claim["metadata"], "labels": labels}, "status": status}
    updated = with_condition(updated, "Launched", "True", deps.store.format_time())
    deps.store.update(updated)
    deps.recorder.log(NAME, "launched nodeclaim", NodeClaim={"name": claim["metadata"]["name"]},
                      **{"provider-id": inst.provider_id, "instance-type": itype.name, "zone": inst.zone,
                         "capacity-type": inst.capacity_type, "allocatable": itype.allocatable.to_k8s()})
    deps.recorder.decide("launch", f"{claim['metadata']['name']}: {itype.name} {inst.capacity_type} in {inst.zone} "
                         f"at ${inst.price:.4f}/h", nodeclaim=claim["metadata"]["name"], instance_type=itype.name,
                         zone=inst.zone, capacity_type=inst.capacity_type, price=inst.price)
    return Result(requeue_after=max(0.0, (inst.registered_at or now) - now))


# -- registration and initialization -----------------------------------------------------------------
def _register(deps: Deps, claim: Obj, inst: Any, now: float) -> Result:
    st = claim.get("status") or {}
    if st.get("nodeName"):
        return Result()
    if inst.registered_at is None:
        return Result()
    if now < inst.registered_at:
        launched = condition(claim, "Launched")
        launched_at = deps.store.parse_time(launched["lastTransitionTime"]) if launched else now
        if now - launched_at >= deps.settings.registration_ttl_s:
            deps.recorder.count("karpenter_nodeclaims_disrupted_total", reason="liveness")
            deps.store.delete("NodeClaim", claim["metadata"]["name"])
            return Result()
        return Result(requeue_after=inst.registered_at - now)
    name = inst.private_dns_name
    labels = {**(claim["metadata"].get("labels") or {}), rq.HOSTNAME: name, "karpenter.sh/registered": "true",
              "ekstwin.dev/nodeclaim": claim["metadata"]["name"]}
    taints = [*(claim["spec"].get("taints") or []), *(claim["spec"].get("startupTaints") or []),
              tn.Taint(tn.NOT_READY, "", tn.NO_SCHEDULE).to_k8s()]
    deps.store.create({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": labels, "finalizers": ["karpenter.sh/termination"],
                     "ownerReferences": [{"apiVersion": "karpenter.sh/v1", "kind": "NodeClaim",
                                          "name": claim["metadata"]["name"], "uid": claim["metadata"]["uid"],
                                          "blockOwnerDeletion": True}]},
        "spec": {"providerID": inst.provider_id, "taints": taints},
        "status": {"capacity": st.get("capacity"), "allocatable": st.get("allocatable"),
                   "conditions": [{"type": "Ready", "status": "False", "reason": "KubeletNotReady",
                                   "lastTransitionTime": deps.store.format_time(),
                                   "message": "container runtime network not ready"}],
                   "addresses": [{"type": "InternalIP", "address": _ip_of(name)}, {"type": "Hostname",
                                                                                   "address": name}],
                   "nodeInfo": {"kubeletVersion": deps.settings.kubelet_version, "architecture": labels.get(rq.ARCH),
                                "operatingSystem": "linux", "containerRuntimeVersion": "containerd://1.7.20"}}})
    updated = with_condition({**claim, "status": {**st, "nodeName": name}}, "Registered", "True",
                             deps.store.format_time())
    deps.store.update(updated)
    deps.recorder.log(NAME, "registered nodeclaim", NodeClaim={"name": claim["metadata"]["name"]}, Node={"name": name})
    deps.recorder.decide("registration", f"{claim['metadata']['name']} registered as node {name}",
                         nodeclaim=claim["metadata"]["name"], node=name)
    deps.recorder.count("karpenter_nodes_created_total", nodepool=labels.get(rq.NODEPOOL, ""))
    return Result(requeue_after=max(0.0, (inst.ready_at or now) - now))


def _ip_of(dns: str) -> str:
    parts = dns.split(".")[0].removeprefix("ip-").split("-")
    return ".".join(parts) if len(parts) == 4 else ""


def _initialize(deps: Deps, claim: Obj, inst: Any, now: float) -> Result:
    st = claim.get("status") or {}
    node_name = st.get("nodeName")
    if not node_name or is_true(claim, "Initialized"):
        return Result()
    node = deps.store.try_get("Node", node_name)
    if node is None:
        return Result()
    if not is_true(node, "Ready"):
        if inst.ready_at is None:
            return Result()
        if now < inst.ready_at:
            return Result(requeue_after=inst.ready_at - now)
        taints = [t for t in (node.get("spec") or {}).get("taints") or () if t.get("key") != tn.NOT_READY]
        node = with_condition({**node, "spec": {**node["spec"], "taints": taints}}, "Ready", "True",
                              deps.store.format_time(), "KubeletReady", "kubelet is posting ready status")
        node = deps.store.update(node)
    startup = {t.get("key") for t in claim["spec"].get("startupTaints") or ()}
    blocking = [t for t in (node.get("spec") or {}).get("taints") or ()
                if t.get("key") in startup or t.get("key") in tn.KNOWN_EPHEMERAL]
    requested = Resources.parse((claim["spec"].get("resources") or {}).get("requests"))
    alloc = Resources.parse((node.get("status") or {}).get("allocatable"))
    missing = [k for k in requested if k not in (res.CPU, res.MEMORY, res.PODS, res.EPHEMERAL) and alloc[k] <= 0]
    if blocking or missing:
        return Result()
    ts = deps.store.format_time()
    deps.store.update({**node, "metadata": {**node["metadata"], "labels": {
        **(node["metadata"].get("labels") or {}), "karpenter.sh/initialized": "true"}}})
    updated = with_condition(with_condition(claim, "Initialized", "True", ts), "Ready", "True", ts)
    updated = {**updated, "metadata": {**updated["metadata"], "labels": {
        **(updated["metadata"].get("labels") or {}), "karpenter.sh/initialized": "true",
        "karpenter.sh/registered": "true"}}}
    deps.store.update(updated)
    deps.recorder.log(NAME, "initialized nodeclaim", NodeClaim={"name": claim["metadata"]["name"]},
                      Node={"name": node_name}, allocatable=st.get("allocatable"))
    return Result()


# -- deletion ----------------------------------------------------------------------------------------
def _finalize(deps: Deps, claim: Obj, now: float) -> Result:
    """Karpenter's NodeClaim finalizer: ask for the Node's deletion and wait while the Node's own finalizer
    (``termination.py``) drains it, make sure the instance is terminated, then drop the finalizer.

    The termination deadline (``terminationGracePeriod``) is stamped first, so the drain sees it. A NodeClaim
    deleted while its CreateFleet call is in flight waits for the answer and terminates what it launched.
    """
    from ekstwin.controllers import termination

    name = claim["metadata"]["name"]
    claim = termination.stamp_deadline(deps, claim)
    st = claim.get("status") or {}
    node_name = st.get("nodeName")
    node = deps.store.try_get("Node", node_name) if node_name else None
    if node is not None and not node["metadata"].get("deletionTimestamp"):
        # Only marked while the termination finalizer drains it; a Node without that finalizer goes at once.
        deps.store.delete("Node", str(node_name))
        node = deps.store.try_get("Node", str(node_name))
    if node is not None:
        return Result()  # the Node's removal wakes this NodeClaim again
    inflight: dict[str, Any] = deps.state.setdefault("nodeclaim.inflight", {})
    fleet = inflight.get(name)
    if fleet is not None:
        if now < fleet.responded_at:
            return Result(requeue_after=fleet.responded_at - now)
        del inflight[name]
        for inst in fleet.instances:
            deps.ec2.terminate(now, inst.instance_id)
    if not termination.ensure_terminated(deps, claim, now):
        return Result(requeue_after=termination.INSTANCE_POLL_S)
    fresh = deps.store.get("NodeClaim", name)
    rest = [f for f in fresh["metadata"].get("finalizers") or () if f != termination.FINALIZER]
    deps.store.update({**fresh, "metadata": {**fresh["metadata"], "finalizers": rest}})
    deps.recorder.log(NAME, "deleted nodeclaim", NodeClaim={"name": name},
                      Node={"name": node_name or ""}, **{"provider-id": st.get("providerID", "")})
    deps.recorder.count("karpenter_nodeclaims_terminated_total",
                        nodepool=(claim["metadata"].get("labels") or {}).get(rq.NODEPOOL, ""))
    return Result()
