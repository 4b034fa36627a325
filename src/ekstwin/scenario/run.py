"""Run a scenario to its horizon on the simulation driver and collect a ``RunResult``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from ekstwin.controllers import interruption
from ekstwin.errors import CloudError, InvalidInput, InvalidScenario, NotFound
from ekstwin.model.pod import is_control_plane
from ekstwin.scenario import billing, loader, steps
from ekstwin.scenario.config import TimelineStep
from ekstwin.scenario.result import KINDS, RunResult
from ekstwin.scenario.world import World, apply_objects, build
from ekstwin.store.store import DEFAULT_EPOCH

DEFAULT_HORIZON_S = 600.0
PROGRESS_STEP_S = 60.0
_PLURAL_KIND = {"nodes": "Node", "nodeclaims": "NodeClaim", "pods": "Pod", "nodepools": "NodePool",
                "ec2nodeclasses": "EC2NodeClass", "deployments": "Deployment", "replicasets": "ReplicaSet",
                "daemonsets": "DaemonSet", "poddisruptionbudgets": "PodDisruptionBudget", "namespaces": "Namespace"}


def run_scenario(path: str, *, until: float | None = None, seed: int | None = None,
                 progress: Callable[[float, float], None] | None = None,
                 feature_gates: Mapping[str, bool] | None = None) -> RunResult:
    """Load ``path``, simulate until ``until`` (or the scenario's stop, or 10 minutes), return the result.

    ``feature_gates`` override the scenario's ``spec.cluster.featureGates`` (unknown gates are an error).
    """
    scenario = loader.load_scenario(path)
    if feature_gates:
        scenario = loader.with_feature_gates(scenario, feature_gates)
    world = build(scenario, seed)
    horizon = until if until is not None else (scenario.stop_s if scenario.stop_s is not None else DEFAULT_HORIZON_S)
    schedule_timeline(world, horizon)
    t = 0.0
    while t < horizon:
        t = min(horizon, t + PROGRESS_STEP_S)
        world.driver.run_until(t)
        if progress is not None:
            progress(t, horizon)
    return collect(world, horizon)


def schedule_timeline(world: World, horizon: float | None = None) -> None:
    """Schedule the scenario's timeline steps (up to ``horizon``) on the world's driver.

    Steps at the same time run in timeline order. A forced pass (``provision``, ``disrupt``) settles its
    instant first, which would also run the steps listed after it at that instant; so those are scheduled
    by the pass itself once it is done.
    """
    _schedule(world, [s for s in world.scenario.timeline if horizon is None or s.at_s <= horizon])


def _schedule(world: World, todo: list[TimelineStep]) -> None:
    i = 0
    while i < len(todo):
        step, j = todo[i], i + 1
        if step.action in steps.PASSES:
            while j < len(todo) and todo[j].at_s == step.at_s:
                j += 1
        world.driver.schedule_callback(step.at_s, _action(world, step, todo[i + 1:j]))
        i = j


def _action(world: World, step: TimelineStep, then: list[TimelineStep]) -> Callable[[], None]:
    """The step's callback; ``then`` (steps held back behind a forced pass) is scheduled once it is done.

    A provisioning pass that waits is done when its wait completes, later in simulated time: the steps held
    back behind it then run at that instant (steps with later times of their own run at those times, even
    while it waits)."""
    def act() -> None:
        if step.action == "provision" and step.args is not None:
            steps.provision_waiting(world, step.where, step.args["timeout"], lambda _: _resume(world, then))
            return
        _perform(world, step)
        if then:
            _schedule(world, then)
    return act


def _resume(world: World, held: list[TimelineStep]) -> None:
    now = world.driver.now()
    _schedule(world, [dataclasses.replace(s, at_s=now) for s in held])


def _perform(world: World, step: TimelineStep) -> None:
    if step.action == "apply":
        apply_objects(world, list(step.args), step.where)
    elif step.action == "interrupt":
        _interrupt(world, step)
    elif step.action == "provision":
        steps.provision(world, by=step.where)
    elif step.action == "disrupt":
        steps.disrupt(world, by=step.where)
    else:
        kind, name = step.args["kind"], step.args["name"]
        ns = step.args.get("namespace", "default")
        try:
            if step.action == "scale":
                world.store.patch(kind, name, ns, {"spec": {"replicas": int(step.args["replicas"])}})
            elif step.action == "delete":
                world.store.delete(kind, name, ns)
        except NotFound:
            raise InvalidScenario(f"{kind} {ns}/{name} does not exist at {step.at_s:g}s", file=step.where) from None


def _interrupt(world: World, step: TimelineStep) -> None:
    """Force a spot interruption of the step's Node (by name, or the first by name matching the selector)."""
    now = world.driver.now()
    node = _target_node(world, step)
    provider_id = (node.get("spec") or {}).get("providerID", "")
    try:
        interruption.interrupt(world.deps, now, provider_id.rsplit("/", 1)[-1])
    except (CloudError, InvalidInput) as e:
        reason = e.reason if isinstance(e, InvalidInput) else str(e)
        raise InvalidScenario(f"cannot interrupt Node {node['metadata']['name']} at {now:g}s: {reason}",
                              file=step.where, field="interrupt") from None


def _target_node(world: World, step: TimelineStep) -> dict[str, Any]:
    nodes = sorted(world.store.list("Node"), key=lambda n: n["metadata"]["name"])
    if "node" in step.args:
        found = [n for n in nodes if n["metadata"]["name"] == step.args["node"]]
        what = f"Node {step.args['node']}"
    else:
        selector = step.args["nodeSelector"]
        found = [n for n in nodes if _has_labels(n, selector)]
        what = f"Node matching nodeSelector {selector}"
    if not found:
        raise InvalidScenario(f"no {what} exists at {world.driver.now():g}s", file=step.where, field="interrupt")
    return found[0]


def _has_labels(node: dict[str, Any], selector: dict[str, str]) -> bool:
    labels = node["metadata"].get("labels") or {}
    return all(labels.get(k) == v for k, v in selector.items())


def collect(world: World, horizon: float) -> RunResult:
    """Turn the world's final state and records into a ``RunResult``."""
    store = world.store
    objects: dict[str, list[dict[str, Any]]] = {k: store.list(_PLURAL_KIND[k]) for k in KINDS}
    # the report is about the simulated data plane: leave out the Karpenter controller's own pod
    objects["pods"] = [p for p in objects["pods"] if not is_control_plane(p)]
    events = sorted(store.list("Event"), key=lambda e: (e.get("firstTimestamp", ""), e["metadata"]["name"]))
    pods = objects["pods"]
    summary = {
        "nodes": len(objects["nodes"]), "nodeclaims": len(objects["nodeclaims"]),
        "pods_running": sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Running"),
        "pods_pending": sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Pending"),
        **billing.summary(world.deps.ec2, world.scenario.cloud.savings_plans, horizon),
        "metrics": world.deps.recorder.metric_samples(),
        "metric_series": list(world.deps.recorder.series),
    }
    return RunResult(name=world.scenario.name, time_s=horizon, epoch=DEFAULT_EPOCH, objects=objects, events=events,
                     logs=list(world.deps.recorder.logs), decisions=list(world.deps.recorder.decisions),
                     report=dict(world.scenario.report), summary=summary)
