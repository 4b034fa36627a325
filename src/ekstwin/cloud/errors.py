"""EC2 error codes the emulator answers with, and the per-pool fleet error value.

Whole-call failures (an injected API error, an unknown instance id) raise ``ekstwin.errors.CloudError``
with one of these codes. Per-pool launch failures of a CreateFleet call are not exceptions: EC2 returns
them next to the instances it did launch, so they come back as ``FleetError`` values in
``FleetResult.errors``. Karpenter marks the (capacity type, type, zone) of every fleet error whose code
is in ``UNAVAILABLE_OFFERING_CODES`` unavailable for 3 minutes (behaviour spec §5.8).
"""

from __future__ import annotations

from dataclasses import dataclass

INSUFFICIENT_INSTANCE_CAPACITY = "InsufficientInstanceCapacity"
"""The pool (type, zone, capacity type) has no capacity for this request right now."""

MAX_SPOT_INSTANCE_COUNT_EXCEEDED = "MaxSpotInstanceCountExceeded"
"""The account's spot vCPU quota would be exceeded."""

VCPU_LIMIT_EXCEEDED = "VcpuLimitExceeded"
"""The account's on-demand vCPU quota would be exceeded."""

UNFULFILLABLE_CAPACITY = "UnfulfillableCapacity"
"""EC2 could not fulfil the fleet's target capacity from the given pools."""

INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET = "InsufficientFreeAddressesInSubnet"
"""The zone's subnet has no free private IPv4 address left."""

RESERVATION_CAPACITY_EXCEEDED = "ReservationCapacityExceeded"
"""Every slot of the targeted capacity reservation is taken."""

UNSUPPORTED = "Unsupported"
"""The instance type is not offered in that zone (or with that capacity type)."""

INVALID_INSTANCE_ID_NOT_FOUND = "InvalidInstanceID.NotFound"
"""No instance with that id exists."""

REQUEST_LIMIT_EXCEEDED = "RequestLimitExceeded"
"""API throttling; a typical code to inject with ``EC2.fail_next``."""

UNAVAILABLE_OFFERING_CODES = frozenset({
    INSUFFICIENT_INSTANCE_CAPACITY, MAX_SPOT_INSTANCE_COUNT_EXCEEDED, VCPU_LIMIT_EXCEEDED,
    UNFULFILLABLE_CAPACITY, UNSUPPORTED, INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET, RESERVATION_CAPACITY_EXCEEDED,
})
"""Fleet error codes after which Karpenter treats the offering as unavailable (the ICE cache)."""


@dataclass(frozen=True, slots=True)
class FleetError:
    """One pool a CreateFleet call tried and could not launch from."""

    code: str
    instance_type: str
    zone: str
    capacity_type: str
    message: str

    @property
    def marks_offering_unavailable(self) -> bool:
        """True when Karpenter would put this offering in its unavailable-offerings cache."""
        return self.code in UNAVAILABLE_OFFERING_CODES
