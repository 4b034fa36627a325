"""Capacity, kube-reserved, eviction threshold and allocatable of an instance type, the Karpenter way.

Everything is computed from the raw DescribeInstanceTypes facts with the formulas of the behaviour spec
(section 3.3), never read from the pre-computed ``kp_*`` columns (tests use those as a cross-check).
Settings that change the numbers (operator flags, AMI family, EC2NodeClass ``kubelet`` block) are
collected in ``CapacitySettings``; the defaults reproduce Karpenter's defaults.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction

from ekstwin.catalog._tables import TypeRow
from ekstwin.errors import InvalidInput
from ekstwin.units import quantity
from ekstwin.units.resources import CPU, EPHEMERAL, MEMORY, PODS, Resources

MIB = 2**20
GIB = 2**30

NVIDIA_GPU = "nvidia.com/gpu"
AMD_GPU = "amd.com/gpu"
HABANA_GAUDI = "habana.ai/gaudi"
AWS_NEURON = "aws.amazon.com/neuron"
AWS_NEURON_CORE = "aws.amazon.com/neuroncore"
POD_ENI = "vpc.amazonaws.com/pod-eni"
PRIVATE_IPV4 = "vpc.amazonaws.com/PrivateIPv4Address"

LINUX_FAMILIES = ("AL2", "AL2023", "Bottlerocket", "Custom")
WINDOWS_FAMILIES = ("Windows2019", "Windows2022", "Windows2025")
# Families whose kube-reserved memory uses the ENI-limited pod count even when maxPods is overridden.
_ENI_RESERVED_FAMILIES = ("AL2", "AL2023", "Custom")

_GPU_RESOURCES = {"nvidia": NVIDIA_GPU, "amd": AMD_GPU, "habana": HABANA_GAUDI}
_RESERVED_KEYS = (CPU, MEMORY, EPHEMERAL, "pid")
# Eviction signals that reduce allocatable, and the resource each one is measured against.
_EVICTION_SIGNALS = {"memory.available": MEMORY, "nodefs.available": EPHEMERAL}
_OTHER_SIGNALS = ("nodefs.inodesFree", "imagefs.available", "imagefs.inodesFree", "pid.available")


@dataclass(frozen=True, slots=True)
class CapacitySettings:
    """Inputs that change advertised capacity/allocatable; defaults are Karpenter's defaults.

    ``kube_reserved``/``system_reserved`` are Kubernetes resource lists (``{"cpu": "100m"}``) that
    replace the computed value key by key; ``eviction_hard`` maps eviction signals to a quantity or a
    percentage of capacity (``{"memory.available": "5%"}``), ``"100%"`` disabling the threshold.
    ``root_volume_size`` is the ephemeral-storage capacity (default 20Gi, 50Gi for Windows).
    """

    vm_memory_overhead_percent: float = 0.075
    reserved_enis: int = 0
    ami_family: str = "AL2023"
    max_pods: int | None = None
    pods_per_core: int | None = None
    kube_reserved: Mapping[str, str] | None = None
    system_reserved: Mapping[str, str] | None = None
    eviction_hard: Mapping[str, str] | None = None
    root_volume_size: str | None = None

    def __post_init__(self) -> None:
        self._check_scalars()
        self._check_lists()

    def _check_scalars(self) -> None:
        if self.ami_family not in LINUX_FAMILIES + WINDOWS_FAMILIES:
            choices = ", ".join(LINUX_FAMILIES + WINDOWS_FAMILIES)
            raise InvalidInput(f"unknown AMI family {self.ami_family!r}; valid: {choices}",
                               field="ami_family")
        if not 0 <= self.vm_memory_overhead_percent < 1:
            raise InvalidInput("must be in [0, 1)", field="vm_memory_overhead_percent")
        if self.reserved_enis < 0:
            raise InvalidInput("must be >= 0", field="reserved_enis")
        for name in ("max_pods", "pods_per_core"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise InvalidInput("must be >= 0", field=name)
        if self.root_volume_size is not None:
            _check_parses(quantity.parse, self.root_volume_size, "root_volume_size")

    def _check_lists(self) -> None:
        _check_keys(self.kube_reserved, _RESERVED_KEYS, "kube_reserved")
        _check_keys(self.system_reserved, _RESERVED_KEYS, "system_reserved")
        _check_keys(self.eviction_hard, tuple(_EVICTION_SIGNALS) + _OTHER_SIGNALS, "eviction_hard")
        # Parse every quantity now so a typo is reported where the settings are made, with its field.
        for field, raw in (("kube_reserved", self.kube_reserved), ("system_reserved", self.system_reserved)):
            for key, value in (raw or {}).items():
                _check_parses(quantity.parse, value, f"{field}.{key}")
        for signal, value in (self.eviction_hard or {}).items():
            _check_parses(lambda v: _signal_amount(v, 0), value, f"eviction_hard.{signal}")

    @property
    def is_windows(self) -> bool:
        return self.ami_family in WINDOWS_FAMILIES


def _check_keys(values: Mapping[str, str] | None, allowed: tuple[str, ...], field: str) -> None:
    for key in values or {}:
        if key not in allowed:
            raise InvalidInput(f"unknown key {key!r}; valid: {', '.join(allowed)}", field=f"{field}.{key}")


def _check_parses(parse: Callable[[str], object], value: str, field: str) -> None:
    try:
        parse(value)
    except InvalidInput as err:
        raise err.located(field_prefix=field) from err
    except (ValueError, ZeroDivisionError) as err:
        raise InvalidInput(f"not a quantity or percentage: {err}", field=field) from err


DEFAULT_SETTINGS = CapacitySettings()


@dataclass(frozen=True, slots=True)
class Sizing:
    """The resource lists Karpenter derives for one type under one set of settings."""

    capacity: Resources
    kube_reserved: Resources
    system_reserved: Resources
    eviction_threshold: Resources
    allocatable: Resources


def memory_capacity_mib(row: TypeRow, overhead_percent: float) -> int:
    """Memory capacity in MiB: the VM overhead is taken off, and on arm64 the 64 MiB CMA reservation."""
    mib = row.memory_mib - 64 if row.arch == "arm64" else row.memory_mib
    # Karpenter computes the overhead in float64 on bytes and rounds up to whole MiB; doing the same
    # arithmetic keeps the result identical where M'·overhead is (nearly) an integer.
    overhead = math.ceil(float(mib * MIB) * overhead_percent / MIB)
    return mib - overhead


def eni_limited_pods(row: TypeRow, reserved_enis: int) -> int:
    """ENIs of the default network card × (IPv4 per ENI − 1) + 2; 0 when no ENI is left for pods."""
    enis = row.default_card_max_enis - reserved_enis
    if enis <= 0:
        return 0
    return enis * (row.ipv4_per_eni - 1) + 2


def pods_capacity(row: TypeRow, settings: CapacitySettings) -> int:
    """The ``pods`` capacity: maxPods, else ENI-limited (Linux) or 110 (Windows), then podsPerCore."""
    if settings.max_pods is not None:
        count = settings.max_pods
    elif settings.is_windows:
        count = 110
    else:
        count = eni_limited_pods(row, settings.reserved_enis)
    # Bottlerocket ignores podsPerCore, so Karpenter does not apply it there.
    if settings.pods_per_core and settings.ami_family != "Bottlerocket":
        count = min(settings.pods_per_core * row.vcpu, count)
    return count


def _root_volume_bytes(settings: CapacitySettings) -> int:
    if settings.root_volume_size is not None:
        return quantity.whole(settings.root_volume_size)
    return 50 * GIB if settings.is_windows else 20 * GIB


def extended_resources(row: TypeRow, settings: CapacitySettings) -> dict[str, int]:
    """Device and network resources the type advertises (EFA is left out: only shown when requested)."""
    out: dict[str, int] = {}
    gpu_resource = _GPU_RESOURCES.get(row.gpu_manufacturer)
    if gpu_resource and row.gpu_count:
        out[gpu_resource] = row.gpu_count
    if row.neuron_device_count:
        out[AWS_NEURON] = row.neuron_device_count
        out[AWS_NEURON_CORE] = row.neuron_core_count
    if row.branch_enis:
        out[POD_ENI] = row.branch_enis
    if settings.is_windows:
        out[PRIVATE_IPV4] = max(row.ipv4_per_eni - 1, 0)
    return out


def capacity(row: TypeRow, settings: CapacitySettings) -> Resources:
    """Everything the node will report as capacity."""
    values = {
        CPU: row.vcpu * 1000,
        MEMORY: memory_capacity_mib(row, settings.vm_memory_overhead_percent) * MIB,
        PODS: pods_capacity(row, settings),
        EPHEMERAL: _root_volume_bytes(settings),
    }
    values.update(extended_resources(row, settings))
    return Resources(values)


# (first millicore of the tier, last millicore or None if open-ended, reserved share as num/den).
_CPU_TIERS: tuple[tuple[int, int | None, int, int], ...] = (
    (0, 1000, 6, 100),
    (1000, 2000, 1, 100),
    (2000, 4000, 5, 1000),
    (4000, None, 25, 10000),
)


def kube_reserved_cpu_m(cpu_m: int) -> int:
    """Tiered CPU reservation: 6%, 1%, 0.5%, 0.25% of successive slices, each slice truncated."""
    total = 0
    for start, end, num, den in _CPU_TIERS:
        if cpu_m <= start:
            break
        width = cpu_m - start if end is None or cpu_m < end else end - start
        total += width * num // den
    return total


def _reserved_memory_pods(row: TypeRow, settings: CapacitySettings, pods: int) -> int:
    # Since v1.6 AL2/AL2023/Custom size the reservation on the ENI-limited count with no reserved ENIs,
    # whatever maxPods says; other families use the advertised pod count.
    if settings.ami_family in _ENI_RESERVED_FAMILIES:
        return eni_limited_pods(row, 0)
    return pods


def kube_reserved(row: TypeRow, settings: CapacitySettings, pods: int) -> Resources:
    """Default kube-reserved, with any key of ``settings.kube_reserved`` replacing the default."""
    values = {
        CPU: kube_reserved_cpu_m(row.vcpu * 1000),
        MEMORY: (11 * _reserved_memory_pods(row, settings, pods) + 255) * MIB,
        EPHEMERAL: 1 * GIB,
    }
    values.update(_parse_reserved(settings.kube_reserved))
    return Resources(values)


def _parse_reserved(raw: Mapping[str, str] | None) -> dict[str, int]:
    # ``pid`` is a kubelet reservation of process ids, not a schedulable resource: it never reaches
    # capacity, so it is left out of the arithmetic.
    parsed = Resources.parse({k: v for k, v in (raw or {}).items() if k != "pid"})
    return dict(parsed.items())


@functools.cache
def _percent(text: str) -> Fraction:
    percent = Fraction(text.strip())
    if not 0 <= percent <= 100:
        raise ValueError(f"percentage {text}% is outside 0..100")
    return percent


def _signal_amount(value: str, capacity_amount: int) -> int:
    if value.endswith("%"):
        percent = _percent(value[:-1])
        if percent == 100:  # the kubelet reads 100% as "threshold disabled"
            return 0
        return math.ceil(capacity_amount * percent / 100)
    return quantity.whole(value)


def eviction_threshold(cap: Resources, settings: CapacitySettings) -> Resources:
    """Hard eviction reserve: memory 100Mi and nodefs 10% by default, ``eviction_hard`` overriding."""
    signals = {"memory.available": "100Mi", "nodefs.available": "10%"}
    signals.update(settings.eviction_hard or {})
    values: dict[str, int] = {}
    for signal, resource in _EVICTION_SIGNALS.items():
        # Values were validated when the settings were built.
        values[resource] = _signal_amount(signals[signal], cap[resource])
    return Resources(values)


def sizing(row: TypeRow, settings: CapacitySettings) -> Sizing:
    """Capacity, the three overheads and allocatable (capacity minus overheads, floored at 0)."""
    cap = capacity(row, settings)
    kube = kube_reserved(row, settings, cap[PODS])
    system = Resources(_parse_reserved(settings.system_reserved))
    eviction = eviction_threshold(cap, settings)
    overhead = kube + system + eviction
    # Overheads larger than capacity leave nothing rather than a negative amount.
    alloc = Resources({k: max(v - overhead[k], 0) for k, v in cap.items()})
    return Sizing(cap, kube, system, eviction, alloc)
