"""Karpenter's reserved offerings: selection terms, the ReservedCapacity gate, prices, and the ledger."""

from __future__ import annotations

import numpy as np
import pytest

from ekstwin.autoscaling.karpenter import gates
from ekstwin.autoscaling.karpenter import reservations as rsv
from ekstwin.autoscaling.karpenter.instancetypes import RESERVED_PRICE_DIVISOR, TypeTable
from ekstwin.catalog import overrides as ov
from ekstwin.catalog.catalog import Catalog, load_catalog
from ekstwin.catalog.reservations import ACCOUNT_ID, OPEN, TARGETED, CapacityReservation, ReservationSpec
from ekstwin.model import requirements as rq

A, B = "us-east-1a", "us-east-1b"


def _r(rid: str, tags: dict[str, str] | None = None, owner: str = ACCOUNT_ID,
       criteria: str = OPEN) -> CapacityReservation:
    return CapacityReservation(rid, "m5.large", A, "use1-az1", 1, 0.096, tags or {}, owner, criteria)


def test_selector_terms_select_by_id_alone_or_by_tags_owner_and_match_criteria_ored() -> None:
    web = _r("cr-1", {"team": "web"})
    ml = _r("cr-2", {"team": "ml"}, criteria=TARGETED)
    other = _r("cr-3", {"team": "web"}, owner="999999999999")
    everything = (web, ml, other)
    assert rsv.select(everything, [{"id": "cr-2"}]) == (ml,)
    assert rsv.select(everything, [{"tags": {"team": "web"}}]) == (web, other)
    assert rsv.select(everything, [{"tags": {"team": "*"}, "ownerID": ACCOUNT_ID}]) == (web, ml)
    assert rsv.select(everything, [{"instanceMatchCriteria": "targeted"}]) == (ml,)
    assert rsv.select(everything, [{"id": "cr-1"}, {"id": "cr-3"}]) == (web, other)
    assert rsv.select(everything, [{"tags": {"team": "data"}}]) == ()
    assert rsv.select(everything, [{"ownerID": ACCOUNT_ID}]) == ()  # no query is built from an owner alone


@pytest.mark.parametrize(("version", "exists", "default"), [
    ("v1.2", False, False), ("v1.3", True, False), ("v1.5", True, False), ("v1.6", True, True), ("v1.14", True, True),
    ("v0.37", False, False)])
def test_the_reserved_capacity_gate_is_alpha_from_v1_3_and_on_by_default_from_v1_6(
        version: str, exists: bool, default: bool) -> None:
    assert gates.exists(gates.RESERVED_CAPACITY, version) is exists
    assert gates.default(gates.RESERVED_CAPACITY, version) is default
    assert gates.enabled({}, gates.RESERVED_CAPACITY, version) is default
    assert gates.enabled({gates.RESERVED_CAPACITY: True}, gates.RESERVED_CAPACITY, version) is exists
    assert gates.enabled({gates.RESERVED_CAPACITY: False}, gates.RESERVED_CAPACITY, version) is False


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    base = load_catalog("us-east-1", [A, B])
    spec = ov.CloudCatalog(capacity_reservations=(
        ReservationSpec("cr-a", "m5.large", A, 2), ReservationSpec("cr-b", "m5.xlarge", B, 1)))
    return ov.apply(base, spec)


def test_a_reserved_offering_is_priced_at_the_on_demand_price_divided_by_ten_million(catalog: Catalog) -> None:
    table = TypeTable.from_catalog(catalog)
    row, zone = table.names.index("m5.large"), table.zones.index(A)
    od = catalog.get("m5.large").offerings_for(["on-demand"], [A])[0].price
    assert table.price[row, zone, 0] == pytest.approx(od / RESERVED_PRICE_DIVISOR)
    cheapest_other = np.nanmin(np.where(np.isfinite(table.price[:, :, 1:]), table.price[:, :, 1:], np.nan))
    assert table.price[row, zone, 0] < cheapest_other  # cheaper than any spot or on-demand offering
    assert not np.isfinite(table.price[row, table.zones.index(B), 0])  # only where the reservation is


def test_reservations_turned_off_in_a_variant_lose_their_reserved_cells(catalog: Catalog) -> None:
    table = TypeTable.from_catalog(catalog)
    off = table.without(frozenset(), frozenset({"cr-a"}))
    assert not off.available[table.names.index("m5.large"), table.zones.index(A), 0]
    assert off.available[table.names.index("m5.xlarge"), table.zones.index(B), 0]
    assert table.without(frozenset(), frozenset({"cr-unknown"})) is table


def test_a_capacity_reservation_id_requirement_leaves_only_that_reservation(catalog: Catalog) -> None:
    table = TypeTable.from_catalog(catalog)
    pinned = rq.Requirements([rq.Requirement(rq.CAPACITY_RESERVATION_ID, False, frozenset({"cr-b"}))])
    ok, _ = table.offering_mask(pinned)
    assert set(np.array(table.names)[ok]) == {"m5.xlarge"}  # spot/on-demand offerings have no reservation id
    not_b = rq.Requirements([rq.Requirement(rq.CAPACITY_RESERVATION_ID, True, frozenset({"cr-b"}))])
    ok, price = table.offering_mask(not_b)
    assert ok[table.names.index("m5.xlarge")]  # still offered, on-demand or spot
    assert price[table.names.index("m5.xlarge")] > table.price[table.names.index("m5.xlarge"), 1, 0]


def _reqs(*extra: rq.Requirement) -> rq.Requirements:
    return rq.Requirements(extra)


def test_the_ledger_holds_a_slot_per_compatible_reservation_and_strict_mode_refuses_to_lose_it(
        catalog: Catalog) -> None:
    table = TypeTable.from_catalog(catalog)
    options = np.array([table.names.index("m5.large"), table.names.index("m5.xlarge")], dtype=np.int64)
    ledger = rsv.Ledger(table, {"cr-a": 1, "cr-b": 1}, strict=True)
    held, why = ledger.to_reserve("h1", _reqs(), options)
    assert why is None and held == {"cr-a", "cr-b"}  # pessimistic: every reservation it could launch into
    ledger.commit("h1", held)
    assert ledger.capacity == {"cr-a": 0, "cr-b": 0}
    # a second NodeClaim finds them all held: strict mode fails rather than launching elsewhere
    assert ledger.to_reserve("h2", _reqs(), options) == (frozenset(), rsv.NOT_RESERVABLE)
    # a pod that needs zone B keeps cr-b and gives cr-a back
    zone_b = rq.Requirement(rq.ZONE, False, frozenset({B}))
    held, why = ledger.to_reserve("h1", _reqs(zone_b), options)
    ledger.commit("h1", held)
    assert held == {"cr-b"} and ledger.capacity == {"cr-a": 1, "cr-b": 0}
    # a pod that rules out reserved capacity would cost h1 its last reservation
    on_demand = rq.Requirement(rq.CAPACITY_TYPE, False, frozenset({"on-demand"}))
    assert ledger.to_reserve("h1", _reqs(on_demand), options) == (frozenset(), rsv.WOULD_LOSE_RESERVATION)


def test_in_fallback_mode_the_ledger_lets_a_nodeclaim_give_its_reservations_up(catalog: Catalog) -> None:
    table = TypeTable.from_catalog(catalog)
    options = np.array([table.names.index("m5.large")], dtype=np.int64)
    ledger = rsv.Ledger(table, {"cr-a": 1}, strict=False)
    ledger.commit("h1", ledger.to_reserve("h1", _reqs(), options)[0])
    on_demand = rq.Requirement(rq.CAPACITY_TYPE, False, frozenset({"on-demand"}))
    held, why = ledger.to_reserve("h1", _reqs(on_demand), options)
    ledger.commit("h1", held)
    assert why is None and held == frozenset() and ledger.capacity["cr-a"] == 1


def test_a_nodeclaim_holding_reservations_is_pinned_to_reserved_capacity_in_them() -> None:
    reqs = rsv.pinned(_reqs(rq.Requirement(rq.CAPACITY_TYPE, False, frozenset({"reserved", "on-demand"}))),
                      frozenset({"cr-a"}))
    assert reqs[rq.CAPACITY_TYPE].values == {"reserved"}
    assert reqs[rq.CAPACITY_RESERVATION_ID].values == {"cr-a"}
