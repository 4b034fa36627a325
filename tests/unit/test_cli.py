"""The ``ekstwin`` command line, driven through typer's CliRunner with stand-ins for the simulator."""

from __future__ import annotations

import json
import sys
import types
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ekstwin.cli import app, parse_requirement
from ekstwin.errors import InvalidInput, InvalidScenario
from ekstwin.scenario.result import RunResult

runner = CliRunner()


def _result() -> RunResult:
    node = {"metadata": {"name": "ip-10-0-0-1", "creationTimestamp": "2024-01-01T00:01:00Z",
                         "labels": {"karpenter.sh/nodepool": "default"}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    return RunResult(name="demo", time_s=240.0, epoch=datetime(2024, 1, 1, tzinfo=UTC),
                     objects={"nodes": [node]}, events=[], logs=[{"level": "INFO", "message": "hello"}],
                     decisions=[], summary={"price_per_hour": 0.1})


def _fake_module(monkeypatch: pytest.MonkeyPatch, name: str, **attrs: Any) -> None:
    module = types.ModuleType(name)
    for key, value in attrs.items():
        setattr(module, key, value)
    monkeypatch.setitem(sys.modules, name, module)


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    path = tmp_path / "demo.yaml"
    path.write_text("apiVersion: ekstwin.dev/v1\nkind: Scenario\nmetadata:\n  name: demo\n")
    return path


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []

    def run_scenario(path: str, **kwargs: Any) -> RunResult:
        seen.append({"path": path, **kwargs})
        return _result()
    _fake_module(monkeypatch, "ekstwin.scenario.run", run_scenario=run_scenario)
    return seen


def test_run_prints_the_text_report(scenario: Path, calls: list[dict[str, Any]]) -> None:
    out = runner.invoke(app, ["run", str(scenario)])
    assert out.exit_code == 0, out.output
    assert "Scenario demo · simulated 4m" in out.stdout
    assert "ip-10-0-0-1   Ready    <none>   3m" in out.stdout
    assert '{"level":"INFO","message":"hello"}' in out.stdout
    assert calls == [{"path": str(scenario), "until": None, "seed": None, "progress": None, "feature_gates": {}}]


def test_run_passes_feature_gate_overrides(scenario: Path, calls: list[dict[str, Any]]) -> None:
    out = runner.invoke(app, ["run", str(scenario), "--feature-gate", "SpotToSpotConsolidation=false"])
    assert out.exit_code == 0, out.output
    assert calls[0]["feature_gates"] == {"SpotToSpotConsolidation": False}


def test_run_rejects_a_malformed_feature_gate(scenario: Path, calls: list[dict[str, Any]]) -> None:
    out = runner.invoke(app, ["run", str(scenario), "--feature-gate", "SpotToSpotConsolidation"])
    assert out.exit_code == 2 and "Name=true or Name=false" in out.stderr


def test_run_json_prints_parseable_json_and_passes_until_and_seed(scenario: Path,
                                                                  calls: list[dict[str, Any]]) -> None:
    out = runner.invoke(app, ["run", str(scenario), "--json", "--until", "1h30m", "--seed", "7"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["time"] == "4m" and data["objects"]["nodes"][0]["metadata"]["name"] == "ip-10-0-0-1"
    assert (calls[0]["until"], calls[0]["seed"]) == (5400.0, 7)


def test_run_quiet_prints_only_the_summary(scenario: Path, calls: list[dict[str, Any]]) -> None:
    out = runner.invoke(app, ["run", str(scenario), "--quiet"])
    assert out.exit_code == 0 and len(out.stdout.splitlines()) == 2


def test_a_bad_until_is_a_one_line_error(scenario: Path, calls: list[dict[str, Any]]) -> None:
    out = runner.invoke(app, ["run", str(scenario), "--until", "soon"])
    assert out.exit_code == 2
    assert out.stderr.strip() == "error: invalid duration 'soon' (expected e.g. 90s, 4m, 1h30m, 1.5h, 500ms)"
    assert calls == []


def test_a_missing_scenario_file_is_reported_by_path(tmp_path: Path, calls: list[dict[str, Any]]) -> None:
    missing = tmp_path / "nope.yaml"
    out = runner.invoke(app, ["run", str(missing)])
    assert (out.exit_code, out.stderr) == (2, f"error: {missing}: no such file\n")


def test_an_invalid_scenario_during_run_exits_2_without_traceback(scenario: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    def run_scenario(path: str, **_: Any) -> RunResult:
        raise InvalidScenario("unknown field", file=path, field="spec.bogus")
    _fake_module(monkeypatch, "ekstwin.scenario.run", run_scenario=run_scenario)
    out = runner.invoke(app, ["run", str(scenario)])
    assert out.exit_code == 2
    assert out.stderr == f"error: {scenario}: spec.bogus: unknown field\n"
    assert "Traceback" not in out.output


def test_validate_reports_an_invalid_scenario_from_the_loader_with_exit_2(
        scenario: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def load_scenario(path: str) -> None:
        raise InvalidScenario("must be a positive duration", field="spec.until")
    _fake_module(monkeypatch, "ekstwin.scenario.loader", load_scenario=load_scenario)
    out = runner.invoke(app, ["validate", str(scenario)])
    assert out.exit_code == 2
    assert out.stderr == f"error: {scenario}: spec.until: must be a positive duration\n"
    assert "Traceback" not in out.output


def test_validate_reports_manifest_errors_and_unknown_fields_with_file_line_object_and_path(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: team-a}\n")
    bad.write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicass: 3\n"
                   "  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec:\n"
                   "      containers: [{name: c, image: i, resources: {requests: {cpu: 1x}}}]\n")
    out = runner.invoke(app, ["validate", str(tmp_path)])
    assert out.exit_code == 2
    assert (f"error: {bad}:10: Deployment/default/web: spec.template.spec.containers[0].resources.requests.cpu: "
            "quantity '1x' has unknown suffix 'x'") in out.stderr
    assert f"warning: {bad}:5: Deployment/default/web: spec.replicass: unknown field" in out.stderr
    assert f"{good}: OK (1 document(s))" in out.stdout


def test_catalog_json_for_one_type_includes_kubernetes_allocatable() -> None:
    out = runner.invoke(app, ["catalog", "--name", "m5.large", "--json"])
    assert out.exit_code == 0, out.output
    [row] = json.loads(out.stdout)
    assert row["allocatable"]["cpu"] == "1930m"
    assert row["allocatable"]["pods"] == "29"
    assert {o["zone"] for o in row["offerings"]} == {"eu-west-1a", "eu-west-1b", "eu-west-1c"}


def test_catalog_requirements_filter_types_and_offerings() -> None:
    out = runner.invoke(app, ["catalog", "--json", "--limit", "0", "-r", "karpenter.k8s.aws/instance-family In m5",
                              "-r", "topology.kubernetes.io/zone In eu-west-1b", "--capacity-type", "spot"])
    assert out.exit_code == 0, out.output
    rows = json.loads(out.stdout)
    assert rows and all(r["name"].startswith("m5.") for r in rows)
    assert {(o["zone"], o["capacity_type"]) for r in rows for o in r["offerings"]} == {("eu-west-1b", "spot")}
    assert all(r["on_demand_price"] is None for r in rows)


def test_catalog_table_lists_cheapest_first_within_the_limit() -> None:
    out = runner.invoke(app, ["catalog", "--limit", "3", "-r", "kubernetes.io/arch In arm64"])
    assert out.exit_code == 0, out.output
    lines = out.stdout.splitlines()
    assert lines[0].split()[:3] == ["NAME", "ARCH", "VCPU"] and len(lines) == 6
    assert lines[-1].startswith("3 of ")


def test_catalog_with_one_name_shows_offerings_per_zone() -> None:
    out = runner.invoke(app, ["catalog", "--name", "m5.large"])
    assert out.exit_code == 0, out.output
    assert "ZONE         ZONE-ID    CAPACITY-TYPE   PRICE" in out.stdout
    assert "allocatable          1930m" in out.stdout


@pytest.mark.parametrize("text", ["nonsense", "karpenter.sh/capacity-type Maybe spot",
                                  "kubernetes.io/arch In", "karpenter.k8s.aws/instance-cpu Gt two"])
def test_a_bad_requirement_exits_2_with_a_one_line_error(text: str) -> None:
    out = runner.invoke(app, ["catalog", "--requirement", text])
    assert out.exit_code == 2
    assert out.stderr.startswith(f"error: --requirement {text!r}: ") and out.stderr.count("\n") == 1
    assert "Traceback" not in out.output


def test_requirements_parse_with_or_without_brackets() -> None:
    assert parse_requirement("kubernetes.io/arch In [amd64, arm64]").values == frozenset({"amd64", "arm64"})
    assert parse_requirement("karpenter.k8s.aws/instance-cpu gt 4").gt == 4
    with pytest.raises(InvalidInput):
        parse_requirement("kubernetes.io/arch Exists amd64")


def test_bench_prints_the_metrics_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    from ekstwin.bench import karpenter_scheduling
    monkeypatch.setattr(karpenter_scheduling, "run",
                        lambda n, seed=42, shapes=(), max_vcpu=None: {"pods": n, "seed": seed, "reasons": []})
    out = runner.invoke(app, ["bench", "karpenter-scheduling", "--pods", "10", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout) == {"pods": 10, "seed": 42, "reasons": []}
    table = runner.invoke(app, ["bench", "karpenter-scheduling", "--pods", "10", "--seed", "1"])
    assert "seed      1" in table.stdout and "reasons   <none>" in table.stdout


def test_bench_rejects_an_unknown_workload() -> None:
    out = runner.invoke(app, ["bench", "karpenter-scheduling", "--pods", "10", "--workload", "odd"])
    assert out.exit_code == 2 and "diverse or generic" in out.output
