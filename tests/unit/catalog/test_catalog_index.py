"""The numpy index agrees with the catalog objects it was built from."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from ekstwin.catalog import ON_DEMAND, SPOT, Catalog, load_catalog
from ekstwin.catalog.capacity import NVIDIA_GPU
from ekstwin.catalog.instance_types import GPU_NAME, INSTANCE_TYPE
from ekstwin.units.resources import Resources


@functools.cache
def catalog() -> Catalog:
    return load_catalog("eu-west-1", seed=4)


def test_allocatable_rows_match_the_types() -> None:
    index = catalog().index
    for i, t in enumerate(catalog().types):
        for j, resource in enumerate(index.resources):
            assert index.allocatable[i, j] == t.allocatable[resource]


def test_extended_resources_get_columns() -> None:
    assert catalog().index.column(NVIDIA_GPU) is not None


def test_fits_matches_the_per_type_check() -> None:
    requests = Resources.parse({"cpu": "3", "memory": "12Gi", "pods": "1"})
    expected = np.array([requests.fits(t.allocatable) for t in catalog().types])
    assert np.array_equal(catalog().index.fits(requests), expected)


def test_a_resource_no_type_has_fits_nowhere() -> None:
    assert not catalog().index.fits(Resources({"example.com/widget": 1})).any()


def test_label_column_is_none_where_the_label_is_absent() -> None:
    index = catalog().index
    column = index.label_column(GPU_NAME)
    assert column[index.position("m5.large")] is None
    assert column[index.position("p4d.24xlarge")] == "a100"
    assert index.label_column(INSTANCE_TYPE).tolist() == list(index.names)


def test_label_columns_are_cached() -> None:
    index = catalog().index
    assert index.label_column(GPU_NAME) is index.label_column(GPU_NAME)


def test_cheapest_price_matches_the_cheapest_offering() -> None:
    index = catalog().index
    prices = index.cheapest_price(None, [ON_DEMAND], ["eu-west-1b"])
    for i, t in enumerate(catalog().types):
        best = t.cheapest_offering([ON_DEMAND], ["eu-west-1b"])
        assert prices[i] == (best.price if best else np.inf)


def test_cheapest_price_is_infinite_outside_the_type_mask() -> None:
    index = catalog().index
    mask = np.zeros(len(index), dtype=bool)
    mask[index.position("m5.large")] = True
    prices = index.cheapest_price(mask, [SPOT], None)
    assert np.isfinite(prices).sum() == 1


def test_index_arrays_are_read_only() -> None:
    with pytest.raises(ValueError, match="read-only"):
        catalog().index.price[0, 0] = 0.0
