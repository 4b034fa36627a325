"""``ekstwin import`` round-trips a cluster the twin generated; ``ekstwin whatif`` compares two NodePools."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests import harness
from typer.testing import CliRunner

from ekstwin.cli import app
from ekstwin.errors import InvalidInput
from ekstwin.reports import json_report
from ekstwin.scenario import importer
from ekstwin.scenario.result import RunResult
from ekstwin.scenario.run import run_scenario

runner = CliRunner()
TYPE, ZONE = "node.kubernetes.io/instance-type", "topology.kubernetes.io/zone"


def pool(family: str) -> dict[str, Any]:
    return harness.nodepool(requirements=[
        {"key": "karpenter.k8s.aws/instance-family", "operator": "In", "values": [family]},
        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]},
        {"key": "karpenter.k8s.aws/instance-size", "operator": "In", "values": ["2xlarge"]}])


def write_scenario(path: Path, family: str = "m5") -> Path:
    apps = [harness.deployment(f"app{i}", 40, cpu="350m", memory="512Mi") for i in range(10)]
    doc = {"apiVersion": "ekstwin.dev/v1alpha1", "kind": "Scenario", "metadata": {"name": "generated"},
           "spec": {"seed": 3, "cluster": {"region": "us-east-1", "zones": ["us-east-1a", "us-east-1b"]},
                    "manifests": [harness.nodeclass(), pool(family), *apps]}}
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RunResult]:
    d = tmp_path_factory.mktemp("gen")
    result = run_scenario(str(write_scenario(d / "gen.yaml")), until=300)
    assert result.summary["pods_pending"] == 0 and result.summary["nodes"] >= 10
    snap = d / "snapshot.json"
    snap.write_text(json_report.dumps(result))
    return snap, result


def nodes(result: RunResult) -> list[tuple[str, str, str]]:
    return sorted((n["metadata"]["name"], n["metadata"]["labels"][TYPE], n["metadata"]["labels"][ZONE])
                  for n in result.objects["nodes"])


def placements(result: RunResult) -> list[tuple[str, str, str]]:
    """Workload pods (not DaemonSet pods, which the DaemonSets re-create) and their nodes."""
    return sorted((p["metadata"]["namespace"], p["metadata"]["name"], p["spec"].get("nodeName", ""))
                  for p in result.objects["pods"]
                  if not any(o.get("kind") == "DaemonSet" for o in p["metadata"].get("ownerReferences") or ()))


def per_node(result: RunResult) -> list[tuple[str, str, int]]:
    """(instance type, zone, workload pods on it) of every node: placements, whatever the names."""
    count: dict[str, int] = {}
    for _, _, node in placements(result):
        count[node] = count.get(node, 0) + 1
    return sorted((t, z, count.get(n, 0)) for n, t, z in nodes(result))


def test_an_imported_snapshot_round_trips_nodes_placements_and_price(
        generated: tuple[Path, RunResult], tmp_path: Path) -> None:
    snap, before = generated
    out = runner.invoke(app, ["import", str(snap), "-o", str(tmp_path / "cluster.yaml")])
    assert out.exit_code == 0, out.output
    # the scenario keeps only what a what-if edits inline; the bulk is a JSON List beside it
    scenario = yaml.safe_load((tmp_path / "cluster.yaml").read_text())
    inline = [m for m in scenario["spec"]["manifests"] if isinstance(m, dict)]
    assert {m["kind"] for m in inline} <= {"NodePool", "EC2NodeClass"} and inline
    assert "cluster.objects.json" in scenario["spec"]["manifests"]
    bulk = json.loads((tmp_path / "cluster.objects.json").read_text())
    assert bulk["kind"] == "List" and {"Node", "NodeClaim", "Pod"} <= {o["kind"] for o in bulk["items"]}
    after = run_scenario(str(tmp_path / "cluster.yaml"), until=120)
    assert nodes(after) == nodes(before)
    assert placements(after) == placements(before)
    assert after.summary["price_per_hour"] == pytest.approx(before.summary["price_per_hour"])
    assert after.summary["pods_running"] == before.summary["pods_running"]  # DaemonSet pods re-created too


def test_anonymize_keeps_placements_and_renames_consistently(
        generated: tuple[Path, RunResult], tmp_path: Path) -> None:
    snap, before = generated
    out = runner.invoke(app, ["import", str(snap), "-o", str(tmp_path / "anon.yaml"), "--anonymize"])
    assert out.exit_code == 0, out.output
    text = (tmp_path / "anon.yaml").read_text() + (tmp_path / "anon.objects.json").read_text()
    for n in before.objects["nodes"]:
        assert n["metadata"]["name"] not in text
    assert "app3" not in text
    after = run_scenario(str(tmp_path / "anon.yaml"), until=60)
    assert all(n.startswith("node-") for n, _, _ in nodes(after))
    assert per_node(after) == per_node(before)
    assert after.summary["price_per_hour"] == pytest.approx(before.summary["price_per_hour"])


def test_anonymizer_maps_every_reference_to_the_same_name() -> None:
    objs = [{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "ip-1", "labels": {
                "kubernetes.io/hostname": "ip-1", ZONE: "us-east-1a"}}},
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1", "namespace": "shop", "labels": {
                "app": "web"}, "ownerReferences": [{"kind": "ReplicaSet", "name": "web-abc", "controller": True}]},
             "spec": {"nodeName": "ip-1", "affinity": {"podAntiAffinity": {
                 "requiredDuringSchedulingIgnoredDuringExecution": [{"labelSelector": {"matchExpressions": [
                     {"key": "app", "operator": "In", "values": ["web"]}]}}]}}}},
            {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
             "metadata": {"name": "web", "namespace": "shop"},
             "spec": {"selector": {"matchLabels": {"app": "web"}}, "maxUnavailable": 1}}]
    doc = importer.import_snapshot(objs, anonymize=True).scenario
    by_kind = {o["kind"]: o for o in doc["spec"]["manifests"]}
    node, pdb, pod = by_kind["Node"], by_kind["PodDisruptionBudget"], by_kind["Pod"]
    assert node["metadata"]["name"] == node["metadata"]["labels"]["kubernetes.io/hostname"] == "node-1"
    assert pod["spec"]["nodeName"] == "node-1" and pod["metadata"]["namespace"] == "namespace-1"
    app_name = pod["metadata"]["labels"]["app"]
    assert app_name.startswith("workload-")
    assert pdb["spec"]["selector"]["matchLabels"]["app"] == app_name
    expr = pod["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert expr["labelSelector"]["matchExpressions"][0]["values"] == [app_name]
    assert "ownerReferences" not in pod["metadata"]
    assert "shop" not in json.dumps(doc) and "web" not in json.dumps(doc)


def test_daemonset_pods_are_dropped_mirror_pods_kept_and_unknown_types_reported() -> None:
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "labels": {
        ZONE: "us-east-1a", TYPE: "zz9.mega"}}}
    ds_pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "agent-x", "namespace": "kube-system",
              "ownerReferences": [{"kind": "DaemonSet", "name": "agent", "controller": True}]},
              "spec": {"nodeName": "n1", "containers": []}}
    mirror = {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "etcd-n1", "namespace": "kube-system", "uid": "u1", "resourceVersion": "9",
        "annotations": {"kubernetes.io/config.mirror": "abc"},
        "ownerReferences": [{"kind": "Node", "name": "n1", "controller": True}]},
        "spec": {"nodeName": "n1", "containers": []}}
    imported = importer.import_snapshot([node, ds_pod, mirror],
                                        known_types=frozenset({"m5.large"}))
    pods = [o for o in imported.scenario["spec"]["manifests"] if o["kind"] == "Pod"]
    assert [p["metadata"]["name"] for p in pods] == ["etcd-n1"]
    assert pods[0]["spec"]["nodeName"] == "n1" and "uid" not in pods[0]["metadata"]
    assert imported.unknown_instance_types == ["zz9.mega"]
    assert any("zz9.mega" in w for w in imported.warnings)
    assert imported.scenario["spec"]["cluster"]["region"] == "us-east-1"


def test_a_node_without_a_zone_label_is_an_error_naming_it(tmp_path: Path) -> None:
    snap = tmp_path / "cluster.json"
    snap.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "lonely-node", "labels": {}}}]}))
    with pytest.raises(InvalidInput, match="lonely-node"):
        importer.import_snapshot(importer.read_snapshot(str(snap)))
    out = runner.invoke(app, ["import", str(snap), "-o", str(tmp_path / "x.yaml")])
    assert out.exit_code == 2 and "lonely-node" in out.output


def test_whatif_with_a_cheaper_family_makes_the_second_column_cheaper(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path / "base.yaml")
    (tmp_path / "candidate.yaml").write_text(yaml.safe_dump(pool("m5a")))
    out = runner.invoke(app, ["whatif", str(scenario), "--nodepool", str(tmp_path / "candidate.yaml"),
                              "--for", "30m", "--json"])
    assert out.exit_code == 0, out.output
    runs = json.loads(out.output)["runs"]
    assert runs[0]["label"] == "as is" and "candidate.yaml" in runs[1]["label"]
    assert runs[1]["price_per_hour"] < runs[0]["price_per_hour"]
    assert runs[1]["cost_usd"] < runs[0]["cost_usd"]
    assert set(runs[1]["by_instance_type"]) == {"m5a.2xlarge"}
    text = runner.invoke(app, ["whatif", str(scenario), "--nodepool", str(tmp_path / "candidate.yaml"),
                               "--for", "10m"])
    assert text.exit_code == 0, text.output
    assert "A: as is" in text.output and "B: with NodePools/EC2NodeClasses of" in text.output
    assert "m5.2xlarge" in text.output and "m5a.2xlarge" in text.output


def test_whatif_needs_something_to_change(tmp_path: Path) -> None:
    out = runner.invoke(app, ["whatif", str(write_scenario(tmp_path / "base.yaml")), "--for", "1m"])
    assert out.exit_code == 2 and "nothing to compare" in out.output


def test_imported_deployments_adopt_their_pods_so_a_scale_up_adds_only_the_difference(
        generated: tuple[Path, RunResult], tmp_path: Path) -> None:
    from ekstwin.scenario import loader
    from ekstwin.scenario.world import build

    snap, _ = generated
    out = runner.invoke(app, ["import", str(snap), "-o", str(tmp_path / "cluster.yaml")])
    assert out.exit_code == 0, out.output
    w = build(loader.load_scenario(str(tmp_path / "cluster.yaml")))
    w.driver.run_until(30)
    app_pods = [p for p in w.store.list("Pod", "default") if p["metadata"]["name"].startswith("app0-")]
    assert len(app_pods) == 40  # adopted, not doubled
    assert all(any(r.get("kind") == "ReplicaSet" for r in p["metadata"].get("ownerReferences") or ())
               for p in app_pods)
    w.store.patch("Deployment", "app0", "default", {"spec": {"replicas": 42}})
    w.driver.run_until(300)
    assert len([p for p in w.store.list("Pod", "default") if p["metadata"]["name"].startswith("app0-")]) == 42


def test_the_import_whatif_benchmark_round_trip_holds_at_small_scale() -> None:
    from ekstwin.bench import import_whatif

    m = import_whatif.run(apps=3, replicas=40)
    assert m["pods"] == 120 and m["nodes"] >= 5
    assert m["same_nodes"] and m["same_placements"]
    assert m["price_per_hour_after_import"] == m["price_per_hour_before"] == m["as_is_price_per_hour"]
    assert m["as_is_pods_disrupted"] == 0  # nothing changes, nothing moves
    assert m["candidate_m5a_price_per_hour"] < m["as_is_price_per_hour"]  # m5a lists below m5


def test_whatif_runs_both_sides_in_parallel_with_the_same_outcomes_as_one_after_the_other(tmp_path: Path) -> None:
    from ekstwin.scenario import whatif

    scenario = write_scenario(tmp_path / "base.yaml")
    (tmp_path / "candidate.yaml").write_text(yaml.safe_dump(pool("m5a")))
    kwargs = {"candidate": str(tmp_path / "candidate.yaml")}
    parallel = whatif.whatif(str(scenario), 1200.0, jobs=2, **kwargs)
    serial = whatif.whatif(str(scenario), 1200.0, jobs=1, **kwargs)
    assert [vars(o) for o in parallel] == [vars(o) for o in serial]
    assert parallel[1].by_instance_type == {"m5a.2xlarge": parallel[1].nodes}


def test_an_error_inside_a_worker_process_surfaces_as_the_same_error(tmp_path: Path) -> None:
    from ekstwin.errors import InvalidScenario
    from ekstwin.scenario import whatif

    scenario = write_scenario(tmp_path / "base.yaml")
    doc = yaml.safe_load(scenario.read_text())
    doc["spec"]["timeline"] = [{"at": "1m", "scale": {"kind": "Deployment", "name": "nope", "replicas": 1}}]
    scenario.write_text(yaml.safe_dump(doc))
    (tmp_path / "candidate.yaml").write_text(yaml.safe_dump(pool("m5a")))
    errors = []
    for jobs in (1, 2):
        with pytest.raises(InvalidScenario) as caught:
            whatif.whatif(str(scenario), 600.0, jobs=jobs, candidate=str(tmp_path / "candidate.yaml"))
        errors.append((caught.value.file, caught.value.reason))
    assert errors[0] == errors[1] and "does not exist at 60s" in errors[0][1]
