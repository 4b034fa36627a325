"""Composition root: binds ``Deps`` into every controller and registers them with a driver."""

from __future__ import annotations

from functools import partial

from ekstwin.controllers import (
    disruption,
    interruption,
    kube_scheduler,
    kubelet,
    metrics,
    nodeclaim,
    nodeclaim_disruption,
    pdb,
    provisioner,
    termination,
    workloads,
)
from ekstwin.controllers.base import Deps
from ekstwin.sim import driver


def register_all(d: driver.Driver, deps: Deps, *, karpenter: bool = True) -> list[str]:
    """Register the control plane (and Karpenter when asked); returns the controller names."""
    controllers = [
        ("deployment", workloads.reconcile_deployment, workloads.deployment_watches()),
        ("replicaset", workloads.reconcile_replicaset, workloads.replicaset_watches()),
        ("daemonset", workloads.reconcile_daemonset, workloads.daemonset_watches()),
        (kube_scheduler.NAME, kube_scheduler.reconcile, kube_scheduler.WATCHES),
        (kubelet.NAME, kubelet.reconcile, kubelet.WATCHES),
        (pdb.NAME, pdb.reconcile, pdb.watches(deps)),
        (metrics.NAME, metrics.reconcile, metrics.watches(deps)),
    ]
    if karpenter:
        controllers += [
            (provisioner.NAME, provisioner.reconcile, provisioner.WATCHES),
            (nodeclaim.NAME, nodeclaim.reconcile, nodeclaim.WATCHES),
            (interruption.NAME, interruption.reconcile, interruption.WATCHES),
            (termination.NAME, termination.reconcile, termination.watches(deps)),
            (nodeclaim_disruption.NAME, nodeclaim_disruption.reconcile, nodeclaim_disruption.WATCHES),
            (disruption.NAME, disruption.reconcile, disruption.WATCHES),
        ]
    for name, fn, watches in controllers:
        d.register(name, partial(fn, deps), watches)
    d.enqueue(metrics.NAME, metrics.KEY)  # sampling starts at t=0
    if karpenter:
        d.enqueue(disruption.NAME, disruption.LOOP)  # the disruption loop polls from t=0
    return [c[0] for c in controllers]
