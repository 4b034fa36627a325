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


# -- the cursor: steps without `at`, `advance`, forced passes ------------------------------------------

def test_steps_without_at_happen_at_a_cursor_that_advance_moves_and_an_explicit_at_sets(tmp_path: Path) -> None:
    s = load_scenario(write(tmp_path, "    - provision: true\n"
                                      "    - advance: 30s\n"
                                      "    - disrupt: true\n"
                                      "    - {at: 2m, scale: {kind: Deployment, name: web, replicas: 2}}\n"
                                      "    - disrupt: true\n"
                                      "    - advance: 1m30s\n"))
    assert [(st.at_s, st.action) for st in s.timeline] == [
        (0.0, "provision"), (30.0, "disrupt"), (120.0, "scale"), (120.0, "disrupt")]
    assert s.stop_s == 210.0  # no stop: the run's horizon is the final cursor


def test_a_provision_step_may_wait_with_a_timeout_and_wait_false_is_plain_provision_true(tmp_path: Path) -> None:
    s = load_scenario(write(tmp_path, "    - provision: {wait: true}\n    - provision: {wait: true, timeout: 2m}\n"
                                      "    - provision: {wait: false}\n    - provision: true\n"))
    assert [st.args for st in s.timeline] == [{"timeout": 900.0}, {"timeout": 120.0}, None, None]


def test_a_timeline_without_advance_keeps_the_default_horizon_and_may_list_times_in_any_order(
        tmp_path: Path) -> None:
    s = load_scenario(write(tmp_path, "    - {at: 5m, disrupt: true}\n    - {at: 1m, provision: true}\n"))
    assert [(st.at_s, st.action) for st in s.timeline] == [(60.0, "provision"), (300.0, "disrupt")]
    assert s.stop_s is None


@pytest.mark.parametrize(("steps", "expected"), [
    ("    - provision: true\n    - advance: 1m\n    - stop: true\n    - advance: 10m\n", 60.0),
    ("    - provision: true\n    - advance: 10m\n  stopAt: 2m\n", 120.0),
])
def test_a_stop_step_or_stop_at_wins_over_the_final_cursor(tmp_path: Path, steps: str, expected: float) -> None:
    assert load_scenario(write(tmp_path, steps)).stop_s == expected


@pytest.mark.parametrize(("steps", "field", "message"), [
    ("    - provision: 3\n", "spec.timeline[0].provision", "expected true or {wait: true}, got 3"),
    ("    - disrupt: false\n", "spec.timeline[0].disrupt", "expected true, got False"),
    ("    - provision: {wait: 3}\n", "spec.timeline[0].provision.wait", "expected true or false, got 3"),
    ("    - provision: {wait: true, timeout: -5s}\n", "spec.timeline[0].provision.timeout", "must not be negative"),
    ("    - provision: {timeout: 5s}\n", "spec.timeline[0].provision.timeout", "only a pass that waits"),
    ("    - provision: {wait: true, soon: 1}\n", "spec.timeline[0].provision.soon", "unknown"),
    ("    - provision: true\n    - advance: 1m\n    - advance: -5s\n", "spec.timeline[2].advance",
     "must not be negative"),
    ("    - advance: banana\n", "spec.timeline[0].advance", "invalid duration 'banana'"),
    ("    - {at: 1m, advance: 1m}\n", "spec.timeline[0].at", "takes no at"),
    ("    - advance: 2m\n    - {at: 1m, provision: true}\n", "spec.timeline[1].at",
     "1m is before the cursor (2m): a timeline that uses advance must stay in time order"),
    ("    - {at: -1m, provision: true}\n", "spec.timeline[0].at", "must not be negative"),
    ("    - {provision: true, advance: 1m}\n", "spec.timeline[0]",
     "exactly one of apply, scale, delete, interrupt, diurnal, provision, disrupt, advance, stop"),
])
def test_a_wrong_forced_pass_or_advance_names_the_file_and_the_field(tmp_path: Path, steps: str, field: str,
                                                                      message: str) -> None:
    path = write(tmp_path, steps)
    with pytest.raises(InvalidScenario) as err:
        load_scenario(path)
    assert (err.value.file, err.value.field) == (path, field)
    assert message in err.value.reason
