"""The kinds ekstwin stores and serves, and how to look them up.

The store uses this registry to know whether a kind is namespaced and which apiVersion to fill in; the
HTTP API (later) uses it to build discovery documents and to map URL paths (group, plural) back to kinds.
Kind names are unique across the registry: the store keys objects by kind name, so two groups that both
define, say, ``Event`` could not coexist. This module does no I/O and holds no objects.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ekstwin.errors import InvalidInput, NotFound


@dataclass(frozen=True, slots=True)
class KindInfo:
    """Static facts about one Kubernetes kind (what a CRD's ``names`` block says)."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        """``v1`` for the core group, ``group/version`` otherwise."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        """Lower-case kind, as Kubernetes derives the singular resource name."""
        return self.kind.lower()

    @property
    def list_kind(self) -> str:
        """Kind of the list wrapper returned by a collection GET."""
        return f"{self.kind}List"


class KindRegistry:
    """Lookups by kind, by (group, plural) and by (apiVersion, kind)."""

    def __init__(self, infos: tuple[KindInfo, ...] = ()) -> None:
        self._by_kind: dict[str, KindInfo] = {}
        self._by_plural: dict[tuple[str, str], KindInfo] = {}
        for info in infos:
            self.register(info)

    def register(self, info: KindInfo) -> None:
        """Add a kind.

        Raises:
            ValueError: the kind name or (group, plural) is already taken; the store keys by kind name.
        """
        if info.kind in self._by_kind:
            raise ValueError(f"kind {info.kind} is already registered")
        if (info.group, info.plural) in self._by_plural:
            raise ValueError(f"resource {info.plural}.{info.group} is already registered")
        self._by_kind[info.kind] = info
        self._by_plural[(info.group, info.plural)] = info

    def find(self, kind: str) -> KindInfo | None:
        """The kind called ``kind``, or None."""
        return self._by_kind.get(kind)

    def by_kind(self, kind: str) -> KindInfo:
        """The kind called ``kind``.

        Raises:
            NotFound: no such kind is registered.
        """
        info = self._by_kind.get(kind)
        if info is None:
            raise NotFound(f"unknown kind {kind!r}")
        return info

    def by_plural(self, group: str, plural: str) -> KindInfo:
        """The kind served at ``/apis/{group}/{version}/{plural}`` (group "" is the core group).

        Raises:
            NotFound: no such resource is registered.
        """
        info = self._by_plural.get((group, plural))
        if info is None:
            raise NotFound(f"the server doesn't have a resource type {plural!r} in group {group!r}")
        return info

    def by_api_version(self, api_version: str, kind: str) -> KindInfo:
        """The kind matching both ``apiVersion`` and ``kind`` as written in a manifest.

        Raises:
            NotFound: the kind is unknown or is served under another apiVersion.
        """
        info = self.by_kind(kind)
        if info.api_version != api_version:
            raise NotFound(f"no kind {kind!r} in {api_version!r} (it is served as {info.api_version!r})")
        return info

    def __iter__(self) -> Iterator[KindInfo]:
        return iter(self._by_kind.values())

    def __len__(self) -> int:
        return len(self._by_kind)


def _k(group: str, version: str, kind: str, plural: str, namespaced: bool, *short: str,
       categories: tuple[str, ...] = ()) -> KindInfo:
    return KindInfo(group, version, kind, plural, namespaced, tuple(short), categories)


_KARPENTER = ("karpenter",)

DEFAULT_KINDS: tuple[KindInfo, ...] = (
    _k("", "v1", "Namespace", "namespaces", False, "ns"),
    _k("", "v1", "Pod", "pods", True, "po", categories=("all",)),
    _k("", "v1", "Node", "nodes", False, "no"),
    _k("", "v1", "Event", "events", True, "ev"),
    _k("", "v1", "ConfigMap", "configmaps", True, "cm"),
    _k("apps", "v1", "Deployment", "deployments", True, "deploy", categories=("all",)),
    _k("apps", "v1", "ReplicaSet", "replicasets", True, "rs", categories=("all",)),
    _k("apps", "v1", "DaemonSet", "daemonsets", True, "ds", categories=("all",)),
    _k("apps", "v1", "StatefulSet", "statefulsets", True, "sts", categories=("all",)),
    _k("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True, "pdb"),
    _k("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", False, "pc"),
    _k("coordination.k8s.io", "v1", "Lease", "leases", True),
    _k("karpenter.sh", "v1", "NodePool", "nodepools", False, categories=_KARPENTER),
    _k("karpenter.sh", "v1", "NodeClaim", "nodeclaims", False, categories=_KARPENTER),
    _k("karpenter.k8s.aws", "v1", "EC2NodeClass", "ec2nodeclasses", False, "ec2nc", "ec2ncs",
       categories=_KARPENTER),
)

REGISTRY = KindRegistry(DEFAULT_KINDS)
"""The registry the store and the API use unless handed another one (tests may build their own)."""


def kind_of(obj: Mapping[str, Any], registry: KindRegistry = REGISTRY) -> KindInfo:
    """The KindInfo of a Kubernetes-shaped dict, checking ``apiVersion`` when the object carries one.

    Raises:
        InvalidInput: ``kind`` is missing, unknown, or does not match ``apiVersion``.
    """
    kind = obj.get("kind")
    if not isinstance(kind, str) or not kind:
        raise InvalidInput("object has no kind", field="kind")
    api_version = obj.get("apiVersion")
    try:
        if api_version:
            return registry.by_api_version(str(api_version), kind)
        return registry.by_kind(kind)
    except NotFound as e:
        raise InvalidInput(str(e), field="kind") from None
