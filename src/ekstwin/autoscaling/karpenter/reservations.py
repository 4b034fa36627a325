"""Karpenter's native On-Demand Capacity Reservation support (``ReservedCapacity`` feature gate).

Sources: karpenter.sh "Utilizing On-Demand Capacity Reservations and Capacity Blocks" (docs/tasks/odcrs),
aws/karpenter-provider-aws ``designs/odcr.md`` and its offering and capacity-reservation providers, and the
``ReservationManager`` of kubernetes-sigs/karpenter's scheduler.

* **Selection.** Only reservations an EC2NodeClass selects with ``capacityReservationSelectorTerms`` are used.
  Terms are ORed; a term is either an ``id`` alone, or ``tags`` (a value of ``*`` matches any value) and/or
  ``instanceMatchCriteria``, optionally narrowed to an ``ownerID``.
* **Offerings.** Each selected reservation is one ``reserved`` offering of its type in its zone, carrying the
  requirement ``karpenter.k8s.aws/capacity-reservation-id In [id]`` (other offerings: ``DoesNotExist``). Its
  price is the type's on-demand price / 10,000,000: the reservation is already paid for, so it is "near
  free" and cheaper than every spot or on-demand offering, yet reserved offerings keep their relative order
  so consolidation can still move to a smaller reservation.
* **Counting.** The scheduler reserves a slot of every compatible reservation an in-flight NodeClaim could
  launch into (pessimistically) and releases the ones later pods rule out (``Ledger``). Provisioning runs in
  *strict* mode: a pod that would take the last reserved option away from a NodeClaim, or that finds every
  compatible reservation already held, does not join it. Disruption simulations fall back instead (strict again
  when a command is validated). A NodeClaim that holds reservations is pinned to ``capacity-type: reserved``
  and to those reservation ids before it is created.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ekstwin.autoscaling.karpenter.instancetypes import RESERVED_PRICE_DIVISOR, ReservedOffering, TypeTable
from ekstwin.catalog.reservations import RESERVED, CapacityReservation
from ekstwin.model import requirements as rq

NOT_RESERVABLE = ("one or more instance types with compatible reserved offerings are available, but could not be "
                  "reserved")
WOULD_LOSE_RESERVATION = ("satisfying updated nodeclaim constraints would remove all compatible reserved offering "
                          "options")


def karpenter_price(r: CapacityReservation) -> float:
    """What Karpenter prices the reserved offering at (near zero, keeping the on-demand order)."""
    return r.price / RESERVED_PRICE_DIVISOR


def _term_matches(term: Mapping[str, Any], r: CapacityReservation) -> bool:
    if "id" in term:
        return bool(term["id"] == r.id)
    tags = term.get("tags") or {}
    if not tags and not term.get("instanceMatchCriteria"):
        return False  # Karpenter builds no DescribeCapacityReservations query from such a term
    if term.get("ownerID") and term["ownerID"] != r.owner_id:
        return False
    if term.get("instanceMatchCriteria") and term["instanceMatchCriteria"] != r.instance_match_criteria:
        return False
    return all(k in r.tags and (v == "*" or r.tags[k] == v) for k, v in tags.items())


def select(reservations: Iterable[CapacityReservation],
           terms: Sequence[Mapping[str, Any]]) -> tuple[CapacityReservation, ...]:
    """The reservations an EC2NodeClass's ``capacityReservationSelectorTerms`` select, by id."""
    return tuple(sorted((r for r in reservations if any(_term_matches(t, r) for t in terms)), key=lambda r: r.id))


class Ledger:
    """Karpenter's ``ReservationManager`` for one scheduling simulation: free slots per reservation and the
    reservations each planned NodeClaim holds."""

    def __init__(self, table: TypeTable, capacity: Mapping[str, int], *, strict: bool) -> None:
        self.offers = [o for o in table.reserved if o.reservation_id not in table.reserved_off]
        self._rows = np.array([o.row for o in self.offers], dtype=np.int64)
        self._zones = table.zones
        self.capacity = {o.reservation_id: max(0, capacity.get(o.reservation_id, 0)) for o in self.offers}
        self.held: dict[str, frozenset[str]] = {}
        self.strict = strict

    def __bool__(self) -> bool:
        return bool(self.offers)

    def compatible(self, reqs: rq.Requirements, options: np.ndarray[Any, Any]) -> list[ReservedOffering]:
        """Reserved offerings a NodeClaim with these requirements and instance-type options could launch into."""
        if not reqs.get_or_exists(rq.CAPACITY_TYPE).has(RESERVED):
            return []
        zr = reqs.get_or_exists(rq.ZONE)
        rr = reqs.get_or_exists(rq.CAPACITY_RESERVATION_ID)
        in_options = np.isin(self._rows, options)
        return [o for o, ok in zip(self.offers, in_options, strict=True)
                if ok and zr.has(self._zones[o.zone]) and rr.has(o.reservation_id)]

    def to_reserve(self, host: str, reqs: rq.Requirements,
                   options: np.ndarray[Any, Any]) -> tuple[frozenset[str], str | None]:
        """The reservations the NodeClaim would hold after this change, or (∅, why not) in strict mode."""
        compatible = self.compatible(reqs, options)
        held = self.held.get(host, frozenset())
        ids = frozenset(o.reservation_id for o in compatible
                        if o.reservation_id in held or self.capacity[o.reservation_id] > 0)
        if self.strict:
            if compatible and not ids:
                return frozenset(), NOT_RESERVABLE
            if held and not ids:
                return frozenset(), WOULD_LOSE_RESERVATION
        return ids, None

    def rows_of(self, ids: frozenset[str]) -> np.ndarray[Any, Any]:
        """Instance-type rows of the reservations ``ids``."""
        return np.array([o.row for o in self.offers if o.reservation_id in ids], dtype=np.int64)

    def commit(self, host: str, ids: frozenset[str]) -> None:
        """Hold ``ids`` for the NodeClaim: take a slot of each new one, give back the ones it no longer holds."""
        held = self.held.get(host, frozenset())
        for rid in ids - held:
            self.capacity[rid] -= 1
        for rid in held - ids:
            self.capacity[rid] += 1
        self.held[host] = ids


def pinned(reqs: rq.Requirements, ids: frozenset[str]) -> rq.Requirements:
    """A NodeClaim's requirements once it holds reservations: reserved capacity in exactly those."""
    if not ids:
        return reqs
    return reqs.without(rq.CAPACITY_TYPE).add(rq.Requirement(rq.CAPACITY_TYPE, False, frozenset((RESERVED,))),
                                              rq.Requirement(rq.CAPACITY_RESERVATION_ID, False, ids))
