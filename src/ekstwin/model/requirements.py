"""Node-selector requirement algebra, as Karpenter uses it for NodePools, NodeClaims, pods and types.

A ``Requirement`` is a (possibly complemented) set of values for one label key, optionally bounded by
integer ``Gt``/``Lt`` limits. ``Requirements`` maps keys to requirements; adding the same key twice
intersects. ``compatible`` and ``intersects`` implement Karpenter's pod-vs-node compatibility rules:
undefined well-known keys are allowed, undefined custom keys are not (unless the pod's operator is
negative), and two negative operators never conflict.

Pure values: nothing here reads the clock or does I/O. ``Requirement`` is hashable so callers can cache
per-requirement results (e.g. the instance-type mask in the catalog index).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ekstwin.errors import InvalidInput

IN, NOT_IN, EXISTS, DOES_NOT_EXIST, GT, LT = "In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"
OPERATORS = (IN, NOT_IN, EXISTS, DOES_NOT_EXIST, GT, LT)

# Label keys -----------------------------------------------------------------------------------------
ZONE = "topology.kubernetes.io/zone"
REGION = "topology.kubernetes.io/region"
ZONE_ID = "topology.k8s.aws/zone-id"
INSTANCE_TYPE = "node.kubernetes.io/instance-type"
ARCH = "kubernetes.io/arch"
OS = "kubernetes.io/os"
HOSTNAME = "kubernetes.io/hostname"
CAPACITY_TYPE = "karpenter.sh/capacity-type"
NODEPOOL = "karpenter.sh/nodepool"
NODECLASS = "karpenter.k8s.aws/ec2nodeclass"
WINDOWS_BUILD = "node.kubernetes.io/windows-build"
CAPACITY_RESERVATION_ID = "karpenter.k8s.aws/capacity-reservation-id"

AWS_INSTANCE_LABELS = tuple(f"karpenter.k8s.aws/instance-{s}" for s in (
    "hypervisor", "encryption-in-transit-supported", "category", "family", "generation", "local-nvme",
    "size", "cpu", "cpu-manufacturer", "cpu-sustained-clock-speed-mhz", "memory", "ebs-bandwidth",
    "network-bandwidth", "gpu-name", "gpu-manufacturer", "gpu-count", "gpu-memory", "accelerator-name",
    "accelerator-manufacturer", "accelerator-count", "capability-flex"))
CAPACITY_RESERVATION_TYPE = "karpenter.k8s.aws/capacity-reservation-type"

WELL_KNOWN_LABELS = frozenset((NODEPOOL, ZONE, REGION, INSTANCE_TYPE, ARCH, OS, CAPACITY_TYPE, WINDOWS_BUILD,
                               ZONE_ID, CAPACITY_RESERVATION_ID, CAPACITY_RESERVATION_TYPE, NODECLASS,
                               *AWS_INSTANCE_LABELS))

# Deprecated keys are normalised before use, as Karpenter does.
NORMALIZED_LABELS = {
    "failure-domain.beta.kubernetes.io/zone": ZONE,
    "failure-domain.beta.kubernetes.io/region": REGION,
    "beta.kubernetes.io/arch": ARCH,
    "beta.kubernetes.io/os": OS,
    "beta.kubernetes.io/instance-type": INSTANCE_TYPE,
}

_ALLOWED_SUFFIXES = ("node-restriction.kubernetes.io", "node.kubernetes.io")
_ALLOWED_DOMAINS = ("kops.k8s.io",)


def normalize_key(key: str) -> str:
    """Map a deprecated label key to its current name."""
    return NORMALIZED_LABELS.get(key, key)


def restricted_label_reason(key: str) -> str | None:
    """Why Karpenter refuses ``key`` as a NodePool label or requirement key (its CRD wording), or None.

    Well-known keys (and their deprecated aliases) are allowed; ``kubernetes.io/hostname`` and the
    ``kubernetes.io``, ``k8s.io``, ``karpenter.sh`` and ``karpenter.k8s.aws`` domains are not, except
    ``*.node-restriction.kubernetes.io``, ``*.node.kubernetes.io`` and ``kops.k8s.io``.
    """
    if key == HOSTNAME:
        return f'label "{HOSTNAME}" is restricted'
    if key in WELL_KNOWN_LABELS or key in NORMALIZED_LABELS:
        return None
    domain = key.split("/", 1)[0] if "/" in key else ""
    if not domain or domain in _ALLOWED_DOMAINS or any(domain == s or domain.endswith("." + s)
                                                       for s in _ALLOWED_SUFFIXES):
        return None
    for restricted in ("kubernetes.io", "k8s.io", "karpenter.sh", "karpenter.k8s.aws"):
        if domain == restricted or domain.endswith("." + restricted):
            return f'label domain "{restricted}" is restricted'
    return None


def is_restricted_label(key: str) -> bool:
    """True for labels users may not set in NodePool requirements/labels (Karpenter's rule)."""
    return restricted_label_reason(key) is not None


def _as_int(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Requirement:
    """One key's allowed values: ``values`` (or their complement) within optional (gt, lt) bounds."""

    key: str
    complement: bool
    values: frozenset[str]
    gt: int | None = None
    lt: int | None = None
    min_values: int | None = None
    absent: bool | None = None
    """Does a node *without* the label satisfy this? None = as the operator says (NotIn, DoesNotExist).
    Kept explicitly through intersections, because ``In [a]`` ∩ ``In [b]`` and ``Exists`` ∩ ``DoesNotExist``
    collapse to an empty set that prints as DoesNotExist yet, in kube-scheduler's AND of expressions,
    matches no node at all."""

    @property
    def allows_absent(self) -> bool:
        """kube-scheduler semantics for a node that lacks the label."""
        return self.operator in _NEGATIVE if self.absent is None else self.absent

    @staticmethod
    def new(key: str, operator: str, values: Iterable[str] = (), min_values: int | None = None) -> Requirement:
        """Build a requirement from a node-selector operator.

        Raises:
            InvalidInput: unknown operator, or Gt/Lt without one integer value.
        """
        key = normalize_key(key)
        vals = frozenset(str(v) for v in values)
        if operator == IN:
            return Requirement(key, False, vals, min_values=min_values)
        if operator == NOT_IN:
            return Requirement(key, True, vals, min_values=min_values)
        if operator == EXISTS:
            return Requirement(key, True, frozenset(), min_values=min_values)
        if operator == DOES_NOT_EXIST:
            return Requirement(key, False, frozenset(), min_values=min_values)
        if operator in (GT, LT):
            if len(vals) != 1 or _as_int(next(iter(vals))) is None:
                raise InvalidInput(f"operator {operator} needs exactly one integer value, got {sorted(vals)}",
                                   field="values")
            bound = int(next(iter(vals)))
            if operator == GT:
                return Requirement(key, True, frozenset(), gt=bound, min_values=min_values)
            return Requirement(key, True, frozenset(), lt=bound, min_values=min_values)
        raise InvalidInput(f"unknown operator {operator!r} (expected one of {', '.join(OPERATORS)})",
                           field="operator")

    @property
    def operator(self) -> str:
        """The node-selector operator this requirement renders as."""
        if self.complement:
            if self.values:
                return NOT_IN
            if self.gt is not None:
                return GT
            if self.lt is not None:
                return LT
            return EXISTS
        return IN if self.values else DOES_NOT_EXIST

    def _within(self, value: str) -> bool:
        if self.gt is None and self.lt is None:
            return True
        n = _as_int(value)
        if n is None:
            return False
        return (self.gt is None or n > self.gt) and (self.lt is None or n < self.lt)

    def has(self, value: str) -> bool:
        """True when ``value`` is allowed."""
        if self.complement:
            return value not in self.values and self._within(value)
        return value in self.values and self._within(value)

    def size(self) -> int:
        """Number of allowed values (``sys.maxsize``-ish for complements)."""
        return sys.maxsize - len(self.values) if self.complement else len(self.values)

    def is_empty(self) -> bool:
        """True when no value is allowed (``DoesNotExist`` or an empty intersection)."""
        return not self.complement and not self.values

    def intersection(self, other: Requirement) -> Requirement:
        """Values allowed by both (same key assumed); minValues is the larger of the two."""
        gt = _max_opt(self.gt, other.gt)
        lt = _min_opt(self.lt, other.lt)
        mv = _max_opt(self.min_values, other.min_values)
        absent = self.allows_absent and other.allows_absent
        if gt is not None and lt is not None and gt >= lt:
            return Requirement(self.key, False, frozenset(), min_values=mv, absent=absent)
        complement = self.complement and other.complement
        if self.complement and other.complement:
            values = self.values | other.values
        elif self.complement:
            values = other.values - self.values
        elif other.complement:
            values = self.values - other.values
        else:
            values = self.values & other.values
        req = Requirement(self.key, complement, values, gt, lt, mv, absent)
        if not complement and (gt is not None or lt is not None):
            req = Requirement(self.key, False, frozenset(v for v in values if req._within(v)), gt, lt, mv, absent)
        return req

    def any_value(self, pick: int = 0) -> str:
        """A concrete allowed value: the smallest listed value, or a number inside the bounds."""
        if not self.complement:
            allowed = sorted(v for v in self.values if self._within(v))
            return allowed[pick % len(allowed)] if allowed else ""
        low = (self.gt + 1) if self.gt is not None else 0
        high = (self.lt - 1) if self.lt is not None else low + 2**31
        n = low + pick % max(1, high - low + 1)
        while str(n) in self.values:
            n += 1
        return str(n)

    def to_k8s(self) -> dict[str, Any]:
        """Render as a node-selector requirement dict (values sorted, minValues when set)."""
        op = self.operator
        out: dict[str, Any] = {"key": self.key, "operator": op}
        if op in (IN, NOT_IN):
            out["values"] = sorted(self.values)
        elif op == GT:
            out["values"] = [str(self.gt)]
        elif op == LT:
            out["values"] = [str(self.lt)]
        if self.min_values is not None:
            out["minValues"] = self.min_values
        return out

    def __str__(self) -> str:
        op = self.operator
        if op in (IN, NOT_IN):
            shown = sorted(self.values)
            text = ", ".join(shown[:5]) + (f" and {len(shown) - 5} others" if len(shown) > 5 else "")
            return f"{self.key} {op} [{text}]"
        if op == GT:
            return f"{self.key} Gt {self.gt}"
        if op == LT:
            return f"{self.key} Lt {self.lt}"
        return f"{self.key} {op}"


def _max_opt(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    return a if b is None else max(a, b)


def _min_opt(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    return a if b is None else min(a, b)


_NEGATIVE = (NOT_IN, DOES_NOT_EXIST)


class Requirements(Mapping[str, Requirement]):
    """A set of requirements keyed by label key. Immutable: ``add`` returns a new set."""

    __slots__ = ("_d", "_hash")

    def __init__(self, reqs: Iterable[Requirement] = ()) -> None:
        d: dict[str, Requirement] = {}
        for r in reqs:
            prev = d.get(r.key)
            d[r.key] = r if prev is None else prev.intersection(r)
        self._d = d
        self._hash: int | None = None

    @classmethod
    def from_node_selector_terms(cls, exprs: Iterable[Mapping[str, Any]]) -> Requirements:
        """Build from ``matchExpressions``-style dicts (key, operator, values, minValues)."""
        return cls(Requirement.new(e["key"], e["operator"], e.get("values") or (), e.get("minValues"))
                   for e in exprs)

    @classmethod
    def from_labels(cls, labels: Mapping[str, str]) -> Requirements:
        """Each label becomes ``key In [value]``."""
        return cls(Requirement(normalize_key(k), False, frozenset((v,))) for k, v in labels.items())

    def __getitem__(self, key: str) -> Requirement:
        return self._d[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._d.values()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Requirements):
            return self._d == other._d
        return NotImplemented

    def get_or_exists(self, key: str) -> Requirement:
        """The requirement for ``key``, or ``Exists`` when the key is unconstrained."""
        r = self._d.get(key)
        return r if r is not None else Requirement(key, True, frozenset())

    def add(self, *reqs: Requirement) -> Requirements:
        """A new set with ``reqs`` intersected in."""
        if not reqs:
            return self
        out = Requirements.__new__(Requirements)
        d = dict(self._d)
        for r in reqs:
            prev = d.get(r.key)
            d[r.key] = r if prev is None else prev.intersection(r)
        out._d = d
        out._hash = None
        return out

    def merge(self, other: Requirements) -> Requirements:
        """Intersect every requirement of ``other`` into this set."""
        return self.add(*other._d.values())

    def without(self, key: str) -> Requirements:
        """A new set with ``key`` removed."""
        return Requirements(r for k, r in self._d.items() if k != key)

    def intersects(self, other: Requirements) -> str | None:
        """None when every shared key has a common value; otherwise the first conflict, as text.

        Two negative operators (NotIn/DoesNotExist) never conflict.
        """
        small, large = (self._d, other._d) if len(self._d) <= len(other._d) else (other._d, self._d)
        for key in small:
            if key not in large:
                continue
            existing, incoming = self._d[key], other._d[key]
            if existing == incoming:
                continue
            if existing.intersection(incoming).size() == 0:
                if incoming.operator in _NEGATIVE and existing.operator in _NEGATIVE:
                    continue
                return f"key {key}, {incoming} not in {existing}"
        return None

    def compatible(self, pod: Requirements, allow_undefined: frozenset[str] = WELL_KNOWN_LABELS) -> str | None:
        """Karpenter's ``Compatible``: can a node with these requirements host a pod with ``pod``'s?

        Returns None when compatible, else the reason.
        """
        for key, r in pod._d.items():
            if key in self._d or key in allow_undefined:
                continue
            if r.operator in _NEGATIVE:
                continue
            return f'label "{key}" does not have known values'
        return self.intersects(pod)

    def labels(self) -> dict[str, str]:
        """Single-valued, non-restricted, non-well-known keys rendered as labels (custom labels)."""
        out: dict[str, str] = {}
        for key, r in self._d.items():
            if key in WELL_KNOWN_LABELS or is_restricted_label(key):
                continue
            value = r.any_value()
            if value:
                out[key] = value
        return out

    def single_values(self) -> dict[str, str]:
        """Every key constrained to exactly one value (``In [v]``)."""
        return {k: next(iter(r.values)) for k, r in self._d.items()
                if not r.complement and len(r.values) == 1 and r._within(next(iter(r.values)))}

    def to_k8s(self) -> list[dict[str, Any]]:
        """Render as a list of node-selector requirement dicts, sorted by key."""
        return [self._d[k].to_k8s() for k in sorted(self._d)]

    def __repr__(self) -> str:
        return "Requirements(" + "; ".join(str(self._d[k]) for k in sorted(self._d)) + ")"


EMPTY = Requirements()


def matches_label(req: Requirement, labels: Mapping[str, str]) -> bool:
    """kube-scheduler node-selector semantics of one requirement against a node's labels.

    ``In``/``Exists``/``Gt``/``Lt`` need the label present; ``NotIn``/``DoesNotExist`` pass when absent.
    """
    value = labels.get(req.key)
    if value is None:
        return req.allows_absent
    return req.has(value)
