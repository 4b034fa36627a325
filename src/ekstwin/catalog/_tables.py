"""Reading the packaged EC2 reference tables (``catalog/data/*.csv.gz``).

Each file is decompressed and parsed at most once per process: the raw rows are cached by file name, and
the typed views built on top of them (instance-type rows, per-region indexes) are cached as well, so a
second ``load_catalog`` for another region or zone set only pays for building that region's objects.
Only package data is read (``importlib.resources``); nothing outside the installed package is touched.
"""

from __future__ import annotations

import csv
import functools
import gzip
import io
from collections import defaultdict
from dataclasses import dataclass
from importlib import resources

INSTANCE_TYPES = "instance-types.csv.gz"
ON_DEMAND_PRICES = "on-demand-prices.csv.gz"
AZ_OFFERINGS = "az-offerings.csv.gz"
SPOT_ADVISOR = "spot-advisor.csv.gz"


@functools.cache
def read_csv(file_name: str) -> tuple[dict[str, str], ...]:
    """All rows of one packaged table as ``column -> text`` dicts (cached per file)."""
    blob = resources.files("ekstwin.catalog").joinpath("data", file_name).read_bytes()
    text = gzip.decompress(blob).decode("utf-8")
    return tuple(csv.DictReader(io.StringIO(text)))


def _int(text: str) -> int:
    """An integer cell where empty means 0 (counts such as GPUs or branch ENIs)."""
    return int(text) if text else 0


def _opt_int(text: str) -> int | None:
    """An integer cell where empty means unknown."""
    return int(text) if text else None


@dataclass(frozen=True, slots=True)
class TypeRow:
    """The raw facts of one instance type, typed; derived Karpenter values are computed elsewhere."""

    name: str
    vcpu: int
    memory_mib: int
    arch: str
    cpu_manufacturer: str
    sustained_clock_mhz: int | None
    hypervisor: str
    gpu_count: int
    gpu_name: str
    gpu_manufacturer: str
    gpu_memory_mib: int
    neuron_device_count: int
    neuron_device_name: str
    neuron_core_count: int
    default_card_max_enis: int
    ipv4_per_eni: int
    branch_enis: int
    network_bandwidth_mbps: int | None
    ebs_max_bandwidth_mbps: int | None
    local_nvme_gb: int
    usage_classes: tuple[str, ...]
    karpenter_eligible: bool
    encryption_in_transit_supported: bool


def _usage_classes(text: str) -> tuple[str, ...]:
    # The 5 g4ad rows come from Karpenter's docs, which do not list usage classes (empty cell = unknown).
    # Those types are sold as on-demand and spot (the spot advisor has rows for them), which is also
    # the common case for every current-generation type, so unknown means both.
    return tuple(text.split("|")) if text else ("on-demand", "spot")


def _type_row(raw: dict[str, str]) -> TypeRow:
    return TypeRow(
        name=raw["name"],
        vcpu=int(raw["vcpu"]),
        memory_mib=int(raw["memory_mib"]),
        arch=raw["arch"],
        cpu_manufacturer=raw["cpu_manufacturer"],
        sustained_clock_mhz=_opt_int(raw["sustained_clock_mhz"]),
        hypervisor=raw["hypervisor"],
        gpu_count=_int(raw["gpu_count"]),
        gpu_name=raw["gpu_name"],
        gpu_manufacturer=raw["gpu_manufacturer"],
        gpu_memory_mib=_int(raw["gpu_memory_mib"]),
        neuron_device_count=_int(raw["neuron_device_count"]),
        neuron_device_name=raw["neuron_device_name"],
        neuron_core_count=_int(raw["neuron_core_count"]),
        default_card_max_enis=_int(raw["default_card_max_enis"]),
        ipv4_per_eni=_int(raw["ipv4_per_eni"]),
        branch_enis=_int(raw["branch_enis"]),
        network_bandwidth_mbps=_opt_int(raw["network_bandwidth_mbps"]),
        ebs_max_bandwidth_mbps=_opt_int(raw["ebs_max_bandwidth_mbps"]),
        local_nvme_gb=_int(raw["local_nvme_gb"]),
        usage_classes=_usage_classes(raw["usage_classes"]),
        karpenter_eligible=raw["karpenter_eligible"] == "true",
        encryption_in_transit_supported=raw["encryption_in_transit_supported"] == "true",
    )


@functools.cache
def type_rows() -> dict[str, TypeRow]:
    """Every instance type of the table by name (eligible or not)."""
    return {raw["name"]: _type_row(raw) for raw in read_csv(INSTANCE_TYPES)}


@dataclass(frozen=True, slots=True)
class RegionZones:
    """The availability zones of one region and the types each zone offers."""

    zone_ids: dict[str, str]
    offered: dict[str, frozenset[str]]


@functools.cache
def az_offerings() -> dict[str, RegionZones]:
    """Zones, zone ids and offered types per region (the regions that have offering data)."""
    ids: dict[str, dict[str, str]] = defaultdict(dict)
    offered: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for raw in read_csv(AZ_OFFERINGS):
        ids[raw["region"]][raw["zone"]] = raw["zone_id"]
        offered[raw["region"]][raw["zone"]].add(raw["instance_type"])
    return {
        region: RegionZones(
            zone_ids=dict(sorted(ids[region].items())),
            offered={zone: frozenset(types) for zone, types in sorted(offered[region].items())},
        )
        for region in sorted(ids)
    }


@dataclass(frozen=True, slots=True)
class PriceRow:
    """One on-demand price; ``us_east_1_check`` tells whether libcloud agreed with Karpenter there."""

    usd_per_hour: float
    source: str
    us_east_1_check: str


@functools.cache
def on_demand_prices() -> dict[str, dict[str, PriceRow]]:
    """On-demand prices by region, then by instance type."""
    out: dict[str, dict[str, PriceRow]] = defaultdict(dict)
    for raw in read_csv(ON_DEMAND_PRICES):
        out[raw["region"]][raw["instance_type"]] = PriceRow(
            usd_per_hour=float(raw["usd_per_hour"]),
            source=raw["source"],
            us_east_1_check=raw["libcloud_us_east_1_check"],
        )
    return dict(out)


@dataclass(frozen=True, slots=True)
class AdvisorRow:
    """The spot advisor's view of one (region, type): savings over on-demand and interruption bucket."""

    savings_pct: int
    bucket: int


@functools.cache
def spot_advisor() -> dict[str, dict[str, AdvisorRow]]:
    """Spot advisor rows by region, then by instance type."""
    out: dict[str, dict[str, AdvisorRow]] = defaultdict(dict)
    for raw in read_csv(SPOT_ADVISOR):
        out[raw["region"]][raw["instance_type"]] = AdvisorRow(
            savings_pct=int(raw["savings_over_ondemand_pct"]),
            bucket=int(raw["interruption_bucket"]),
        )
    return dict(out)


def family_of(name: str) -> str:
    """The instance family: the text before the first dot (``c7i-flex`` for ``c7i-flex.large``)."""
    return name.split(".", 1)[0]
