"""Fixtures for the EC2 emulator: a real eu-west-1 catalog, catalogs with hand-set offerings, fixed timings."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Sequence

import pytest

from ekstwin.catalog import DEFAULT_SETTINGS, Catalog, Offering, load_catalog
from ekstwin.cloud import EC2, CloudSettings, Fixed

# (instance type, zone, capacity type, price, interruption bucket)
Offer = tuple[str, str, str, float, int | None]
CatalogFactory = Callable[[Sequence[Offer]], Catalog]

ZONES = ("eu-west-1a", "eu-west-1b", "eu-west-1c")

# Every phase pinned, so tests can assert exact times: Ready = launch + 2 + 8 + 20 + 10 = 40 s.
FIXED = CloudSettings(create_fleet=Fixed(2.0), pending_to_running=Fixed(8.0),
                      running_to_registered=Fixed(20.0), registered_to_ready=Fixed(10.0),
                      shutting_down_to_terminated=Fixed(30.0), spot_depth_sigma=0.0)


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog("eu-west-1", ZONES, seed=1)


@pytest.fixture(scope="session")
def catalog_with(catalog: Catalog) -> CatalogFactory:
    """Build a catalog whose only offerings are the given ones (types keep their real resources)."""

    def build(offers: Sequence[Offer]) -> Catalog:
        by_type: dict[str, list[Offering]] = {}
        for name, zone, capacity_type, price, bucket in offers:
            by_type.setdefault(name, []).append(Offering(
                zone=zone, zone_id=catalog.zone_id(zone), capacity_type=capacity_type, price=price,
                available=True, interruption_bucket=bucket))
        types = [dataclasses.replace(catalog.get(n), offerings=tuple(o)) for n, o in by_type.items()]
        return Catalog(catalog.region, catalog.zones, catalog.zone_ids, seed=1, settings=DEFAULT_SETTINGS,
                       types=types, region_types=frozenset(by_type))

    return build


@pytest.fixture
def fixed() -> CloudSettings:
    """Settings with every latency pinned (see ``FIXED``)."""
    return FIXED


@pytest.fixture
def ec2(catalog: Catalog) -> EC2:
    """An emulator over real eu-west-1 offerings with pinned latencies."""
    return EC2(catalog, random.Random(7), FIXED)
