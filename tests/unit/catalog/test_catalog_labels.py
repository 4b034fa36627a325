"""Well-known labels derived from each instance type (behaviour spec 3.1)."""

from __future__ import annotations

import pytest

from ekstwin.catalog import CapacitySettings
from ekstwin.catalog._tables import INSTANCE_TYPES, read_csv, type_rows
from ekstwin.catalog.instance_types import (
    ACCELERATOR_COUNT,
    ACCELERATOR_NAME,
    CATEGORY,
    GENERATION,
    GPU_COUNT,
    GPU_MEMORY,
    GPU_NAME,
    HYPERVISOR,
    NETWORK_BANDWIDTH,
    OS,
    category_generation,
    type_labels,
)


def labels(name: str, **overrides: str) -> dict[str, str]:
    return type_labels(type_rows()[name], CapacitySettings(**overrides))  # type: ignore[arg-type]


@pytest.mark.parametrize(("name", "expected"), [
    ("m5d.large", ("m", "5")),
    ("c7gn.xlarge", ("c", "7")),
    ("c7i-flex.large", ("c", "7")),
    ("u-6tb1.metal", ("u", "1")),
    ("r8gd.2xlarge", ("r", "8")),
    ("mac2-m2pro.metal", ("mac", "2")),
])
def test_category_and_generation_come_from_the_name(name: str, expected: tuple[str, str]) -> None:
    assert category_generation(name) == expected


def test_a_name_without_a_generation_has_no_category() -> None:
    assert category_generation("mac-m4.metal") is None


def test_category_and_generation_agree_with_the_table_for_every_type() -> None:
    disagreements = [
        (raw["name"], category_generation(raw["name"]), (raw["category"], raw["generation"]))
        for raw in read_csv(INSTANCE_TYPES)
        if (category_generation(raw["name"]) or ("", "")) != (raw["category"], raw["generation"])
    ]
    assert disagreements == []


def test_m5_large_has_the_identity_labels() -> None:
    got = labels("m5.large")
    assert {k: got[k] for k in ("node.kubernetes.io/instance-type", "kubernetes.io/arch",
                                "karpenter.k8s.aws/instance-family", "karpenter.k8s.aws/instance-size",
                                "karpenter.k8s.aws/instance-cpu", "karpenter.k8s.aws/instance-memory",
                                OS, CATEGORY, GENERATION)} == {
        "node.kubernetes.io/instance-type": "m5.large", "kubernetes.io/arch": "amd64",
        "karpenter.k8s.aws/instance-family": "m5", "karpenter.k8s.aws/instance-size": "large",
        "karpenter.k8s.aws/instance-cpu": "2", "karpenter.k8s.aws/instance-memory": "8192",
        OS: "linux", CATEGORY: "m", GENERATION: "5"}


def test_bare_metal_has_no_hypervisor_label() -> None:
    assert HYPERVISOR not in labels("m5.metal")
    assert labels("m5.large")[HYPERVISOR] == "nitro"


def test_network_bandwidth_label_is_absent_when_unknown() -> None:
    unknown = next(r for r in type_rows().values()
                   if r.karpenter_eligible and r.network_bandwidth_mbps is None)
    assert NETWORK_BANDWIDTH not in labels(unknown.name)
    assert labels("m5.large")[NETWORK_BANDWIDTH] == "750"


def test_gpu_types_carry_gpu_labels() -> None:
    got = labels("p4d.24xlarge")
    assert (got[GPU_NAME], got[GPU_COUNT], got[GPU_MEMORY]) == ("a100", "8", "40960")


def test_neuron_types_carry_accelerator_labels() -> None:
    got = labels("inf2.xlarge")
    assert (got[ACCELERATOR_NAME], got[ACCELERATOR_COUNT]) == ("inferentia2", "1")
    assert GPU_NAME not in got


def test_windows_ami_family_sets_the_os_label() -> None:
    assert labels("m5.large", ami_family="Windows2022")[OS] == "windows"
