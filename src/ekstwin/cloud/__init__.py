"""EC2 emulation: the cloud Karpenter talks to, in memory and on virtual time.

* ``EC2(catalog, rng, settings)`` launches instances with CreateFleet semantics (``create_fleet``),
  terminates them, plays their timed lifecycle (``due``/``next_due``), bills them (``cost``) and
  injects faults through knobs (``set_pool_capacity``, ``set_vcpu_quota``, ``fail_next``, ``reset``).
* ``fleet`` holds the allocation strategies (lowest-price, price-capacity-optimized) and the spot
  capacity model; ``lifecycle`` the declarative transition timetable; ``settings`` the latency
  distributions and their sources; ``errors`` the AWS error codes and ``FleetError``.
* ``capacity_reservations`` holds On-Demand Capacity Reservation slots and their billing; ``usage`` cuts billed
  time into clock-hour buckets and ``savings_plans`` applies Savings Plans to them (the bill only).
"""

from ekstwin.cloud.ec2 import EC2, ApiCall, FleetResult, Instance, billed_seconds, price_per_hour
from ekstwin.cloud.errors import FleetError
from ekstwin.cloud.fleet import LOWEST_PRICE, PRICE_CAPACITY_OPTIMIZED, Pool
from ekstwin.cloud.lifecycle import (
    PENDING,
    READY,
    REGISTERED,
    RUNNING,
    SHUTTING_DOWN,
    TERMINATED,
    Lifecycle,
    Transition,
)
from ekstwin.cloud.settings import DEFAULT_CLOUD_SETTINGS, CloudSettings, Fixed, LogNormal, Uniform

__all__ = [
    "DEFAULT_CLOUD_SETTINGS",
    "EC2",
    "LOWEST_PRICE",
    "PENDING",
    "PRICE_CAPACITY_OPTIMIZED",
    "READY",
    "REGISTERED",
    "RUNNING",
    "SHUTTING_DOWN",
    "TERMINATED",
    "ApiCall",
    "CloudSettings",
    "Fixed",
    "FleetError",
    "FleetResult",
    "Instance",
    "Lifecycle",
    "LogNormal",
    "Pool",
    "Transition",
    "Uniform",
    "billed_seconds",
    "price_per_hour",
]
