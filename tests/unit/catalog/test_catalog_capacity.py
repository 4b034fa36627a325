"""Capacity, overheads and allocatable follow Karpenter's formulas (behaviour spec 3.3)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ekstwin.catalog import CapacitySettings
from ekstwin.catalog._tables import INSTANCE_TYPES, read_csv, type_rows
from ekstwin.catalog.capacity import (
    AWS_NEURON,
    NVIDIA_GPU,
    POD_ENI,
    PRIVATE_IPV4,
    kube_reserved_cpu_m,
    sizing,
)
from ekstwin.errors import InvalidInput
from ekstwin.units.resources import Resources

MI = 2**20
GI = 2**30


def allocatable(name: str, **overrides: object) -> Resources:
    return sizing(type_rows()[name], CapacitySettings(**overrides)).allocatable  # type: ignore[arg-type]


def capacity(name: str, **overrides: object) -> Resources:
    return sizing(type_rows()[name], CapacitySettings(**overrides)).capacity  # type: ignore[arg-type]


def test_m5_large_allocatable_matches_karpenter_docs() -> None:
    # 2 vCPU: 2000 - (60 + 10) = 1930m. 8192 - ceil(614.4) = 7577Mi; pods 3*(10-1)+2 = 29;
    # 7577 - (11*29 + 255) - 100 = 6903Mi. Ephemeral 20Gi - 1Gi - 2Gi = 17Gi. 9 branch ENIs.
    assert allocatable("m5.large") == {"cpu": 1930, "memory": 6903 * MI, "pods": 29,
                                       "ephemeral-storage": 17 * GI, POD_ENI: 9}


def test_c7g_xlarge_allocatable_takes_the_graviton_reservation_off_memory() -> None:
    # arm64: M' = 8192 - 64 = 8128, - ceil(609.6) = 7518Mi; pods 4*14+2 = 58;
    # 7518 - (11*58 + 255) - 100 = 6525Mi; cpu 4000 - 80 = 3920m.
    alloc = allocatable("c7g.xlarge")
    assert (alloc["cpu"], alloc["memory"], alloc["pods"]) == (3920, 6525 * MI, 58)


def test_m5_2xlarge_allocatable() -> None:
    # 8 vCPU: 8000 - 90 = 7910m. 32768 - ceil(2457.6) = 30310Mi; pods 4*14+2 = 58;
    # 30310 - 893 - 100 = 29317Mi.
    alloc = allocatable("m5.2xlarge")
    assert (alloc["cpu"], alloc["memory"], alloc["pods"], alloc[POD_ENI]) == (7910, 29317 * MI, 58, 38)


def test_c6i_2xlarge_allocatable() -> None:
    # 16384 - ceil(1228.8) = 15155Mi; 15155 - 893 - 100 = 14162Mi; cpu 7910m; 58 pods.
    alloc = allocatable("c6i.2xlarge")
    assert (alloc["cpu"], alloc["memory"], alloc["pods"]) == (7910, 14162 * MI, 58)


def test_r6g_large_allocatable_with_an_exact_overhead_product() -> None:
    # arm64: 16384 - 64 = 16320; 16320 * 0.075 = 1224 exactly, so 15096Mi; 29 pods;
    # 15096 - 574 - 100 = 14422Mi; cpu 1930m.
    alloc = allocatable("r6g.large")
    assert (alloc["cpu"], alloc["memory"], alloc["pods"]) == (1930, 14422 * MI, 29)


def test_every_eligible_type_matches_the_precomputed_karpenter_columns() -> None:
    mismatches = []
    for raw in read_csv(INSTANCE_TYPES):
        if raw["karpenter_eligible"] != "true":
            continue
        size = sizing(type_rows()[raw["name"]], CapacitySettings())
        got = (size.capacity["memory"] // MI, size.capacity["pods"], size.kube_reserved["cpu"],
               size.kube_reserved["memory"] // MI, size.allocatable["cpu"], size.allocatable["memory"] // MI,
               size.allocatable["pods"])
        want = tuple(int(raw[c]) for c in (
            "kp_capacity_memory_mib", "kp_max_pods", "kp_kube_reserved_cpu_m", "kp_kube_reserved_memory_mib",
            "kp_allocatable_cpu_m", "kp_allocatable_memory_mib", "kp_max_pods"))
        if got != want:
            mismatches.append((raw["name"], got, want))
    assert mismatches == []


@pytest.mark.parametrize(("vcpu", "reserved_m"), [
    (1, 60), (2, 70), (4, 80), (8, 90), (16, 110), (32, 150), (48, 190), (64, 230), (96, 310), (192, 550),
])
def test_kube_reserved_cpu_follows_the_tiers(vcpu: int, reserved_m: int) -> None:
    assert kube_reserved_cpu_m(vcpu * 1000) == reserved_m


def test_max_pods_override_sets_pods_but_not_the_reserved_memory_basis() -> None:
    size = sizing(type_rows()["m5.large"], CapacitySettings(max_pods=110))
    assert size.capacity["pods"] == 110
    # AL2023 still sizes kube-reserved memory on the 29 ENI-limited pods.
    assert size.kube_reserved["memory"] == (11 * 29 + 255) * MI


def test_pods_per_core_caps_the_pod_count() -> None:
    # m5.2xlarge has 58 ENI-limited pods; 4 per core × 8 vCPU = 32.
    assert capacity("m5.2xlarge", pods_per_core=4)["pods"] == 32


def test_pods_per_core_is_ignored_on_bottlerocket() -> None:
    assert capacity("m5.2xlarge", pods_per_core=4, ami_family="Bottlerocket")["pods"] == 58


def test_bottlerocket_reserves_memory_for_the_advertised_pods() -> None:
    size = sizing(type_rows()["m5.large"], CapacitySettings(max_pods=110, ami_family="Bottlerocket"))
    assert size.kube_reserved["memory"] == (11 * 110 + 255) * MI


def test_reserved_enis_lower_pods_but_not_the_reserved_memory() -> None:
    size = sizing(type_rows()["m5.large"], CapacitySettings(reserved_enis=1))
    assert size.capacity["pods"] == 2 * 9 + 2
    assert size.kube_reserved["memory"] == (11 * 29 + 255) * MI


def test_reserving_every_eni_leaves_no_pods() -> None:
    assert capacity("m5.large", reserved_enis=3)["pods"] == 0


def test_windows_advertises_110_pods_and_private_ipv4_addresses() -> None:
    cap = capacity("m5.large", ami_family="Windows2022")
    assert (cap["pods"], cap[PRIVATE_IPV4], cap["ephemeral-storage"]) == (110, 9, 50 * GI)


def test_kube_reserved_override_replaces_only_the_given_key() -> None:
    size = sizing(type_rows()["m5.large"], CapacitySettings(kube_reserved={"cpu": "200m"}))
    assert (size.kube_reserved["cpu"], size.kube_reserved["memory"]) == (200, 574 * MI)
    assert size.allocatable["cpu"] == 1800


def test_system_reserved_is_subtracted() -> None:
    assert allocatable("m5.large", system_reserved={"memory": "100Mi"})["memory"] == 6803 * MI


def test_eviction_hard_percentage_is_of_capacity_rounded_up() -> None:
    size = sizing(type_rows()["m5.large"], CapacitySettings(eviction_hard={"memory.available": "5%"}))
    assert size.eviction_threshold["memory"] == -(-7577 * MI * 5 // 100)


def test_eviction_hard_of_100_percent_disables_the_threshold() -> None:
    size = sizing(type_rows()["m5.large"], CapacitySettings(eviction_hard={"nodefs.available": "100%"}))
    assert size.allocatable["ephemeral-storage"] == 19 * GI


def test_gpu_and_neuron_devices_are_extended_resources() -> None:
    assert capacity("p4d.24xlarge")[NVIDIA_GPU] == 8
    assert capacity("inf2.xlarge")[AWS_NEURON] == 1


def test_a_bad_quantity_in_settings_names_its_field() -> None:
    with pytest.raises(InvalidInput, match=r"kube_reserved\.memory"):
        CapacitySettings(kube_reserved={"memory": "lots"})


def test_an_unknown_ami_family_is_rejected() -> None:
    with pytest.raises(InvalidInput, match="ami_family"):
        CapacitySettings(ami_family="Ubuntu")


_ELIGIBLE = sorted(name for name, row in type_rows().items() if row.karpenter_eligible)
_settings = st.builds(
    CapacitySettings,
    vm_memory_overhead_percent=st.floats(0, 0.5),
    reserved_enis=st.integers(0, 4),
    ami_family=st.sampled_from(["AL2", "AL2023", "Bottlerocket", "Custom", "Windows2022"]),
    max_pods=st.none() | st.integers(0, 1000),
    pods_per_core=st.none() | st.integers(0, 50),
    kube_reserved=st.none() | st.fixed_dictionaries({"cpu": st.sampled_from(["0", "500m", "64"])}),
    system_reserved=st.none() | st.fixed_dictionaries({"memory": st.sampled_from(["1Gi", "2Ti"])}),
    eviction_hard=st.none() | st.fixed_dictionaries(
        {"memory.available": st.sampled_from(["0", "1%", "100%", "500Mi"])}),
)


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(_ELIGIBLE), capacity_settings=_settings)
def test_allocatable_never_exceeds_capacity(name: str, capacity_settings: CapacitySettings) -> None:
    size = sizing(type_rows()[name], capacity_settings)
    assert set(size.allocatable) <= set(size.capacity)
    for resource, amount in size.allocatable.items():
        assert 0 <= amount <= size.capacity[resource]
