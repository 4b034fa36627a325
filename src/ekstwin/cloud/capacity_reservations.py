"""The EC2 emulator's On-Demand Capacity Reservations: slots, who holds them, and how they are billed.

Every reservation of the catalog is active for the whole run (from t=0; end dates are not modelled). An
instance holds a slot from its launch until it starts shutting down (EC2 frees the capacity when the
instance stops running). Two ways in, as in EC2:

* **targeted**: a launch that names the reservation (Karpenter's ``reserved`` capacity type). When the
  reservation is full, EC2 answers ``ReservationCapacityExceeded``.
* **open**: an ``open`` reservation also takes matching on-demand launches that did not opt out
  (``CapacityReservationPreference: open``, EC2's default), without the caller asking.

Billing: ``count`` × the on-demand rate for the whole time the reservation exists, used or not; the
instances in it add nothing (``cost``). ``used_seconds`` sums the billed seconds of the instances that held
a slot, for utilization.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ekstwin.catalog.reservations import OPEN, CapacityReservation
from ekstwin.errors import InvalidInput

HOUR_S = 3600.0


@dataclass(frozen=True, slots=True)
class ReservationState:
    """A reservation as DescribeCapacityReservations would show it now."""

    reservation: CapacityReservation
    available: int
    """AvailableInstanceCount: free slots."""


class ReservationBook:
    """Slots of every reservation and the instances holding them."""

    __slots__ = ("_by_id", "_holder", "_holders", "_used_s")

    def __init__(self, reservations: Iterable[CapacityReservation]) -> None:
        self._by_id = {r.id: r for r in reservations}
        self._holders: dict[str, dict[str, float]] = {rid: {} for rid in self._by_id}  # id → instance → since
        self._holder: dict[str, str] = {}  # instance → reservation id
        self._used_s = dict.fromkeys(self._by_id, 0.0)

    def __bool__(self) -> bool:
        return bool(self._by_id)

    def get(self, reservation_id: str) -> CapacityReservation:
        """The reservation with this id.

        Raises:
            InvalidInput: no such reservation.
        """
        found = self._by_id.get(reservation_id)
        if found is None:
            raise InvalidInput(f"no capacity reservation {reservation_id!r}", field="capacity_reservation_id")
        return found

    def available(self, reservation_id: str) -> int:
        """Free slots of the reservation now."""
        return self.get(reservation_id).count - len(self._holders[reservation_id])

    def describe(self) -> list[ReservationState]:
        """Every reservation with its free slots, by id."""
        return [ReservationState(r, self.available(rid)) for rid, r in sorted(self._by_id.items())]

    def open_match(self, instance_type: str, zone: str) -> str | None:
        """An ``open`` reservation of this type and zone with a free slot (the first by id), or None."""
        for rid, r in sorted(self._by_id.items()):
            if r.instance_match_criteria == OPEN and r.instance_type == instance_type and r.zone == zone \
                    and self.available(rid) > 0:
                return rid
        return None

    def hold(self, reservation_id: str, instance_id: str, billed_from: float) -> None:
        """Give a free slot to the instance (billed in the reservation from ``billed_from``)."""
        if self.available(reservation_id) <= 0:
            raise InvalidInput(f"capacity reservation {reservation_id} is full", field="capacity_reservation_id")
        self._holders[reservation_id][instance_id] = billed_from
        self._holder[instance_id] = reservation_id

    def release(self, instance_id: str, at: float) -> None:
        """Free the instance's slot (no-op when it holds none); its use until ``at`` counts as used."""
        rid = self._holder.pop(instance_id, None)
        if rid is None:
            return
        since = self._holders[rid].pop(instance_id)
        self._used_s[rid] += max(0.0, at - since)

    def holder_of(self, instance_id: str) -> str | None:
        """The reservation the instance holds a slot in, or None."""
        return self._holder.get(instance_id)

    def in_use(self, reservation_id: str) -> int:
        """Slots held now."""
        return len(self._holders[reservation_id])

    def used_seconds(self, reservation_id: str, now: float) -> float:
        """Instance-seconds spent in the reservation up to ``now``."""
        running = sum(max(0.0, now - since) for since in self._holders[reservation_id].values())
        return self._used_s[reservation_id] + running

    def reservations(self) -> list[CapacityReservation]:
        """Every reservation, by id."""
        return [r for _, r in sorted(self._by_id.items())]

    def cost(self, now: float) -> float:
        """USD billed for all reservations from t=0 to ``now``: every slot, used or not."""
        return sum(r.count * r.price * max(0.0, now) / HOUR_S for r in self._by_id.values())
