"""Instance types and offerings as Karpenter sees them.

An ``InstanceType`` carries the single-valued well-known labels Karpenter derives from the type (the
requirements that end up as node labels), its capacity, the three overheads and allocatable. Zone and
capacity type are not labels of the type: they vary per ``Offering``.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from ekstwin.catalog._tables import TypeRow
from ekstwin.catalog.capacity import CapacitySettings, sizing
from ekstwin.units.resources import Resources

SPOT = "spot"
ON_DEMAND = "on-demand"
CAPACITY_TYPES = (SPOT, ON_DEMAND)

INSTANCE_TYPE = "node.kubernetes.io/instance-type"
ARCH = "kubernetes.io/arch"
OS = "kubernetes.io/os"
ZONE = "topology.kubernetes.io/zone"
ZONE_ID = "topology.k8s.aws/zone-id"
REGION = "topology.kubernetes.io/region"
CAPACITY_TYPE = "karpenter.sh/capacity-type"

_K = "karpenter.k8s.aws/"
FAMILY = _K + "instance-family"
SIZE = _K + "instance-size"
CATEGORY = _K + "instance-category"
GENERATION = _K + "instance-generation"
CPU = _K + "instance-cpu"
MEMORY = _K + "instance-memory"
CPU_MANUFACTURER = _K + "instance-cpu-manufacturer"
CPU_CLOCK = _K + "instance-cpu-sustained-clock-speed-mhz"
HYPERVISOR = _K + "instance-hypervisor"
ENCRYPTION_IN_TRANSIT = _K + "instance-encryption-in-transit-supported"
NETWORK_BANDWIDTH = _K + "instance-network-bandwidth"
EBS_BANDWIDTH = _K + "instance-ebs-bandwidth"
LOCAL_NVME = _K + "instance-local-nvme"
GPU_NAME = _K + "instance-gpu-name"
GPU_MANUFACTURER = _K + "instance-gpu-manufacturer"
GPU_COUNT = _K + "instance-gpu-count"
GPU_MEMORY = _K + "instance-gpu-memory"
ACCELERATOR_NAME = _K + "instance-accelerator-name"
ACCELERATOR_MANUFACTURER = _K + "instance-accelerator-manufacturer"
ACCELERATOR_COUNT = _K + "instance-accelerator-count"

# Karpenter's category/generation pattern: letters, an optional "-<n>tb" (u-6tb1), then the generation.
_CATEGORY_GENERATION = re.compile(r"(^[a-z]+)(\-[0-9]+tb)?([0-9]+).*\.")


@dataclass(frozen=True, slots=True)
class Offering:
    """One way to buy a type: a zone and a capacity type, with its hourly price.

    ``available`` is False when no price is known (Karpenter never launches an unpriced offering);
    such offerings carry ``price = inf``. ``interruption_bucket`` is the spot advisor bucket 0..4
    (<5%, 5-10%, 10-15%, 15-20%, >20% monthly interruptions), None for on-demand or when unknown.
    ``price_derived`` is True when the price was estimated rather than read from a table (see pricing).
    """

    zone: str
    zone_id: str
    capacity_type: str
    price: float
    available: bool
    interruption_bucket: int | None
    price_derived: bool = False


@dataclass(frozen=True, slots=True)
class InstanceType:
    """An EC2 instance type with Karpenter's labels, resource lists and offerings in one region."""

    name: str
    labels: dict[str, str]
    capacity: Resources
    kube_reserved: Resources
    system_reserved: Resources
    eviction_threshold: Resources
    allocatable: Resources
    offerings: tuple[Offering, ...]

    @property
    def arch(self) -> str:
        return self.labels[ARCH]

    @property
    def vcpu(self) -> int:
        return int(self.labels[CPU])

    @property
    def memory_mib(self) -> int:
        return int(self.labels[MEMORY])

    @property
    def capacity_types(self) -> tuple[str, ...]:
        """Capacity types that have at least one offering (available or not), in Karpenter's order."""
        present = {o.capacity_type for o in self.offerings}
        return tuple(c for c in CAPACITY_TYPES if c in present)

    def offerings_for(self, capacity_types: Collection[str] | None = None,
                      zones: Collection[str] | None = None, *,
                      available_only: bool = True) -> list[Offering]:
        """Offerings matching the capacity types and zones (None = any)."""
        return [
            o for o in self.offerings
            if (capacity_types is None or o.capacity_type in capacity_types)
            and (zones is None or o.zone in zones)
            and (o.available or not available_only)
        ]

    def cheapest_offering(self, capacity_types: Collection[str] | None = None,
                          zones: Collection[str] | None = None, *,
                          available_only: bool = True) -> Offering | None:
        """The lowest-priced matching offering; ties go to the earlier zone name, spot before on-demand."""
        matching = self.offerings_for(capacity_types, zones, available_only=available_only)
        if not matching:
            return None
        return min(matching, key=lambda o: (o.price, o.zone, CAPACITY_TYPES.index(o.capacity_type)))


def category_generation(name: str) -> tuple[str, str] | None:
    """``(category, generation)`` from a type name, or None when the name does not follow the pattern."""
    m = _CATEGORY_GENERATION.match(name)
    return (m.group(1), m.group(3)) if m else None


def _identity_labels(row: TypeRow, settings: CapacitySettings) -> dict[str, str]:
    family, _, size = row.name.partition(".")
    labels = {
        INSTANCE_TYPE: row.name,
        ARCH: row.arch,
        OS: "windows" if settings.is_windows else "linux",
        FAMILY: family,
        SIZE: size,
        CPU: str(row.vcpu),
        MEMORY: str(row.memory_mib),
        CPU_MANUFACTURER: row.cpu_manufacturer,
        ENCRYPTION_IN_TRANSIT: "true" if row.encryption_in_transit_supported else "false",
    }
    parts = category_generation(row.name)
    if parts:
        labels[CATEGORY], labels[GENERATION] = parts
    return labels


def _optional_labels(row: TypeRow) -> dict[str, str]:
    # Each of these is absent when EC2 publishes no value (bare-metal hypervisor, vague bandwidth class).
    candidates = {
        CPU_CLOCK: row.sustained_clock_mhz,
        HYPERVISOR: row.hypervisor or None,
        NETWORK_BANDWIDTH: row.network_bandwidth_mbps,
        EBS_BANDWIDTH: row.ebs_max_bandwidth_mbps,
        LOCAL_NVME: row.local_nvme_gb or None,
    }
    return {k: str(v) for k, v in candidates.items() if v is not None}


def _device_labels(row: TypeRow) -> dict[str, str]:
    labels: dict[str, str] = {}
    # The table fills the GPU name only when the type has a single GPU model, as Karpenter requires.
    if row.gpu_count and row.gpu_name:
        labels[GPU_NAME] = row.gpu_name
        labels[GPU_MANUFACTURER] = row.gpu_manufacturer
        labels[GPU_COUNT] = str(row.gpu_count)
        labels[GPU_MEMORY] = str(row.gpu_memory_mib)
    if row.neuron_device_count and row.neuron_device_name:
        labels[ACCELERATOR_NAME] = row.neuron_device_name
        labels[ACCELERATOR_MANUFACTURER] = "aws"
        labels[ACCELERATOR_COUNT] = str(row.neuron_device_count)
    return labels


def type_labels(row: TypeRow, settings: CapacitySettings) -> dict[str, str]:
    """All single-valued labels of a type (zone and capacity type excluded)."""
    return {**_identity_labels(row, settings), **_optional_labels(row), **_device_labels(row)}


def build_instance_type(row: TypeRow, settings: CapacitySettings,
                        offerings: tuple[Offering, ...]) -> InstanceType:
    """Assemble an ``InstanceType`` from its raw facts, the capacity settings and priced offerings."""
    size = sizing(row, settings)
    return InstanceType(
        name=row.name,
        labels=type_labels(row, settings),
        capacity=size.capacity,
        kube_reserved=size.kube_reserved,
        system_reserved=size.system_reserved,
        eviction_threshold=size.eviction_threshold,
        allocatable=size.allocatable,
        offerings=offerings,
    )

