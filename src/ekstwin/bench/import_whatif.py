"""Import round trip and what-if at the issue's scale: a 200-node, 4,000-pod cluster.

The twin builds the cluster itself (20 Deployments × 200 pods of 350m / 512Mi on m5.2xlarge on-demand nodes,
two zones), exports it in the ``ekstwin run --json`` shape, imports it, and runs the imported scenario:
the nodes (names, types, zones), pod placements and price per hour must match. Then a 24-hour what-if with
a candidate NodePool of m5a.2xlarge is timed.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from ekstwin.bench import objects
from ekstwin.reports import json_report
from ekstwin.scenario import importer, whatif
from ekstwin.scenario.run import run_scenario

APPS, REPLICAS = 20, 200


def _pool(family: str) -> dict[str, Any]:
    return objects.nodepool([
        {"key": "karpenter.k8s.aws/instance-family", "operator": "In", "values": [family]},
        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]},
        {"key": "karpenter.k8s.aws/instance-size", "operator": "In", "values": ["2xlarge"]}],
        {"consolidateAfter": "1h"})


def _scenario(apps: int, replicas: int) -> dict[str, Any]:
    manifests = [objects.nodeclass(), _pool("m5"),
                 *(objects.deployment(f"app{i}", replicas, "350m", "512Mi") for i in range(apps))]
    return {"apiVersion": "ekstwin.dev/v1alpha1", "kind": "Scenario", "metadata": {"name": "generated"},
            "spec": {"seed": 3, "cluster": {"region": "us-east-1", "zones": ["us-east-1a", "us-east-1b"]},
                     "manifests": manifests}}


def _nodes(objects: dict[str, list[dict[str, Any]]]) -> list[tuple[str, str, str]]:
    return sorted((n["metadata"]["name"], n["metadata"]["labels"]["node.kubernetes.io/instance-type"],
                   n["metadata"]["labels"]["topology.kubernetes.io/zone"]) for n in objects["nodes"])


def _placements(objects: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    per_node: dict[str, int] = {}
    for p in objects["pods"]:
        node = (p.get("spec") or {}).get("nodeName")
        if node and p["metadata"].get("namespace") == "default":
            per_node[node] = per_node.get(node, 0) + 1
    return per_node


def run(apps: int = APPS, replicas: int = REPLICAS) -> dict[str, Any]:
    """Build, export, import, compare; then time a 24 h what-if. Returns the metrics."""
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        (work / "gen.yaml").write_text(yaml.safe_dump(_scenario(apps, replicas)))
        start = time.perf_counter()
        before = run_scenario(str(work / "gen.yaml"), until=600)
        build_s = time.perf_counter() - start
        (work / "snap.json").write_text(json_report.dumps(before))
        imported = importer.import_snapshot(importer.read_snapshot(str(work / "snap.json")), name="imported")
        importer.write(imported, str(work / "imported.yaml"))
        after = run_scenario(str(work / "imported.yaml"), until=60)
        (work / "candidate.yaml").write_text(yaml.safe_dump(_pool("m5a")))
        start = time.perf_counter()
        runs = whatif.whatif(str(work / "imported.yaml"), 24 * 3600.0, candidate=str(work / "candidate.yaml"))
        whatif_s = time.perf_counter() - start
    return {"nodes": len(before.objects["nodes"]),
            "pods": sum(1 for p in before.objects["pods"] if p["metadata"].get("namespace") == "default"),
            "same_nodes": _nodes(before.objects) == _nodes(after.objects),
            "same_placements": _placements(before.objects) == _placements(after.objects),
            "price_per_hour_before": before.summary["price_per_hour"],
            "price_per_hour_after_import": after.summary["price_per_hour"],
            "build_wall_s": round(build_s, 2), "whatif_24h_wall_s": round(whatif_s, 2),
            **{f"{side}_{key}": value for side, r in zip(("as_is", "candidate_m5a"), runs, strict=True)
               for key, value in (("nodes", r.nodes), ("price_per_hour", round(r.price_per_hour, 4)),
                                  ("cost_usd_24h", round(r.cost_usd, 2)), ("pods_disrupted", r.pods_disrupted))}}
