"""The example scenarios load, and the step-by-step script tells the story its comments tell."""

from __future__ import annotations

from pathlib import Path

import pytest

from ekstwin.scenario.loader import load_scenario
from ekstwin.scenario.run import run_scenario

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "scenarios"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_scenario_loads_with_its_manifests(path: Path) -> None:
    assert load_scenario(str(path)).objects


def test_the_step_by_step_example_replaces_the_node_its_forced_disruption_pass_chose() -> None:
    result = run_scenario(str(EXAMPLES / "step-by-step.yaml"))
    assert result.time_s == 395.0  # 95 s + 5 m: the final cursor
    forced = {d["kind"]: d for d in result.decisions if d["kind"].startswith("forced-")}
    assert forced["forced-provisioning"]["t"] == 0.0 and len(forced["forced-provisioning"]["nodeclaims"]) == 1
    chosen = forced["forced-disruption"]
    assert (chosen["t"], chosen["status"], chosen["decision"]) == (95.0, "validating", "replace")
    [executed] = [d for d in result.decisions if d["kind"] == "disruption" and d.get("command_id")]
    assert executed["t"] == 110.0 and executed["nodes"] == chosen["nodes"]
    [node] = result.objects["nodes"]
    assert node["metadata"]["name"] not in chosen["nodes"]
    assert node["metadata"]["labels"]["karpenter.sh/capacity-type"] == "spot"
    inflate = [p for p in result.objects["pods"] if p["metadata"]["name"].startswith("inflate-")]
    assert [p["status"]["phase"] for p in inflate] == ["Running"]
