"""Report rows for the ``ekstwin catalog`` command."""

from __future__ import annotations

import json

import pytest

from ekstwin.catalog import load_catalog
from ekstwin.catalog.query import rows
from ekstwin.errors import InvalidInput


def test_a_row_reports_resources_and_cheapest_prices() -> None:
    [row] = rows(load_catalog("us-east-1"), ["m5.large"])
    assert (row["arch"], row["vcpu"], row["memory_mib"]) == ("amd64", 2, 8192)
    assert row["allocatable"] == {"cpu_m": 1930, "memory_mib": 6903, "pods": 29}
    assert row["on_demand_price"] == 0.096
    assert row["spot_price"] < row["on_demand_price"]
    # m5.large is offered in 5 of us-east-1's 6 zones, each as spot and on-demand.
    assert len(row["offerings"]) == 10
    assert {o["capacity_type"] for o in row["offerings"]} == {"spot", "on-demand"}


def test_a_predicate_selects_types_in_name_order() -> None:
    picked = [r["name"] for r in rows(load_catalog("eu-west-1"), lambda t: t.name.startswith("m5."))]
    assert "m5.large" in picked and picked == sorted(picked)


def test_rows_are_json_serialisable() -> None:
    assert json.loads(json.dumps(rows(load_catalog("eu-west-1"), ["c7g.xlarge"])))


def test_an_unknown_name_is_an_input_error() -> None:
    with pytest.raises(InvalidInput):
        rows(load_catalog("eu-west-1"), ["m5.huge"])
