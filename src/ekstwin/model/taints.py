"""Taints and tolerations with Kubernetes matching rules.

A toleration matches a taint when its effect is empty or equal, and either its key is empty with
operator ``Exists`` (tolerates everything) or keys are equal and (``Exists``, or ``Equal`` with equal value).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

NO_SCHEDULE, PREFER_NO_SCHEDULE, NO_EXECUTE = "NoSchedule", "PreferNoSchedule", "NoExecute"

# Taints Karpenter and the node lifecycle use
UNREGISTERED = "karpenter.sh/unregistered"
DISRUPTED = "karpenter.sh/disrupted"
NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
CLOUD_UNINITIALIZED = "node.cloudprovider.kubernetes.io/uninitialized"
# Taints Karpenter ignores on nodes that are not yet initialized (they are expected to go away).
KNOWN_EPHEMERAL = frozenset((NOT_READY, UNREACHABLE, CLOUD_UNINITIALIZED, UNREGISTERED))


@dataclass(frozen=True, slots=True)
class Taint:
    """A node taint."""

    key: str
    value: str
    effect: str

    @staticmethod
    def parse(raw: Mapping[str, Any]) -> Taint:
        """From a Kubernetes taint dict."""
        return Taint(str(raw.get("key", "")), str(raw.get("value", "") or ""), str(raw.get("effect", "")))

    def to_k8s(self) -> dict[str, str]:
        """Render as a Kubernetes taint dict (value omitted when empty)."""
        out = {"key": self.key, "effect": self.effect}
        if self.value:
            out["value"] = self.value
        return out

    def __str__(self) -> str:
        return f"{self.key}={self.value}:{self.effect}" if self.value else f"{self.key}:{self.effect}"


@dataclass(frozen=True, slots=True)
class Toleration:
    """A pod toleration."""

    key: str = ""
    operator: str = "Equal"
    value: str = ""
    effect: str = ""
    toleration_seconds: int | None = None

    @staticmethod
    def parse(raw: Mapping[str, Any]) -> Toleration:
        """From a Kubernetes toleration dict."""
        secs = raw.get("tolerationSeconds")
        return Toleration(str(raw.get("key", "") or ""), str(raw.get("operator", "Equal") or "Equal"),
                          str(raw.get("value", "") or ""), str(raw.get("effect", "") or ""),
                          int(secs) if secs is not None else None)

    def tolerates(self, taint: Taint) -> bool:
        """Kubernetes ``ToleratesTaint``."""
        if self.effect and self.effect != taint.effect:
            return False
        if not self.key:
            return self.operator == "Exists"
        if self.key != taint.key:
            return False
        if self.operator == "Exists":
            return True
        return self.value == taint.value


def tolerates_all(tolerations: Iterable[Toleration], taints: Iterable[Taint],
                  effects: frozenset[str] = frozenset((NO_SCHEDULE, NO_EXECUTE)),
                  ignore_keys: frozenset[str] = frozenset()) -> Taint | None:
    """Return the first taint with one of ``effects`` that no toleration tolerates, else None."""
    tols = tuple(tolerations)
    for t in taints:
        if t.effect not in effects or t.key in ignore_keys:
            continue
        if not any(tol.tolerates(t) for tol in tols):
            return t
    return None


def parse_taints(raw: Iterable[Mapping[str, Any]] | None) -> tuple[Taint, ...]:
    """Parse a list of taint dicts."""
    return tuple(Taint.parse(t) for t in raw or ())


def parse_tolerations(raw: Iterable[Mapping[str, Any]] | None) -> tuple[Toleration, ...]:
    """Parse a list of toleration dicts."""
    return tuple(Toleration.parse(t) for t in raw or ())
