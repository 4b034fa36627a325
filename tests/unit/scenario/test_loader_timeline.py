"""Scenario timeline actions and command-line overrides."""

from pathlib import Path

import pytest

from ekstwin.errors import InvalidScenario
from ekstwin.scenario.loader import load_scenario, with_feature_gates

HEAD = """apiVersion: ekstwin.dev/v1alpha1
kind: Scenario
metadata: {name: t}
spec:
  cluster: {region: eu-west-1}
  timeline:
"""


def write(tmp_path: Path, steps: str) -> str:
    p = tmp_path / "s.yaml"
    p.write_text(HEAD + steps)
    return str(p)


def test_diurnal_expands_to_scale_steps_from_trough_to_peak_and_back(tmp_path: Path) -> None:
    s = load_scenario(write(tmp_path, "    - {at: 1h, diurnal: {kind: Deployment, name: web, min: 1, max: 50, "
                                      "period: 24h, step: 30m}}\n"))
    replicas = [(st.at_s, st.args["replicas"]) for st in s.timeline]
    assert len(replicas) == 49
    assert replicas[0] == (3600.0, 1) and replicas[24] == (3600.0 + 12 * 3600, 50) and replicas[-1][1] == 1
    assert all(st.action == "scale" for st in s.timeline)


def test_diurnal_with_min_above_max_names_the_field(tmp_path: Path) -> None:
    with pytest.raises(InvalidScenario, match=r"spec\.timeline\[0\]\.diurnal\.min"):
        load_scenario(write(tmp_path, "    - {at: 0s, diurnal: {kind: Deployment, name: web, min: 5, max: 1}}\n"))


def test_a_step_with_two_actions_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(InvalidScenario, match="exactly one of"):
        load_scenario(write(tmp_path, "    - {at: 0s, stop: true, delete: {kind: Deployment, name: web}}\n"))


def test_feature_gate_overrides_replace_the_scenarios_value(tmp_path: Path) -> None:
    s = load_scenario(write(tmp_path, "    - {at: 1m, stop: true}\n"))
    assert with_feature_gates(s, {"SpotToSpotConsolidation": True}).cluster.feature_gates == {
        "SpotToSpotConsolidation": True}


def test_an_unknown_feature_gate_is_rejected(tmp_path: Path) -> None:
    s = load_scenario(write(tmp_path, "    - {at: 1m, stop: true}\n"))
    with pytest.raises(InvalidScenario, match="unknown feature gate 'Nope'"):
        with_feature_gates(s, {"Nope": True})


def test_a_karpenter_version_that_is_not_a_version_names_the_field(tmp_path: Path) -> None:
    p = tmp_path / "v.yaml"
    cluster = "cluster: {region: eu-west-1, karpenter: {version: latest}}"
    p.write_text(HEAD.replace("cluster: {region: eu-west-1}", cluster) + "    - {at: 1m, stop: true}\n")
    with pytest.raises(InvalidScenario, match=r"spec\.cluster\.karpenter\.version"):
        load_scenario(str(p))
