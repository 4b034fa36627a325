"""``catalog.overrides``: discounts, exact prices and custom types applied to a bundled catalog."""

from __future__ import annotations

import pytest

from ekstwin.catalog import overrides as ov
from ekstwin.catalog.catalog import Catalog, load_catalog
from ekstwin.errors import InvalidInput
from ekstwin.units.resources import Resources

ZONES = ["us-east-1a", "us-east-1b"]


def _price(cat: Catalog, name: str, zone: str, ct: str) -> float:
    return next(o.price for o in cat.get(name).offerings if o.zone == zone and o.capacity_type == ct)


def test_the_most_specific_exact_price_wins_and_ignores_discounts() -> None:
    base = load_catalog("us-east-1", ZONES)
    spec = ov.CloudCatalog(discounts=ov.Discounts(on_demand=0.5), prices=(
        ov.PriceOverride("m5.large", 0.2),
        ov.PriceOverride("m5.large", 0.01, zone="us-east-1a", capacity_type="on-demand"),
        ov.PriceOverride("m5.large", 0.1, capacity_type="on-demand")))
    cat = ov.apply(base, spec)
    assert _price(cat, "m5.large", "us-east-1a", "on-demand") == 0.01
    assert _price(cat, "m5.large", "us-east-1b", "on-demand") == 0.1
    assert _price(cat, "m5.large", "us-east-1b", "spot") == 0.2
    assert _price(cat, "c5.large", "us-east-1a", "on-demand") == pytest.approx(
        _price(base, "c5.large", "us-east-1a", "on-demand") * 0.5)


def test_a_family_discount_replaces_the_capacity_type_discount() -> None:
    base = load_catalog("us-east-1", ZONES)
    cat = ov.apply(base, ov.CloudCatalog(discounts=ov.Discounts(on_demand=0.1, families={"m5": 0.2})))
    assert _price(cat, "m5.large", "us-east-1a", "on-demand") == pytest.approx(
        _price(base, "m5.large", "us-east-1a", "on-demand") * 0.8)


def test_applying_keeps_the_input_catalog_and_rebuilds_the_index() -> None:
    base = load_catalog("us-east-1", ZONES)
    before = base.index.price.copy()
    custom = ov.CustomType("x1.large", Resources.parse({"cpu": "2", "memory": "4Gi"}),
                           (ov.CustomOffering("us-east-1b", "spot", 0.01),))
    cat = ov.apply(base, ov.CloudCatalog(catalog="custom", instance_types=(custom,)))
    assert (base.index.price == before).all() and "x1.large" not in base
    assert cat.index.names == ("x1.large",)
    assert cat.index.cheapest_price()[0] == 0.01
    assert cat.get("x1.large").allocatable["pods"] == 110


def test_the_default_spec_changes_nothing() -> None:
    base = load_catalog("us-east-1", ZONES)
    assert ov.apply(base, ov.CloudCatalog()) is base


def test_given_allocatable_wins_over_capacity_minus_overheads() -> None:
    base = load_catalog("us-east-1", ZONES)
    alloc = Resources.parse({"cpu": "1", "memory": "1Gi", "pods": "10"})
    custom = ov.CustomType("weird", Resources.parse({"cpu": "2", "memory": "4Gi"}),
                           (ov.CustomOffering("us-east-1a", "on-demand", 1.0),), allocatable=alloc)
    t = ov.apply(base, ov.CloudCatalog(instance_types=(custom,))).get("weird")
    assert t.allocatable == alloc
    assert "karpenter.k8s.aws/instance-family" not in t.labels  # no "<family>.<size>" to parse


def test_a_percentage_outside_0_to_100_names_its_field() -> None:
    with pytest.raises(InvalidInput, match=r"spec\.cloud\.discounts\.spot"):
        ov.percent("101%", "spec.cloud.discounts.spot")
    assert ov.percent(25, "x") == 0.25
