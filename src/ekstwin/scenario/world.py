"""Builds a simulated cluster (store, clock, catalog, EC2 emulator, controllers) from a ``Scenario``.

Initial objects are applied at t=0 in dependency order (namespaces and priority classes first, then
node classes and pools, then workloads). The catalog's capacity settings come from the first
EC2NodeClass (AMI family and kubelet block); several node classes with different kubelet settings are
not modelled yet. With the Karpenter autoscaler, the world also holds the Karpenter controller's Pod
(``addons.karpenter_controller``: outside the simulated data plane, never scheduled or provisioned for).
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ekstwin.autoscaling.karpenter.instancetypes import TypeTable
from ekstwin.catalog import overrides
from ekstwin.catalog.capacity import CapacitySettings
from ekstwin.catalog.catalog import Catalog, load_catalog
from ekstwin.cloud.ec2 import EC2
from ekstwin.cloud.settings import CloudSettings
from ekstwin.controllers import capacity_reservations, manager
from ekstwin.controllers.base import ControllerSettings, Deps
from ekstwin.errors import EkstwinError, InvalidScenario
from ekstwin.model import defaults
from ekstwin.observe.recorder import Recorder
from ekstwin.rng import Streams
from ekstwin.scenario import addons, adopt
from ekstwin.scenario.config import Scenario
from ekstwin.sim.clock import SimClock
from ekstwin.sim.sim_driver import SimDriver
from ekstwin.store.store import DEFAULT_EPOCH, Store

_ORDER = ("Namespace", "PriorityClass", "EC2NodeClass", "NodePool", "DaemonSet", "PodDisruptionBudget")
DriverFactory = Callable[[Store, SimClock], SimDriver]
"""Makes the world's driver from its store and virtual clock (``ekstwin serve`` passes a RealtimeDriver)."""
BUILTIN_PRIORITY = {"system-cluster-critical": 2_000_000_000, "system-node-critical": 2_000_001_000}


@dataclass
class World:
    """Everything one simulated cluster is made of."""

    scenario: Scenario
    clock: SimClock
    store: Store
    driver: SimDriver
    deps: Deps
    catalog: Catalog


def _capacity_settings(objects: tuple[dict[str, Any], ...]) -> CapacitySettings:
    nc = next((o for o in objects if o.get("kind") == "EC2NodeClass"), None)
    if nc is None:
        return CapacitySettings()
    spec = nc.get("spec") or {}
    family = str(spec.get("amiFamily") or "")
    if not family:
        alias = next((t.get("alias", "") for t in spec.get("amiSelectorTerms") or () if t.get("alias")), "")
        family = {"al2023": "AL2023", "al2": "AL2", "bottlerocket": "Bottlerocket", "windows2019": "Windows2019",
                  "windows2022": "Windows2022"}.get(alias.split("@")[0], "AL2023")
    kubelet = spec.get("kubelet") or {}
    return CapacitySettings(ami_family=family, max_pods=kubelet.get("maxPods"),
                            pods_per_core=kubelet.get("podsPerCore"), kube_reserved=kubelet.get("kubeReserved"),
                            system_reserved=kubelet.get("systemReserved"), eviction_hard=kubelet.get("evictionHard"))


def build(scenario: Scenario, seed: int | None = None, *, driver_factory: DriverFactory = SimDriver,
          epoch: datetime = DEFAULT_EPOCH) -> World:
    """Create the world at t=0 with the scenario's initial objects applied.

    ``epoch`` is the wall-clock instant of t=0 in timestamps (a fixed date for runs, so output repeats;
    the real start time when serving, so kubectl's ages make sense).

    ``driver_factory`` swaps the driver (any SimDriver subclass) without changing what it runs.
    """
    seed = scenario.seed if seed is None else seed
    gc.freeze()  # long-lived catalog/config objects need no cyclic GC passes
    clock = SimClock()
    store = Store(clock.now, epoch, seed=seed)
    rngs = Streams(seed)
    cluster = scenario.cluster
    try:
        catalog = load_catalog(cluster.region, list(cluster.zones) or None, seed=seed,
                               settings=_capacity_settings(scenario.objects))
        catalog = overrides.apply(catalog, scenario.cloud.catalog)
    except EkstwinError as e:
        raise InvalidScenario(str(e), file=scenario.file, obj="Scenario") from None
    driver = driver_factory(store, clock)
    recorder = Recorder(store, clock.now)
    deps = Deps(store=store, recorder=recorder, rngs=rngs, catalog=catalog,
                table=TypeTable.from_catalog(catalog),
                ec2=EC2(catalog, rngs.stream("ec2"), CloudSettings()),
                settings=ControllerSettings(batch_idle_s=cluster.batch_idle_s, batch_max_s=cluster.batch_max_s,
                                            feature_gates=dict(cluster.feature_gates), cluster_name=cluster.name,
                                            karpenter_version=cluster.karpenter_version),
                enqueue=driver.enqueue)
    deps.ec2.set_spot_interruptions(cluster.spot_interruptions, seed)
    manager.register_all(driver, deps, karpenter=cluster.autoscaler == "karpenter")
    world = World(scenario, clock, store, driver, deps, catalog)
    initial = list(scenario.objects)
    if cluster.daemonsets == "eks-default":
        initial = addons.eks_default() + initial
    apply_objects(world, initial, f"{scenario.file}: spec.manifests")
    if cluster.autoscaler == "karpenter":  # after the scenario's objects, so theirs keep the same uids
        controller = addons.karpenter_controller(seed, cluster.karpenter_version, store.format_time())
        apply_objects(world, controller, "karpenter controller")
    return world


def apply_objects(world: World, objects: list[dict[str, Any]], where: str) -> None:
    """Create or update objects the way ``kubectl apply`` would (dependencies first)."""
    ordered = sorted(objects, key=lambda o: _ORDER.index(o["kind"]) if o["kind"] in _ORDER else len(_ORDER))
    for obj in ordered:
        apply_object(world, obj, where)
    if any(o["kind"] in ("Node", "NodeClaim") for o in ordered):
        adopt.adopt(world, ordered, where)


def apply_object(world: World, obj: dict[str, Any], where: str) -> None:
    """Create ``obj`` (with API defaults) or replace the spec of the existing one."""
    store = world.store
    if obj["kind"] == "Namespace" and store.try_get("Namespace", obj["metadata"]["name"]):
        return
    priorities = dict(BUILTIN_PRIORITY)
    priorities.update({p["metadata"]["name"]: int(p.get("value", 0)) for p in store.list("PriorityClass")})
    world.deps.state["priority_classes"] = priorities
    try:
        obj = defaults.apply_defaults(obj, priority_classes=priorities)
    except EkstwinError as e:
        raise InvalidScenario(str(e), file=where) from None
    meta = obj["metadata"]
    ns = meta.get("namespace") if store.registry.by_kind(obj["kind"]).namespaced else None
    if ns and store.try_get("Namespace", ns) is None:
        store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    existing = store.try_get(obj["kind"], meta["name"], ns)
    if existing is None:
        created = store.create(obj)
    else:
        created = store.update({**existing, **{k: v for k, v in obj.items() if k not in ("metadata", "status")},
                                "metadata": {**existing["metadata"], "labels": meta.get("labels", {}),
                                             "annotations": meta.get("annotations", {})}})
    if created["kind"] == "EC2NodeClass":
        _nodeclass_ready(world, created)
    elif created["kind"] == "NodePool":
        _nodepool_ready(world, created)


def _nodeclass_ready(world: World, nc: dict[str, Any]) -> None:
    """Resolve subnets (one per configured zone) and selected capacity reservations; mark the node class Ready."""
    cat = world.catalog
    subnets = [{"id": f"subnet-{i:017x}", "zone": z, "zoneID": cat.zone_id(z)} for i, z in enumerate(cat.zones, 1)]
    ts = world.store.format_time()
    status: dict[str, Any] = {
        "subnets": subnets, "amis": [{"id": "ami-0ekstwin000000000", "name": "ekstwin-node-image"}],
        "conditions": [{"type": "Ready", "status": "True", "reason": "Ready", "lastTransitionTime": ts,
                        "message": ""}]}
    reservations = capacity_reservations.selected(world.deps, nc)
    if reservations:
        status["capacityReservations"] = capacity_reservations.status_entries(reservations)
    world.store.update_status({**nc, "status": status})


def _nodepool_ready(world: World, np_obj: dict[str, Any]) -> None:
    ts = world.store.format_time()
    status = {"conditions": [{"type": "Ready", "status": "True", "reason": "Ready", "lastTransitionTime": ts,
                              "message": ""}], "resources": {}}
    world.store.update_status({**np_obj, "status": status})
