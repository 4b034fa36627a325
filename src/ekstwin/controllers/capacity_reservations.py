"""Karpenter's view of the account's capacity reservations: which it may use, and how many slots are free.

Mirrors aws/karpenter-provider-aws's capacity-reservation provider:

* With the ``ReservedCapacity`` gate on, an EC2NodeClass's ``capacityReservationSelectorTerms`` select the
  reservations its NodePools may launch into (``selected``); with it off, Karpenter uses none.
* Free slots are cached per reservation: synced from DescribeCapacityReservations when the cache is a minute old
  (the EC2NodeClass reconciler lists reservations every minute, through a one-minute cache), decremented when
  Karpenter launches into one, incremented when it terminates an instance of one, and set to 0 when a launch
  into it fails. A reservation with no free slot is an unavailable offering.
"""

from __future__ import annotations

from typing import Any

from ekstwin.autoscaling.karpenter import gates
from ekstwin.autoscaling.karpenter import reservations as rsv
from ekstwin.catalog.reservations import CapacityReservation
from ekstwin.controllers.base import Deps, Obj

SYNC_S = 60.0
STATE_KEY = "capacity_reservations"


def enabled(deps: Deps) -> bool:
    """The ``ReservedCapacity`` gate, with the modelled release's default."""
    s = deps.settings
    return gates.enabled(s.feature_gates, gates.RESERVED_CAPACITY, s.karpenter_version)


def selected(deps: Deps, nodeclass: Obj | None) -> tuple[CapacityReservation, ...]:
    """The reservations an EC2NodeClass selects (none when the gate is off or nothing is reserved)."""
    if nodeclass is None or not deps.catalog.reservations or not enabled(deps):
        return ()
    terms = (nodeclass.get("spec") or {}).get("capacityReservationSelectorTerms") or []
    return rsv.select(deps.catalog.reservations, terms)


def selected_by_class(deps: Deps) -> dict[str, frozenset[str]]:
    """EC2NodeClass name → ids of the reservations it selects."""
    if not deps.catalog.reservations or not enabled(deps):
        return {}
    return {nc["metadata"]["name"]: frozenset(r.id for r in selected(deps, nc))
            for nc in deps.store.list("EC2NodeClass") if not nc["metadata"].get("deletionTimestamp")}


def _cache(deps: Deps, now: float) -> dict[str, int]:
    st: dict[str, Any] = deps.state.setdefault(STATE_KEY, {"synced": None, "count": {}})
    if st["synced"] is None or now - st["synced"] >= SYNC_S:
        st["count"] = {s.reservation.id: s.available for s in deps.ec2.describe_capacity_reservations()}
        st["synced"] = now
    count: dict[str, int] = st["count"]
    return count


def counts(deps: Deps, now: float) -> dict[str, int] | None:
    """Free slots per reservation as Karpenter believes them; None when there is nothing to track."""
    if not deps.catalog.reservations or not enabled(deps):
        return None
    return dict(_cache(deps, now))


def unavailable(deps: Deps, now: float) -> frozenset[str]:
    """Reservations that are no offering right now: not selected by any EC2NodeClass, or no free slot."""
    every = frozenset(r.id for r in deps.catalog.reservations)
    if not every:
        return every
    known = counts(deps, now)
    if known is None:
        return every
    chosen = frozenset().union(*selected_by_class(deps).values())
    return frozenset(rid for rid in every if rid not in chosen or known.get(rid, 0) <= 0)


def excluded_by_pool(deps: Deps, nodepools: list[Obj], usable: frozenset[str]) -> dict[str, frozenset[str]]:
    """NodePool → the usable reservations its EC2NodeClass does not select (Karpenter's reserved offerings
    are per EC2NodeClass; the simulation's table holds every usable one, so the others are ruled out by
    requirement). Pools whose class selects every usable reservation are left out."""
    if not usable:
        return {}
    by_class = selected_by_class(deps)
    out: dict[str, frozenset[str]] = {}
    for pool in nodepools:
        ref = ((pool["spec"].get("template") or {}).get("spec") or {}).get("nodeClassRef") or {}
        missing = usable - by_class.get(ref.get("name", ""), frozenset())
        if missing:
            out[pool["metadata"]["name"]] = missing
    return out


def usable(deps: Deps, now: float) -> frozenset[str]:
    """Reservations Karpenter may launch into somewhere right now."""
    return frozenset(r.id for r in deps.catalog.reservations) - unavailable(deps, now)


def _adjust(deps: Deps, reservation_id: str, change: int | None) -> None:
    st: dict[str, Any] | None = deps.state.get(STATE_KEY)
    if st is None or reservation_id not in st["count"]:
        return  # never synced: the next sync reads EC2 anyway
    st["count"][reservation_id] = 0 if change is None else max(0, st["count"][reservation_id] + change)


def mark_launched(deps: Deps, reservation_id: str) -> None:
    """A launch into the reservation succeeded: one slot fewer."""
    _adjust(deps, reservation_id, -1)


def mark_terminated(deps: Deps, reservation_id: str) -> None:
    """Karpenter terminated an instance of the reservation: one slot more."""
    _adjust(deps, reservation_id, +1)


def mark_unavailable(deps: Deps, reservation_id: str) -> None:
    """A launch into the reservation failed: no slot until the next sync."""
    _adjust(deps, reservation_id, None)


def status_entries(reservations: tuple[CapacityReservation, ...]) -> list[dict[str, Any]]:
    """EC2NodeClass ``status.capacityReservations`` for the selected reservations."""
    return [{"id": r.id, "instanceType": r.instance_type, "availabilityZone": r.zone, "ownerID": r.owner_id,
             "instanceMatchCriteria": r.instance_match_criteria, "reservationType": r.reservation_type,
             "state": "active"} for r in reservations]
