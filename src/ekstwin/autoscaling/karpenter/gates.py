"""Karpenter feature gates whose default depends on the release being reproduced.

``FEATURE_GATES`` defaults of Karpenter v1 are all off except ``ReservedCapacity``: introduced alpha (off) in
v1.3 with native On-Demand Capacity Reservation support, promoted to beta and on by default in v1.6
(kubernetes-sigs/karpenter#2365, "chore: promote ReservedCapacity feature gate to beta"; the settings page of
the docs lists it as beta from v1.6). A gate that a release does not have cannot be turned on there.
"""

from __future__ import annotations

from collections.abc import Mapping

from ekstwin.autoscaling.karpenter.disruption.methods import version_tuple

RESERVED_CAPACITY = "ReservedCapacity"

# gate → (first release that has it, first release where it is on by default, or None: still off)
_HISTORY: dict[str, tuple[tuple[int, int], tuple[int, int] | None]] = {
    RESERVED_CAPACITY: ((1, 3), (1, 6)),
}


def exists(name: str, version: str) -> bool:
    """False for a gate the release predates (gates without recorded history exist in every v1 release)."""
    history = _HISTORY.get(name)
    return history is None or version_tuple(version) >= history[0]


def introduced(name: str) -> str | None:
    """``v1.3``-style release that introduced the gate, when recorded."""
    history = _HISTORY.get(name)
    return None if history is None else f"v{history[0][0]}.{history[0][1]}"


def default(name: str, version: str) -> bool:
    """The gate's default in that release."""
    history = _HISTORY.get(name)
    if history is None or history[1] is None:
        return False
    return version_tuple(version) >= history[1]


def enabled(gates: Mapping[str, bool], name: str, version: str) -> bool:
    """The gate's value: as set, else the release's default; never on in a release without it."""
    if not exists(name, version):
        return False
    return bool(gates.get(name, default(name, version)))
