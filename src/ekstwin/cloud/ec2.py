"""An in-memory EC2: instances, capacity pools, quotas and their timed lifecycle, as a pure state machine.

``EC2`` has no clock and no store. Every call takes ``now`` (virtual seconds since the scenario began)
and all randomness comes from the ``random.Random`` handed to the constructor (the caller derives it with
``Streams(seed).stream("ec2.launch")``), so a seed and a sequence of calls give the same instances, ids,
addresses and timings every time.

It is also the fault injector, in the manner of Karpenter's fake EC2 API: ``set_pool_capacity`` starves
or limits a pool (insufficient capacity), ``set_vcpu_quota`` caps an account quota, ``fail_next`` makes
the next API calls fail with a given AWS error code, ``calls`` records every call, and ``reset`` clears
the knobs. How CreateFleet picks a pool is in ``fleet.py``; the timetable of transitions in
``lifecycle.py``.

Spot instances can be interrupted by EC2 (``spot.py``): ``set_spot_interruptions`` turns EC2's own
interruptions on for later launches, ``interrupt`` forces one, and ``notices``/``next_notice_at`` hand the
rebalance recommendations, interruption warnings and reclaim state changes to whoever polls (Karpenter's
interruption controller). A reclaim terminates the instance at its planned time, even if nobody polls then.

Billing follows EC2: an instance is billed per second, with a 60-second minimum, from the moment it is
``running`` until it starts ``shutting-down`` — not while ``pending`` and not while shutting down.

On-Demand Capacity Reservations (``capacity_reservations.py``): a ``reserved`` CreateFleet targets named
reservations (full → ``ReservationCapacityExceeded``), and an on-demand launch that does not opt out lands in a
matching ``open`` reservation. An instance in a reservation is billed through it: the reservation costs its
slots × the on-demand rate all the time, used or not, and the instance nothing more. ``hourly_usage`` hands
Savings Plans billing the eligible usage per clock hour (``usage.py``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace

from ekstwin.catalog import Catalog
from ekstwin.catalog.instance_types import CAPACITY_TYPES, FAMILY, ON_DEMAND, SPOT, Offering
from ekstwin.catalog.reservations import RESERVED
from ekstwin.cloud import errors as codes
from ekstwin.cloud.capacity_reservations import ReservationBook, ReservationState
from ekstwin.cloud.errors import FleetError
from ekstwin.cloud.fleet import (
    Pool,
    SpotDepths,
    rank_lowest_price,
    rank_price_capacity_optimized,
    strategy_for,
)
from ekstwin.cloud.lifecycle import (
    LAUNCH_STEPS,
    PENDING,
    READY,
    REGISTERED,
    RUNNING,
    SHUTTING_DOWN,
    TERMINATED,
    TERMINATION_STEPS,
    Lifecycle,
    Transition,
    plan,
)
from ekstwin.cloud.settings import DEFAULT_CLOUD_SETTINGS, CloudSettings, Rng
from ekstwin.cloud.spot import INSTANCE_TERMINATED, Interruption, Notice, SpotInterruptions
from ekstwin.cloud.usage import HourlyUsage, Interval, UsageKey, bucket
from ekstwin.errors import CloudError, InvalidInput

CREATE_FLEET = "CreateFleet"
TERMINATE_INSTANCES = "TerminateInstances"
APIS = (CREATE_FLEET, TERMINATE_INSTANCES)
LAUNCH_CAPACITY_TYPES = (*CAPACITY_TYPES, RESERVED)

_MASK64 = (1 << 64) - 1
# One /19 subnet per zone inside a /16 VPC: 8192 addresses, of which AWS reserves the first four and
# the last. 8 zones fit, more than any region has.
_SUBNET_SIZE = 8192
_RESERVED_OFFSETS = frozenset({0, 1, 2, 3, _SUBNET_SIZE - 1})
_MAX_ZONES = 256 * 256 // _SUBNET_SIZE


@dataclass(frozen=True, slots=True)
class Instance:
    """One EC2 instance as the emulator last saw it.

    ``running_at``, ``registered_at`` and ``ready_at`` are planned at launch (the instance reaches each
    at that time, whether or not ``EC2.due`` has been called yet); a milestone the instance was
    terminated before reaching is None. ``registered``/``ready`` turn True when ``EC2.due`` applies them.
    ``price`` is the USD/hour of the offering at launch (for an instance in a capacity reservation, the
    reservation's on-demand rate: the reservation is billed, not the instance). ``capacity_reservation_id``
    names the reservation it holds a slot in (a ``reserved`` launch, or an on-demand launch EC2 put in an open
    reservation; its ``capacity_type`` then stays ``on-demand``).
    """

    instance_id: str
    instance_type: str
    zone: str
    zone_id: str
    capacity_type: str
    price: float
    state: str
    launch_time: float
    running_at: float | None
    registered_at: float | None
    ready_at: float | None
    private_ip: str
    private_dns_name: str
    tags: dict[str, str] = field(default_factory=dict)
    registered: bool = False
    ready: bool = False
    shutting_down_at: float | None = None
    terminated_at: float | None = None
    capacity_reservation_id: str | None = None

    @property
    def provider_id(self) -> str:
        """The Kubernetes Node ``spec.providerID``: ``aws:///<zone>/<instance-id>``."""
        return f"aws:///{self.zone}/{self.instance_id}"


@dataclass(frozen=True, slots=True)
class FleetResult:
    """What a CreateFleet (type instant) call returned.

    ``responded_at`` is when the answer arrives (``now`` + the sampled call latency); the instances
    exist, ``pending``, from then. No instances and some errors means nothing could be launched.
    """

    instances: list[Instance]
    errors: list[FleetError]
    strategy: str
    responded_at: float

    @property
    def insufficient_capacity(self) -> bool:
        """True when nothing launched and every error marks an offering unavailable (Karpenter's ICE)."""
        return not self.instances and bool(self.errors) and all(
            e.marks_offering_unavailable for e in self.errors)


@dataclass(frozen=True, slots=True)
class ApiCall:
    """One recorded API call, for tests and reports."""

    api: str
    at: float
    params: dict[str, object]


def price_per_hour(instance: Instance) -> float:
    """USD per hour the instance is billed at (its offering's price when it launched)."""
    return instance.price


def billed_seconds(instance: Instance, now: float, min_billed: float) -> float:
    """Seconds billed up to ``now``: from ``running`` to ``shutting-down``, at least ``min_billed``."""
    start = instance.running_at
    if start is None or start > now:
        return 0.0
    end = now if instance.shutting_down_at is None else min(now, instance.shutting_down_at)
    return max(min_billed, end - start)


def _mix64(x: int) -> int:
    """A bijection on 64-bit integers (the SplitMix64 finaliser): distinct inputs, distinct outputs."""
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


class _Addresses:
    """Seeded, never-repeating private IPv4 addresses, one /19 subnet per zone."""

    __slots__ = ("_next", "_octet", "_scale", "_shift")

    def __init__(self, rng: Rng) -> None:
        self._octet = rng.randrange(256)
        # An odd multiplier makes j ↦ (scale·j + shift) mod 8192 a permutation: no address repeats.
        self._scale = rng.randrange(1, _SUBNET_SIZE, 2)
        self._shift = rng.randrange(_SUBNET_SIZE)
        self._next: dict[int, int] = {}

    def take(self, zone_index: int) -> str | None:
        """The zone's next free address, or None when its subnet is full."""
        j = self._next.get(zone_index, 0)
        while j < _SUBNET_SIZE:
            offset = (self._scale * j + self._shift) % _SUBNET_SIZE
            j += 1
            if offset not in _RESERVED_OFFSETS:
                self._next[zone_index] = j
                host = zone_index * _SUBNET_SIZE + offset
                return f"10.{self._octet}.{host >> 8}.{host & 0xFF}"
        self._next[zone_index] = j
        return None

    def full(self, zone_index: int) -> bool:
        return self._next.get(zone_index, 0) >= _SUBNET_SIZE


def dns_suffix(region: str) -> str:
    """EC2's private DNS domain: ``ec2.internal`` in us-east-1, ``<region>.compute.internal`` elsewhere."""
    return "ec2.internal" if region == "us-east-1" else f"{region}.compute.internal"


class EC2:
    """The emulator. See the module docstring for the contract; all times are virtual seconds."""

    def __init__(self, catalog: Catalog, rng: Rng,
                 settings: CloudSettings = DEFAULT_CLOUD_SETTINGS) -> None:
        if len(catalog.zones) > _MAX_ZONES:
            raise InvalidInput(f"at most {_MAX_ZONES} zones are supported", field="spec.cluster.zones")
        self.catalog = catalog
        self.settings = settings
        self._rng = rng
        # Draw every seed up front in a fixed order, so later calls cannot shift them.
        self._id_base = rng.getrandbits(64)
        self._depths = SpotDepths(rng.getrandbits(64), settings)
        self._addresses = _Addresses(rng)
        self._launched = 0
        self._instances: dict[str, Instance] = {}
        self._lifecycle = Lifecycle()
        self._vcpus_in_use = dict.fromkeys(CAPACITY_TYPES, 0)
        self.calls: list[ApiCall] = []
        self._pool_capacity: dict[tuple[str, str, str], int] = {}
        self._vcpu_quota: dict[str, int] = {}
        self._failures: dict[str, list[str]] = {api: [] for api in APIS}
        self._spot = SpotInterruptions(unknown_bucket=settings.unknown_bucket)
        self._outbox: list[Notice] = []  # notices already due, waiting for the next ``notices`` call
        self._reservations = ReservationBook(catalog.reservations)

    # ── fault knobs ─────────────────────────────────────────────────────────────────────────────────

    def set_pool_capacity(self, capacity_type: str, instance_type: str, zone: str,
                          available: int | None) -> None:
        """Limit a pool: ``None`` = unlimited, 0 = insufficient capacity, N = N more launches, then none."""
        key = (capacity_type, instance_type, zone)
        if available is None:
            self._pool_capacity.pop(key, None)
        elif available < 0:
            raise InvalidInput("must be >= 0 or None", field="available")
        else:
            self._pool_capacity[key] = available

    def pool_capacity(self, capacity_type: str, instance_type: str, zone: str) -> int | None:
        """The pool's remaining knob capacity (None = not limited)."""
        return self._pool_capacity.get((capacity_type, instance_type, zone))

    def set_vcpu_quota(self, capacity_type: str, vcpus: int | None) -> None:
        """Cap the vCPUs of live (pending or running) instances of a capacity type; None = no cap.

        One quota per capacity type stands in for EC2's per-instance-family quotas.
        """
        if capacity_type not in CAPACITY_TYPES:
            raise InvalidInput(f"unknown capacity type {capacity_type!r}", field="capacity_type")
        if vcpus is None:
            self._vcpu_quota.pop(capacity_type, None)
        else:
            self._vcpu_quota[capacity_type] = vcpus

    def fail_next(self, code: str, times: int = 1, *, api: str = CREATE_FLEET) -> None:
        """Make the next ``times`` calls of ``api`` raise ``CloudError(code)`` (queued after earlier ones)."""
        if api not in APIS:
            raise InvalidInput(f"unknown API {api!r}; valid: {', '.join(APIS)}", field="api")
        self._failures[api].extend([code] * times)

    def reset(self) -> None:
        """Clear every knob, queued failure and the call log. Instances and their timetable stay."""
        self._pool_capacity.clear()
        self._vcpu_quota.clear()
        for queue in self._failures.values():
            queue.clear()
        self.calls.clear()

    def set_spot_interruptions(self, mode: str, seed: int) -> None:
        """EC2's own spot interruptions for instances launched from now on: ``none`` or ``advisor``.

        ``seed`` feeds each instance's own interruption draw (see ``spot.py``). Already planned
        interruptions, forced or not, stay.

        Raises:
            InvalidInput: an unknown mode.
        """
        self._spot.configure(mode, seed)

    @property
    def spot_interruptions(self) -> str:
        """The current mode (``none`` or ``advisor``)."""
        return self._spot.mode

    def interrupt(self, now: float, instance_id: str, at: float | None = None) -> Interruption:
        """Force a spot interruption: the warning at ``at`` (default ``now``), the reclaim two minutes later.

        Works whatever ``set_spot_interruptions`` says, and replaces any interruption already planned.

        Raises:
            CloudError: ``InvalidInstanceID.NotFound`` for an unknown id.
            InvalidInput: the instance is on-demand, already shutting down or terminated, or ``at < now``.
        """
        instance = self.get(instance_id)
        if instance.capacity_type != SPOT:
            raise InvalidInput(f"{instance_id} is a {instance.capacity_type} instance; only spot instances are "
                               "interrupted", field="instance_id")
        if instance.state in (SHUTTING_DOWN, TERMINATED):
            raise InvalidInput(f"{instance_id} is already {instance.state}", field="instance_id")
        warning_at = now if at is None else at
        if warning_at < now:
            raise InvalidInput(f"must not be before now ({now:g}s)", field="at")
        return self._spot.force(instance_id, warning_at)

    def planned_interruption(self, instance_id: str) -> Interruption | None:
        """The interruption planned for the instance (None: none planned, or it already happened)."""
        return self._spot.planned(instance_id)

    def _enter(self, api: str, now: float, params: dict[str, object]) -> None:
        """Record the call, then fail it if a failure is queued for that API (the call still counts)."""
        self.calls.append(ApiCall(api, now, params))
        queue = self._failures[api]
        if queue:
            code = queue.pop(0)
            raise CloudError(code, f"injected failure of {api}")

    # ── CreateFleet ─────────────────────────────────────────────────────────────────────────────────

    def create_fleet(self, now: float, overrides: Sequence[tuple[str, str]], capacity_type: str,
                     count: int = 1, tags: Mapping[str, str] | None = None, *,
                     capacity_reservations: Mapping[tuple[str, str], str] | None = None,
                     open_reservations: bool = True) -> FleetResult:
        """Launch ``count`` instances from the (instance type, zone) ``overrides`` (type instant).

        On-demand and reserved use lowest-price, spot price-capacity-optimized (see fleet.py). Each pool
        tried and found unavailable is reported once in ``errors``; overrides EC2 cannot sell at all (type
        not in that zone, unpriced, no such type) are reported as ``Unsupported``.

        ``reserved`` launches into the capacity reservation ``capacity_reservations`` names for each override
        (a full one answers ``ReservationCapacityExceeded``). ``open_reservations`` is the launch template's
        ``CapacityReservationPreference``: True (``open``, EC2's default) lets an on-demand instance land in a
        matching open reservation; False (``none``) keeps it out.

        Raises:
            CloudError: an injected failure (``fail_next``), or a malformed request
                (``InvalidParameterValue``: no overrides, count < 1, unknown capacity type, a reserved
                override without a reservation).
        """
        tags = dict(tags or {})
        targets = dict(capacity_reservations or {})
        params: dict[str, object] = {"overrides": tuple(overrides), "capacity_type": capacity_type, "count": count,
                                     "tags": tags}
        if targets:
            params["capacity_reservations"] = targets
        self._enter(CREATE_FLEET, now, params)
        self._check_request(overrides, capacity_type, count, targets)
        strategy = strategy_for(capacity_type)
        responded_at = now + self.settings.create_fleet.sample(self._rng)
        pools, errors = self._resolve(overrides, capacity_type, targets)
        instances = self._fill(pools, count, errors, responded_at, tags, open_reservations)
        return FleetResult(instances, errors, strategy, responded_at)

    @staticmethod
    def _check_request(overrides: Sequence[tuple[str, str]], capacity_type: str, count: int,
                       targets: Mapping[tuple[str, str], str]) -> None:
        if capacity_type not in LAUNCH_CAPACITY_TYPES:
            raise CloudError("InvalidParameterValue", f"unknown capacity type {capacity_type!r}")
        if not overrides:
            raise CloudError("InvalidParameterValue", "a fleet needs at least one override")
        if count < 1:
            raise CloudError("InvalidParameterValue", "TotalTargetCapacity must be >= 1")
        if capacity_type == RESERVED and any(tuple(o) not in targets for o in overrides):
            raise CloudError("InvalidParameterValue", "a reserved launch needs a capacity reservation per override")

    def _resolve(self, overrides: Sequence[tuple[str, str]], capacity_type: str,
                 targets: Mapping[tuple[str, str], str]) -> tuple[list[Pool], list[FleetError]]:
        """Overrides → pools EC2 could sell, plus Unsupported errors for the rest (duplicates dropped)."""
        pools: list[Pool] = []
        errors: list[FleetError] = []
        seen: set[tuple[str, str]] = set()
        for order, (type_name, zone) in enumerate(overrides):
            if (type_name, zone) in seen:
                continue
            seen.add((type_name, zone))
            if capacity_type == RESERVED:
                pool = self._reserved_pool(type_name, zone, targets[(type_name, zone)], order)
            else:
                pool = self._pool(type_name, zone, capacity_type, order)
            if pool is None:
                errors.append(FleetError(codes.UNSUPPORTED, type_name, zone, capacity_type,
                                         f"{type_name} is not offered as {capacity_type} in {zone}"))
            else:
                pools.append(pool)
        return pools, errors

    def _pool(self, type_name: str, zone: str, capacity_type: str, order: int) -> Pool | None:
        if type_name not in self.catalog:
            return None
        for o in self.catalog.get(type_name).offerings_for([capacity_type], [zone]):
            return Pool(type_name, zone, o.zone_id, capacity_type, o.price, o.interruption_bucket, order)
        return None

    def _reserved_pool(self, type_name: str, zone: str, reservation_id: str, order: int) -> Pool | None:
        """The reservation as a pool, priced at its on-demand rate; None when it is not of that type and zone."""
        try:
            r = self._reservations.get(reservation_id)
        except InvalidInput:
            return None
        if (r.instance_type, r.zone) != (type_name, zone):
            return None
        return Pool(type_name, zone, r.zone_id, RESERVED, r.price, None, order, reservation_id)

    def _fill(self, pools: list[Pool], count: int, errors: list[FleetError], launch_time: float,
              tags: dict[str, str], open_reservations: bool) -> list[Instance]:
        """Launch one instance at a time from the best pool still worth trying; record failed pools."""
        launched: list[Instance] = []
        for still_needed in range(count, 0, -1):
            instance = self._launch_one(pools, still_needed, errors, launch_time, tags, open_reservations)
            if instance is None:
                break
            launched.append(instance)
        return launched

    def _launch_one(self, pools: list[Pool], still_needed: int, errors: list[FleetError],
                    launch_time: float, tags: dict[str, str], open_reservations: bool) -> Instance | None:
        for pool in self._rank(pools, still_needed):
            problem = self._problem(pool)
            if problem is None:
                return self._launch(pool, launch_time, tags, open_reservations)
            pools.remove(pool)  # EC2 does not retry a pool within one request
            errors.append(FleetError(problem[0], pool.instance_type, pool.zone, pool.capacity_type,
                                     problem[1]))
        return None

    def _rank(self, pools: list[Pool], still_needed: int) -> list[Pool]:
        if pools and pools[0].capacity_type == SPOT:
            return rank_price_capacity_optimized(pools, self._depths.remaining, still_needed)
        return rank_lowest_price(pools)

    def _problem(self, pool: Pool) -> tuple[str, str] | None:
        """Why the pool cannot launch one more instance now, as (code, message), or None."""
        vcpus = self.catalog.get(pool.instance_type).vcpu
        quota_class = _quota_class(pool.capacity_type)
        quota = self._vcpu_quota.get(quota_class)
        if quota is not None and self._vcpus_in_use[quota_class] + vcpus > quota:
            code = codes.MAX_SPOT_INSTANCE_COUNT_EXCEEDED if pool.capacity_type == SPOT \
                else codes.VCPU_LIMIT_EXCEEDED
            return code, f"{pool.capacity_type} vCPU quota of {quota} would be exceeded"
        if self._addresses.full(self.catalog.zones.index(pool.zone)):
            return codes.INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET, f"no free address in {pool.zone}"
        if pool.reservation_id is not None and self._reservations.available(pool.reservation_id) <= 0:
            return (codes.RESERVATION_CAPACITY_EXCEEDED,
                    f"capacity reservation {pool.reservation_id} has no free {pool.instance_type} slot")
        if self._pool_capacity.get(pool.key) == 0 or self._spot_depth_exhausted(pool):
            return (codes.INSUFFICIENT_INSTANCE_CAPACITY,
                    f"insufficient {pool.capacity_type} capacity for {pool.instance_type} in {pool.zone}")
        return None

    def _spot_depth_exhausted(self, pool: Pool) -> bool:
        return (self.settings.enforce_spot_depth and pool.capacity_type == SPOT
                and self._depths.remaining(pool) <= 0)

    def _launch(self, pool: Pool, launch_time: float, tags: dict[str, str], open_reservations: bool) -> Instance:
        address = self._addresses.take(self.catalog.zones.index(pool.zone))
        if address is None:  # _problem checked fullness; a full subnet here is a bug
            raise AssertionError(f"subnet of {pool.zone} filled up during a launch")
        self._consume(pool)
        times = plan(LAUNCH_STEPS, PENDING, launch_time, self.settings, self._rng)
        reservation = pool.reservation_id
        if reservation is None and pool.capacity_type == ON_DEMAND and open_reservations:
            reservation = self._reservations.open_match(pool.instance_type, pool.zone)
        instance = Instance(
            instance_id=self._next_id(), instance_type=pool.instance_type, zone=pool.zone,
            zone_id=pool.zone_id, capacity_type=pool.capacity_type, price=pool.price, state=PENDING,
            launch_time=launch_time, running_at=times[RUNNING], registered_at=times[REGISTERED],
            ready_at=times[READY], private_ip=address,
            private_dns_name=f"ip-{address.replace('.', '-')}.{dns_suffix(self.catalog.region)}",
            tags=dict(tags), capacity_reservation_id=reservation,
        )
        if reservation is not None:
            self._reservations.hold(reservation, instance.instance_id, times[RUNNING])
        self._instances[instance.instance_id] = instance
        self._lifecycle.schedule(instance.instance_id, times)
        if pool.capacity_type == SPOT:
            # Exposure to reclaims starts once the instance runs on a host.
            self._spot.on_launch(instance.instance_id, times[RUNNING], pool.interruption_bucket)
        return instance

    def adopt(self, instance_id: str, instance_type: str, zone: str, capacity_type: str, now: float, *,
              private_ip: str = "", private_dns_name: str = "", tags: Mapping[str, str] | None = None,
              ready: bool = True, capacity_reservation_id: str | None = None) -> Instance:
        """Record an instance that already exists (a node of an adopted cluster): ``running`` and
        registered at ``now``, billed from ``now`` at the catalog price of its offering.

        ``ready=False`` plans its ``ready`` milestone a sampled delay later (a node still booting). A spot
        instance is exposed to EC2's interruptions like a launched one. No CreateFleet call is recorded.
        A ``reserved`` instance takes a slot of ``capacity_reservation_id``.

        Raises:
            InvalidInput: the id is taken, the type, zone or capacity type is not in the catalog, or the
                reservation is unknown, of another type or zone, or full.
        """
        if instance_id in self._instances:
            raise InvalidInput(f"instance {instance_id} already exists", field="instance_id")
        if instance_type not in self.catalog:
            raise InvalidInput(f"instance type {instance_type!r} is not in the catalog", field="instance_type")
        if capacity_type not in LAUNCH_CAPACITY_TYPES:
            raise InvalidInput(f"unknown capacity type {capacity_type!r}", field="capacity_type")
        offer: Offering | Pool
        if capacity_type == RESERVED:
            offer = self._adoptable_reservation(instance_type, zone, capacity_reservation_id)
        else:
            offers = self.catalog.get(instance_type).offerings_for([capacity_type], [zone], available_only=False)
            if not offers:
                raise InvalidInput(f"{instance_type} is not offered as {capacity_type} in {zone}", field="zone")
            offer = offers[0]
        ready_at = now
        if not ready:
            ready_at = now + self.settings.registered_to_ready.sample(self._rng)
            self._lifecycle.schedule(instance_id, {READY: ready_at})
        instance = Instance(
            instance_id=instance_id, instance_type=instance_type, zone=zone, zone_id=offer.zone_id,
            capacity_type=capacity_type, price=offer.price, state=RUNNING, launch_time=now, running_at=now,
            registered_at=now, ready_at=ready_at, private_ip=private_ip, private_dns_name=private_dns_name,
            tags=dict(tags or {}), registered=True, ready=ready,
            capacity_reservation_id=capacity_reservation_id if capacity_type == RESERVED else None)
        if instance.capacity_reservation_id is not None:
            self._reservations.hold(instance.capacity_reservation_id, instance_id, now)
        self._instances[instance_id] = instance
        self._vcpus_in_use[_quota_class(capacity_type)] += self.catalog.get(instance_type).vcpu
        if capacity_type == SPOT:
            self._spot.on_launch(instance_id, now, offer.interruption_bucket)
        return instance

    def _adoptable_reservation(self, instance_type: str, zone: str, reservation_id: str | None) -> Pool:
        if reservation_id is None:
            raise InvalidInput("a reserved instance needs the capacity reservation it runs in",
                               field="capacity_reservation_id")
        r = self._reservations.get(reservation_id)
        if (r.instance_type, r.zone) != (instance_type, zone):
            raise InvalidInput(f"capacity reservation {reservation_id} is for {r.instance_type} in {r.zone}, "
                               f"not {instance_type} in {zone}", field="capacity_reservation_id")
        if self._reservations.available(reservation_id) <= 0:
            raise InvalidInput(f"capacity reservation {reservation_id} is full ({r.count} instances)",
                               field="capacity_reservation_id")
        return Pool(instance_type, zone, r.zone_id, RESERVED, r.price, None, 0, reservation_id)

    def _consume(self, pool: Pool) -> None:
        left = self._pool_capacity.get(pool.key)
        if left is not None:
            self._pool_capacity[pool.key] = left - 1
        if pool.capacity_type == SPOT:
            self._depths.take(pool)
        self._vcpus_in_use[_quota_class(pool.capacity_type)] += self.catalog.get(pool.instance_type).vcpu

    def _next_id(self) -> str:
        self._launched += 1
        return f"i-0{_mix64((self._id_base + self._launched) & _MASK64):016x}"

    # ── TerminateInstances and reads ────────────────────────────────────────────────────────────────

    def terminate(self, now: float, instance_id: str) -> Instance:
        """Start terminating an instance (idempotent, like TerminateInstances).

        Boot milestones not reached by ``now`` are cancelled; the instance is ``shutting-down`` until a
        sampled delay later, then ``terminated``.

        Raises:
            CloudError: ``InvalidInstanceID.NotFound`` for an unknown id, or an injected failure.
        """
        self._enter(TERMINATE_INSTANCES, now, {"instance_id": instance_id})
        instance = self.get(instance_id)
        if instance.state in (SHUTTING_DOWN, TERMINATED):
            return instance
        self._spot.cancel(instance_id)  # a terminated instance is not interrupted later
        return self._shut_down(instance, now)

    def _shut_down(self, instance: Instance, now: float) -> Instance:
        """Move a pending or running instance to ``shutting-down`` at ``now`` and plan its termination."""
        instance_id = instance.instance_id
        # Milestones already past by now did happen (due() still reports them); later ones never will.
        planned = {RUNNING: instance.running_at, REGISTERED: instance.registered_at, READY: instance.ready_at}
        self._lifecycle.cancel(instance_id, [w for w, at in planned.items() if at is not None and at > now])
        times = plan(TERMINATION_STEPS, SHUTTING_DOWN, now, self.settings, self._rng)
        self._lifecycle.schedule(instance_id, times)
        changed = replace(
            instance, state=SHUTTING_DOWN, shutting_down_at=now, terminated_at=times[TERMINATED],
            running_at=_if_reached(instance.running_at, now),
            registered_at=_if_reached(instance.registered_at, now),
            ready_at=_if_reached(instance.ready_at, now),
        )
        self._instances[instance_id] = changed
        self._vcpus_in_use[_quota_class(instance.capacity_type)] -= self.catalog.get(instance.instance_type).vcpu
        self._reservations.release(instance_id, now)  # EC2 frees the slot once the instance stops running
        return changed

    def get(self, instance_id: str) -> Instance:
        """The instance with this id (terminated ones stay visible).

        Raises:
            CloudError: ``InvalidInstanceID.NotFound``.
        """
        found = self._instances.get(instance_id)
        if found is None:
            raise CloudError(codes.INVALID_INSTANCE_ID_NOT_FOUND,
                             f"The instance ID '{instance_id}' does not exist")
        return found

    def instances(self, states: Collection[str] | None = None) -> list[Instance]:
        """Instances in launch order, optionally only those in ``states``."""
        return [i for i in self._instances.values() if states is None or i.state in states]

    # ── time ────────────────────────────────────────────────────────────────────────────────────────

    def due(self, now: float) -> list[Transition]:
        """Apply and return every transition due by ``now``, earliest first.

        Spot reclaims due by ``now`` are applied first (at their own time), so a reclaimed instance never
        reaches a boot milestone planned after its reclaim.
        """
        self._advance_spot(now)
        transitions = self._lifecycle.due(now)
        for t in transitions:
            self._instances[t.instance_id] = _apply(self._instances[t.instance_id], t.what)
        return transitions

    def next_due(self) -> float | None:
        """When the next transition is due (None: nothing scheduled), so a controller can requeue then."""
        return self._lifecycle.next_due()

    def notices(self, now: float) -> list[Notice]:
        """Pop the spot notices sent by ``now``, earliest first (each once), applying reclaims on the way.

        A reclaim moves the instance to ``shutting-down`` at its planned time and is reported as an
        ``instance_terminated`` notice. Notices of instances terminated by other means are never sent.
        """
        self._advance_spot(now)
        out, self._outbox = self._outbox, []
        return out

    def next_notice_at(self) -> float | None:
        """When the next notice is sent (None: none planned), so a controller can requeue exactly then."""
        if self._outbox:
            return self._outbox[0].at
        return self._spot.next_at()

    def _advance_spot(self, now: float) -> None:
        for notice in self._spot.due(now):
            instance = self._instances[notice.instance_id]
            if instance.state in (SHUTTING_DOWN, TERMINATED):
                continue  # terminate() cancels notices; this guards a forced plan on a dying instance
            if notice.kind == INSTANCE_TERMINATED:
                self._shut_down(instance, notice.at)
            self._outbox.append(notice)

    # ── money ───────────────────────────────────────────────────────────────────────────────────────

    def price_per_hour(self, instance: Instance) -> float:
        """USD per hour of ``instance``."""
        return price_per_hour(instance)

    def cost(self, now: float) -> float:
        """USD billed up to ``now``: instances per second (60-second minimum, see module doc), except those in
        a capacity reservation, which are paid for by the reservation's own charge (every slot, used or not)."""
        floor = self.settings.min_billed_seconds
        own = sum(i.price * billed_seconds(i, now, floor) / 3600.0 for i in self._instances.values()
                  if i.capacity_reservation_id is None)
        return own + self._reservations.cost(now)

    def hourly_rate(self) -> float:
        """USD per hour of everything live now: pending and running instances outside reservations, plus
        every reservation's slots."""
        od, spot = self.usage_rates()
        return sum(od.values()) + spot

    def usage_rates(self) -> tuple[dict[UsageKey, float], float]:
        """(on-demand USD/hour per usage key, spot USD/hour) of what is live now, reservations included."""
        od: dict[UsageKey, float] = {}
        spot = 0.0
        for i in self._instances.values():
            if i.state not in (PENDING, RUNNING) or i.capacity_reservation_id is not None:
                continue
            if i.capacity_type == SPOT:
                spot += i.price
            else:
                key = self._usage_key(i.instance_type, i.price)
                od[key] = od.get(key, 0.0) + i.price
        for r in self._reservations.reservations():
            key = self._usage_key(r.instance_type, r.price)
            od[key] = od.get(key, 0.0) + r.count * r.price
        return od, spot

    def hourly_usage(self, now: float) -> HourlyUsage:
        """Eligible on-demand usage per clock hour of [0, now) and the window's spot cost (``usage.py``)."""
        floor = self.settings.min_billed_seconds
        intervals: list[Interval] = []
        spot = 0.0
        for i in self._instances.values():
            if i.running_at is None or i.capacity_reservation_id is not None:
                continue
            if i.capacity_type == SPOT:
                spot += i.price * billed_seconds(i, now, floor) / 3600.0
                continue
            end = now if i.shutting_down_at is None else i.shutting_down_at
            intervals.append(Interval(self._usage_key(i.instance_type, i.price), i.running_at, end, 1, floor))
        for r in self._reservations.reservations():
            intervals.append(Interval(self._usage_key(r.instance_type, r.price), 0.0, now, r.count))
        return bucket(intervals, now, spot)

    def _usage_key(self, instance_type: str, rate: float) -> UsageKey:
        labels = self.catalog.get(instance_type).labels if instance_type in self.catalog else {}
        return UsageKey(instance_type, labels.get(FAMILY, instance_type.partition(".")[0]), rate)

    # ── capacity reservations ───────────────────────────────────────────────────────────────────────

    def describe_capacity_reservations(self) -> list[ReservationState]:
        """Every active reservation with its free slots (DescribeCapacityReservations), by id."""
        return self._reservations.describe()

    @property
    def reservations(self) -> ReservationBook:
        """The reservations' slots and use (read it; launches and terminations change it)."""
        return self._reservations


def _quota_class(capacity_type: str) -> str:
    """Instances in capacity reservations are on-demand instances: they count against on-demand quotas."""
    return ON_DEMAND if capacity_type == RESERVED else capacity_type


def _if_reached(at: float | None, now: float) -> float | None:
    return at if at is not None and at <= now else None


def _apply(instance: Instance, what: str) -> Instance:
    """The instance after milestone ``what``; boot milestones never undo a termination."""
    if what == RUNNING:
        return replace(instance, state=RUNNING) if instance.state == PENDING else instance
    if what == REGISTERED:
        return replace(instance, registered=True)
    if what == READY:
        return replace(instance, ready=True)
    if what == TERMINATED:
        return replace(instance, state=TERMINATED)
    raise ValueError(f"unknown transition {what!r}")
