"""On-Demand Capacity Reservations (ODCRs) in the account: ``count`` slots of one instance type in one zone.

A reservation is a fact about the account, like a price: declared in ``spec.cloud`` (``capacityReservations``
for catalog types, ``capacityType: reserved`` offerings of custom types) and resolved here against the
catalog. The EC2 emulator holds its slots; Karpenter only uses it when an EC2NodeClass selects it (see
``autoscaling.karpenter.reservations``).

Billing (EC2 User Guide, "Capacity Reservation pricing and billing"): a reservation is charged at the
equivalent on-demand rate for every slot, used or not, per second, for as long as it is provisioned; an
instance running in it costs nothing extra. ``price`` is that rate: the type's on-demand price in the zone
after the account's price overrides and discounts (or the custom offering's price).
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ekstwin.catalog.instance_types import ON_DEMAND, InstanceType
from ekstwin.errors import InvalidInput

RESERVED = "reserved"
DEFAULT_TYPE = "default"
"""``karpenter.k8s.aws/capacity-reservation-type`` of a standard ODCR (``capacity-block`` is not modelled)."""
OPEN = "open"
TARGETED = "targeted"
MATCH_CRITERIA = (OPEN, TARGETED)
ACCOUNT_ID = "111122223333"
"""The owner of reservations that do not say (the AWS documentation's example account id)."""


@dataclass(frozen=True)
class ReservationSpec:
    """A reservation as declared, before its type and zone are checked against the catalog."""

    id: str
    instance_type: str
    zone: str
    count: int
    tags: Mapping[str, str] = field(default_factory=dict)
    owner_id: str = ACCOUNT_ID
    instance_match_criteria: str = OPEN
    """``open`` (EC2's default): matching on-demand launches that do not opt out land in it automatically;
    ``targeted``: only launches that name it."""
    price: float | None = None
    """Custom offerings give the hourly rate; catalog types take their on-demand price in the zone."""
    where: str = "spec.cloud.capacityReservations"


@dataclass(frozen=True)
class CapacityReservation:
    """A resolved reservation: an active ODCR with ``count`` slots, billed at ``price`` USD/hour per slot."""

    id: str
    instance_type: str
    zone: str
    zone_id: str
    count: int
    price: float
    tags: Mapping[str, str] = field(default_factory=dict)
    owner_id: str = ACCOUNT_ID
    instance_match_criteria: str = OPEN
    reservation_type: str = DEFAULT_TYPE


def generated_id(instance_type: str, zone: str, index: int) -> str:
    """A stable ``cr-`` id for a custom reserved offering that names none (17 hex digits, like AWS's)."""
    digest = hashlib.sha256(f"{instance_type}/{zone}/{index}".encode()).hexdigest()
    return "cr-" + digest[:17]


def resolve(specs: Sequence[ReservationSpec], types: Mapping[str, InstanceType],
            zone_ids: Mapping[str, str]) -> tuple[CapacityReservation, ...]:
    """Check each spec against the catalog's types and zones and price it.

    Raises:
        InvalidInput: a duplicate id, an unknown type (with close matches), a zone outside the cluster, or a
            catalog type with no on-demand offering in that zone; each naming its field.
    """
    out: list[CapacityReservation] = []
    seen: set[str] = set()
    for spec in specs:
        if spec.id in seen:
            raise InvalidInput(f"capacity reservation {spec.id!r} is declared twice", field=spec.where + ".id")
        seen.add(spec.id)
        if spec.zone not in zone_ids:
            raise InvalidInput(f"zone {spec.zone!r} is not one of the cluster's zones ({', '.join(zone_ids)})",
                               field=spec.where + ".zone")
        price = spec.price
        if price is None:
            price = _on_demand_price(spec, types)
        out.append(CapacityReservation(spec.id, spec.instance_type, spec.zone, zone_ids[spec.zone], spec.count,
                                       price, dict(spec.tags), spec.owner_id, spec.instance_match_criteria))
    return tuple(out)


def _on_demand_price(spec: ReservationSpec, types: Mapping[str, InstanceType]) -> float:
    t = types.get(spec.instance_type)
    if t is None:
        close = difflib.get_close_matches(spec.instance_type, sorted(types), n=3)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise InvalidInput(f"unknown instance type {spec.instance_type!r}{hint}", field=spec.where + ".instanceType")
    offers = t.offerings_for([ON_DEMAND], [spec.zone])
    if not offers:
        raise InvalidInput(f"{spec.instance_type} is not offered on-demand in {spec.zone}, so no capacity can be "
                           "reserved for it there", field=spec.where + ".zone")
    return offers[0].price
