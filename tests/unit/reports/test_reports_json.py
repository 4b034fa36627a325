"""The machine-readable report of ``ekstwin run --json``."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from ekstwin.reports.json_report import CONTRACT_KEYS, dumps, jsonable, to_json
from ekstwin.scenario.result import RunResult


def test_the_json_report_has_the_contract_keys_and_time_as_a_duration(result: RunResult) -> None:
    data = to_json(result)
    assert tuple(data) == CONTRACT_KEYS == ("time", "objects", "events", "logs", "decisions", "summary")
    assert data["time"] == "4m"
    assert data["summary"] == {"cost_usd": 0.0031, "price_per_hour": 0.0472}


def test_dumps_is_parseable_with_sorted_keys_and_objects_in_name_order(result: RunResult) -> None:
    text = dumps(result)
    data = json.loads(text)
    assert list(data) == sorted(data)
    assert [p["metadata"]["name"] for p in data["objects"]["pods"]] == ["inflate-1", "inflate-2"]
    assert text == dumps(result)


def test_values_json_cannot_hold_become_strict_json() -> None:
    value = {"price": float("inf"), "at": datetime(2024, 1, 1, 0, 4, tzinfo=UTC), "zones": {"b", "a"},
             "pair": (1, 2)}
    assert jsonable(value) == {"price": None, "at": "2024-01-01T00:04:00Z", "zones": ["a", "b"], "pair": [1, 2]}
