"""``ekstwin whatif``: run a scenario as is and with changed NodePools/EC2NodeClasses and feature gates.

The candidate file's NodePools and EC2NodeClasses replace the scenario's objects of the same kind and name
(new names are added; the others stay, so adopted NodeClaims keep their NodePool). Both runs use the same
seed and horizon; ``compare`` condenses each into the numbers the side-by-side shows.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import multiprocessing.context
import os
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from ekstwin.errors import InvalidInput, InvalidScenario
from ekstwin.model import manifests
from ekstwin.model import requirements as rq
from ekstwin.scenario import billing, loader
from ekstwin.scenario.config import Scenario
from ekstwin.scenario.importer import OWNER_ANNOTATION
from ekstwin.scenario.result import RunResult
from ekstwin.scenario.run import collect, schedule_timeline
from ekstwin.scenario.world import build

REPLACEABLE = ("NodePool", "EC2NodeClass")
STEP_S = 300.0


@dataclass
class Outcome:
    """One run condensed for the side-by-side."""

    label: str
    price_per_hour_start: float
    price_per_hour: float
    cost_usd: float
    nodes: int
    by_instance_type: dict[str, int]
    by_capacity_type: dict[str, int]
    by_zone: dict[str, int]
    pods_disrupted: int
    pods_pending: int
    decisions: dict[str, int]
    verdicts: dict[str, str]
    """Node → the last disruption verdict about it, for nodes still there at the end."""
    summary: dict[str, Any]
    notes: list[str] = dataclasses.field(default_factory=list)


def with_candidate(scenario: Scenario, candidate_path: str) -> Scenario:
    """``scenario`` with the NodePools and EC2NodeClasses of ``candidate_path`` in place of its own.

    Raises:
        InvalidScenario: the candidate file is invalid or holds no NodePool or EC2NodeClass.
    """
    objs, _ = manifests.load_documents(manifests.load_file(candidate_path))
    new = [o for o in objs if o["kind"] in REPLACEABLE]
    if not new:
        raise InvalidScenario("holds no NodePool or EC2NodeClass", file=candidate_path)
    names = {(o["kind"], o["metadata"]["name"]) for o in new}
    kept = [o for o in scenario.objects if (o["kind"], o["metadata"]["name"]) not in names]
    return dataclasses.replace(scenario, objects=(*new, *kept))


def run_loaded(scenario: Scenario, horizon: float, seed: int | None = None) -> RunResult:
    """Simulate an already loaded scenario for ``horizon`` seconds (as ``run_scenario`` does)."""
    world = build(scenario, seed)
    schedule_timeline(world, horizon)
    price_start = billing.hourly_rate(world.deps.ec2, scenario.cloud.savings_plans)
    t = 0.0
    while t < horizon:
        t = min(horizon, t + STEP_S)
        world.driver.run_until(t)
    result = collect(world, horizon)
    result.summary["price_per_hour_start"] = round(price_start, 6)
    return result


def whatif(path: str, horizon: float, *, candidate: str | None = None,
           feature_gates: Mapping[str, bool] | None = None, seed: int | None = None,
           jobs: int | None = None) -> tuple[Outcome, Outcome]:
    """Run ``path`` as is and changed; return (baseline, candidate) outcomes.

    ``jobs`` 2 runs both in parallel processes, 1 one after the other; None: 2 when the machine has two
    cores or more. Both give the same outcomes (each run is seeded and shares nothing with the other).

    Raises:
        InvalidScenario: an invalid scenario or candidate file, an unknown feature gate, or nothing to change.
    """
    if candidate is None and not feature_gates:
        raise InvalidScenario("nothing to compare: give --nodepool and/or --feature-gate", file=path)
    base = loader.load_scenario(path)
    changed = with_candidate(base, candidate) if candidate else base
    if feature_gates:
        changed = loader.with_feature_gates(changed, feature_gates)
    what = [f"NodePools/EC2NodeClasses of {candidate}"] if candidate else []
    what += [f"{g}={str(v).lower()}" for g, v in sorted((feature_gates or {}).items())]
    sides = (("as is", base), ("with " + ", ".join(what), changed))
    if _jobs(jobs) > 1:
        # the two runs share nothing: on a machine with two cores they take the time of the slower one
        with ProcessPoolExecutor(max_workers=2, mp_context=_context()) as pool:
            futures = [pool.submit(run_side, label, sc, horizon, seed) for label, sc in sides]
            first, second = (f.result() for f in futures)
    else:
        first, second = (run_side(label, sc, horizon, seed) for label, sc in sides)
    runs = (first, second)
    bare = sum(1 for o in base.objects if o["kind"] == "Pod" and (o["metadata"].get("annotations") or {}).get(
        OWNER_ANNOTATION, "").split("/")[0] in ("StatefulSet", "Job"))
    if bare:
        for run in runs:
            run.notes.append(f"{bare} imported pod(s) have no controller in the scenario: an evicted one is not "
                             "re-created, so a run that disrupts them loses their load (see pods disrupted)")
    return runs


def run_side(label: str, scenario: Scenario, horizon: float, seed: int | None) -> Outcome:
    """One side of the comparison, condensed (what a worker process sends back: small, picklable)."""
    return outcome(label, run_loaded(scenario, horizon, seed))


def _jobs(jobs: int | None) -> int:
    if jobs is None:
        return 2 if (os.cpu_count() or 1) >= 2 else 1
    if jobs < 1:
        raise InvalidInput(f"must be at least 1, got {jobs}", field="jobs")
    return min(jobs, 2)


def _context() -> multiprocessing.context.BaseContext:
    # fork starts a worker in milliseconds with everything imported; where it is unavailable, spawn
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def outcome(label: str, result: RunResult) -> Outcome:
    """Condense ``result`` into an ``Outcome``."""
    nodes = result.objects["nodes"]

    def count(label_key: str) -> dict[str, int]:
        c = Counter(str((n["metadata"].get("labels") or {}).get(label_key, "?")) for n in nodes)
        return dict(sorted(c.items()))
    disrupted = sum(int(d.get("evicted", 0)) + int(d.get("deleted", 0))
                    for d in result.decisions if d["kind"] == "termination")
    verdicts: dict[str, str] = {}
    for d in result.decisions:
        if d["kind"] == "disruption" and "command_id" not in d and d.get("node"):
            verdicts[str(d["node"])] = str(d["message"])
    present = {n["metadata"]["name"] for n in nodes}
    s = result.summary
    return Outcome(label=label, price_per_hour_start=float(s.get("price_per_hour_start", s["price_per_hour"])),
                   price_per_hour=float(s["price_per_hour"]), cost_usd=float(s["cost_usd"]), nodes=len(nodes),
                   by_instance_type=count(rq.INSTANCE_TYPE), by_capacity_type=count(rq.CAPACITY_TYPE),
                   by_zone=count(rq.ZONE), pods_disrupted=disrupted, pods_pending=int(s["pods_pending"]),
                   decisions=dict(sorted(Counter(str(d["kind"]) for d in result.decisions).items())),
                   verdicts={n: v for n, v in sorted(verdicts.items()) if n in present},
                   summary={k: v for k, v in s.items() if k not in ("metrics", "metric_series")})
