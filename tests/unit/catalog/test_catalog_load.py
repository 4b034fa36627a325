"""Building a region's catalog: zones, eligibility, offerings and look-up errors."""

from __future__ import annotations

from importlib import resources

import pytest

from ekstwin.catalog import SPOT, load_catalog
from ekstwin.catalog._tables import type_rows
from ekstwin.errors import InvalidInput


def test_eu_west_1_has_three_zones() -> None:
    assert load_catalog("eu-west-1").zones == ("eu-west-1a", "eu-west-1b", "eu-west-1c")


def test_zone_ids_line_up_with_zones() -> None:
    catalog = load_catalog("eu-west-1")
    assert len(catalog.zone_ids) == 3 and all(z.startswith("euw1-az") for z in catalog.zone_ids)
    assert catalog.zone_id("eu-west-1b") == catalog.zone_ids[1]


def test_an_unknown_region_names_the_field_and_the_choices() -> None:
    with pytest.raises(InvalidInput, match=r"spec\.cluster\.region.*mars-1.*eu-west-1") as err:
        load_catalog("mars-1")
    assert err.value.field == "spec.cluster.region"


def test_an_unknown_zone_names_the_field_and_the_choices() -> None:
    with pytest.raises(InvalidInput, match=r"spec\.cluster\.zones.*eu-west-1z.*eu-west-1a"):
        load_catalog("eu-west-1", ["eu-west-1a", "eu-west-1z"])


def test_an_empty_zone_list_is_rejected() -> None:
    with pytest.raises(InvalidInput, match=r"spec\.cluster\.zones"):
        load_catalog("eu-west-1", [])


def test_types_are_sorted_by_name() -> None:
    names = [t.name for t in load_catalog("eu-west-1").types]
    assert names == sorted(names)


def test_only_karpenter_eligible_types_are_listed() -> None:
    catalog = load_catalog("us-east-1")
    assert all(type_rows()[t.name].karpenter_eligible for t in catalog.types)
    assert "mac1.metal" not in catalog


def test_offerings_cover_each_chosen_zone_and_capacity_type() -> None:
    t = load_catalog("eu-west-1", ["eu-west-1a", "eu-west-1c"]).get("m5.large")
    assert sorted((o.zone, o.capacity_type) for o in t.offerings) == [
        ("eu-west-1a", "on-demand"), ("eu-west-1a", "spot"),
        ("eu-west-1c", "on-demand"), ("eu-west-1c", "spot"),
    ]


def test_offerings_carry_the_zone_id() -> None:
    catalog = load_catalog("eu-west-1")
    for o in catalog.get("m5.large").offerings:
        assert o.zone_id == catalog.zone_id(o.zone)


def test_cheapest_offering_prefers_spot_when_it_is_cheaper() -> None:
    best = load_catalog("eu-west-1").get("m5.large").cheapest_offering()
    assert best is not None and best.capacity_type == SPOT


def test_an_unknown_type_suggests_close_names() -> None:
    with pytest.raises(InvalidInput, match=r"did you mean.*'m5\.large'"):
        load_catalog("eu-west-1").get("m5.lage")


def test_a_type_outside_the_chosen_zones_says_so() -> None:
    catalog = load_catalog("us-east-1")
    name = next(t.name for t in catalog.types if len({o.zone for o in t.offerings}) < len(catalog.zones))
    zones_without = [z for z in catalog.zones if z not in {o.zone for o in catalog.get(name).offerings}]
    with pytest.raises(InvalidInput, match="not offered in zones"):
        load_catalog("us-east-1", zones_without).get(name)


def test_the_data_ships_inside_the_package() -> None:
    data = resources.files("ekstwin.catalog").joinpath("data")
    assert {p.name for p in data.iterdir()} >= {
        "instance-types.csv.gz", "on-demand-prices.csv.gz", "az-offerings.csv.gz", "spot-advisor.csv.gz",
        "README.md"}
