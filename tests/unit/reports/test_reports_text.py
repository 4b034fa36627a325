"""The terminal report: kubectl-shaped tables, NodeClaim requirements, events and Karpenter logs."""

from __future__ import annotations

import io
import json
from typing import Any

from rich.console import Console

from ekstwin.reports.text import kubectl_table, pod_status, render, sections
from ekstwin.scenario.result import RunResult

NODE = "ip-10-0-1-23.eu-west-1.compute.internal"


def _render(result: RunResult, **kwargs: Any) -> str:
    out = io.StringIO()
    render(result, Console(file=out, width=60, color_system=None, force_terminal=False), **kwargs)
    return out.getvalue()


def _table_after(text: str, title: str) -> list[list[str]]:
    """The rows under a section title, split on runs of 2+ spaces (cells never contain those)."""
    lines = text.split(title, 1)[1].splitlines()[1:]
    rows = []
    for line in lines:
        if not line.strip():
            break
        rows.append([c for c in line.split("   ") if c])
    return [[c.strip() for c in row] for row in rows]


def test_the_nodes_table_has_kubectls_columns_and_the_four_label_columns(result: RunResult) -> None:
    header, row = _table_after(_render(result), "-L karpenter.sh/capacity-type")
    assert header == ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "NODEPOOL", "INSTANCE-TYPE", "ZONE",
                      "CAPACITY-TYPE"]
    assert row == [NODE, "Ready,SchedulingDisabled", "<none>", "3m", "v1.30.2-eks-1552ad0", "default", "m5.large",
                   "eu-west-1a", "spot"]


def test_the_nodeclaims_table_shows_type_capacity_zone_node_ready_and_age(result: RunResult) -> None:
    header, row = _table_after(_render(result), "$ kubectl get nodeclaims")[:2]
    assert header == ["NAME", "TYPE", "CAPACITY", "ZONE", "NODE", "READY", "AGE"]
    assert row == ["default-abcde", "m5.large", "spot", "eu-west-1a", NODE, "True", "3m30s"]


def test_nodeclaim_requirements_yaml_lists_every_instance_type(result: RunResult) -> None:
    text = _render(result)
    yaml_part = text.split("nodeclaim/default-abcde spec.requirements:", 1)[1]
    listed = [line.strip()[2:] for line in yaml_part.splitlines() if line.strip().startswith("- type")]
    assert listed == [f"type{i:02d}.large" for i in range(60)]


def test_pods_are_listed_wide_across_namespaces_in_name_order(result: RunResult) -> None:
    rows = _table_after(_render(result), "$ kubectl get pods -A -o wide")
    assert rows[0] == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE",
                       "READINESS GATES"]
    assert rows[1] == ["default", "inflate-1", "1/1", "Running", "0", "4m", "10.0.1.50", NODE, "<none>", "<none>"]
    assert rows[2] == ["default", "inflate-2", "0/1", "Pending", "0", "4m", "<none>", "<none>", "<none>", "<none>"]


def test_events_print_oldest_first_with_lowercase_kind_and_last_seen_age(result: RunResult) -> None:
    rows = _table_after(_render(result), "$ kubectl get events -A")
    assert rows[0] == ["NAMESPACE", "LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert [r[3] for r in rows[1:]] == ["Nominated", "Launched"]
    assert rows[1][1:5] == ["3m55s", "Normal", "Nominated", "pod/inflate-1"]
    assert rows[2][4] == "nodeclaim/default-abcde"


def test_log_lines_print_as_compact_json_filtered_by_component(result: RunResult) -> None:
    result.report = {"logs": "karpenter"}
    lines = [line for line in _render(result).splitlines() if line.startswith("{")]
    assert lines == ['{"level":"INFO","time":"2024-01-01T00:00:05.000Z","logger":"controller",'
                     '"message":"found provisionable pod(s)","controller":"provisioner"}']
    assert json.loads(lines[0])["controller"] == "provisioner"


def test_long_lines_are_not_wrapped_on_a_narrow_console(result: RunResult) -> None:
    text = _render(result)
    assert any(len(line) > 60 and line.startswith(NODE) for line in text.splitlines())


def test_the_header_names_the_scenario_time_and_money(result: RunResult) -> None:
    first, second = _render(result, quiet=True).splitlines()
    assert first.startswith("Scenario basic · simulated 4m (2024-01-01T00:00:00Z → 2024-01-01T00:04:00Z)")
    assert second == "nodes 1 · pods 1 running, 1 pending · $0.0472/hour · cost so far $0.0031"


def test_report_settings_choose_the_sections(result: RunResult) -> None:
    result.report = {"tables": ["nodes"], "events": False, "logs": False}
    text = _render(result)
    assert "$ kubectl get nodes" in text
    assert "kubectl get pods" not in text and "kubectl get events" not in text and "{" not in text
    assert sections({}) == ["nodes", "nodeclaims", "pods", "events", "logs"]
    assert sections({"decisions": True})[-1] == "decisions"


def test_decisions_show_when_asked_with_their_simulated_timestamp(result: RunResult) -> None:
    result.report = {"decisions": True}
    assert "2024-01-01T00:00:05Z  provision  1 nodeclaim for 2 pods" in _render(result)


def test_an_empty_cluster_says_no_resources_found(result: RunResult) -> None:
    result.objects, result.events = {}, []
    text = _render(result)
    assert text.count("No resources found") == 3 and "No events found" in text


def test_columns_are_padded_like_kubectls_tabwriter() -> None:
    lines = [t.plain for t in kubectl_table(["A", "LONGER"], [["x", "1"], ["yyyyyyy", ""]])]
    assert lines == ["A         LONGER", "x         1", "yyyyyyy"]


def test_pod_status_prefers_container_waiting_reasons_and_deletion() -> None:
    crashing = {"status": {"phase": "Running", "containerStatuses": [
        {"ready": False, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}}
    assert pod_status(crashing) == "CrashLoopBackOff"
    assert pod_status({"metadata": {"deletionTimestamp": "2024-01-01T00:00:00Z"}, "status": {"phase": "Running"}}) \
        == "Terminating"
    gated = {"status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "reason": "SchedulingGated"}]}}
    assert pod_status(gated) == "SchedulingGated"
    assert pod_status({"status": {"phase": "Failed", "reason": "Evicted"}}) == "Evicted"
