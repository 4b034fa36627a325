"""``ekstwin bench api`` on a small store: every phase runs over real HTTP and the watch fan-out is exact."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from ekstwin.api import create_app
from ekstwin.bench import api
from ekstwin.cli import app


def test_the_store_holds_pods_spread_over_nodes_and_namespaces() -> None:
    store = api.fill_store(nodes=10, pods=400)
    pods = store.list("Pod")
    assert store.count("Node") == 10 and len(pods) == 400
    assert {p["metadata"]["namespace"] for p in pods} == set(api.NAMESPACES)
    assert len({p["spec"]["nodeName"] for p in pods}) == 10
    assert len(store.list("Pod", "team-a", lambda labels: labels.get("app") == "app-1")) == 2


def test_every_phase_reports_a_rate_and_every_watcher_gets_every_event_once_in_order() -> None:
    metrics = api.run(create_app, nodes=10, pods=400, watchers=3, seconds=0.3, clients=2, patches=40)
    for phase in api.PHASES:
        assert metrics[f"{phase}_per_second"] > 0
    assert metrics["list_label_items"] == 2 and metrics["list_node_items"] == 40
    assert metrics["watch_events_delivered"] == 3 * 40
    assert metrics["watch_lost"] == metrics["watch_duplicated"] == metrics["watch_out_of_order"] == 0
    assert 0 <= metrics["watch_latency_p50_ms"] <= metrics["watch_latency_p99_ms"]
    assert metrics["server_peak_rss_mib"] > 0


def test_the_command_prints_the_metrics_as_json() -> None:
    result = CliRunner().invoke(app, ["bench", "api", "--nodes", "5", "--pods", "50", "--watchers", "2",
                                      "--seconds", "0.2", "--clients", "1", "--patches", "10", "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)
    assert metrics["pods"] == 50 and metrics["watch_events_delivered"] == 20
