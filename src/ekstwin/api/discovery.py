"""Legacy (unaggregated) discovery documents, generated from the kind registry.

kubectl 1.32 first asks ``/api`` and ``/apis`` for the aggregated format (``as=APIGroupDiscoveryList``); an
answer typed plain ``application/json`` makes it fall back to these documents and then fetch each
``/apis/{group}/{version}`` list, which is all the twin serves.
"""

from __future__ import annotations

from typing import Any

from ekstwin.model.kinds import KindInfo, KindRegistry

Obj = dict[str, Any]

GIT_VERSION = "v1.30.0-ekstwin"
_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
NO_STATUS = frozenset({"Event", "ConfigMap", "PriorityClass", "Lease"})
"""Kinds without a status subresource (their status, if any, is written through the main resource)."""
SCALABLE = frozenset({"Deployment", "ReplicaSet", "StatefulSet"})


def has_status(info: KindInfo) -> bool:
    return info.kind not in NO_STATUS


def version() -> Obj:
    return {"major": "1", "minor": "30", "gitVersion": GIT_VERSION, "gitCommit": "0" * 40,
            "gitTreeState": "clean", "buildDate": "2024-01-01T00:00:00Z", "goVersion": "go1.22.0",
            "compiler": "gc", "platform": "linux/amd64"}


def api_versions() -> Obj:
    """``/api``: the core group's versions."""
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}


def group_versions(registry: KindRegistry) -> dict[str, list[str]]:
    """Named groups (not the core group) and their versions, in registry order."""
    out: dict[str, list[str]] = {}
    for info in registry:
        if info.group and info.version not in out.setdefault(info.group, []):
            out[info.group].append(info.version)
    return out


def api_group(group: str, versions: list[str]) -> Obj:
    gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": gvs, "preferredVersion": gvs[0]}


def api_group_list(registry: KindRegistry) -> Obj:
    """``/apis``."""
    groups = [api_group(g, vs) for g, vs in group_versions(registry).items()]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def resource_list(registry: KindRegistry, group: str, version: str) -> Obj | None:
    """``/api/v1`` or ``/apis/{group}/{version}``; None when nothing is served there."""
    infos = [i for i in registry if i.group == group and i.version == version]
    if not infos:
        return None
    resources: list[Obj] = []
    for info in infos:
        resources.append(_resource(info))
        if has_status(info):
            resources.append(_subresource(info, "status", info.kind, ["get", "patch", "update"]))
        if info.kind in SCALABLE:
            scale = {**_subresource(info, "scale", "Scale", ["get", "patch", "update"]),
                     "group": "autoscaling", "version": "v1"}
            resources.append(scale)
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}


def _resource(info: KindInfo) -> Obj:
    out: Obj = {"name": info.plural, "singularName": info.singular, "namespaced": info.namespaced,
                "kind": info.kind, "verbs": _VERBS}
    if info.short_names:
        out["shortNames"] = list(info.short_names)
    if info.categories:
        out["categories"] = list(info.categories)
    return out


def _subresource(info: KindInfo, sub: str, kind: str, verbs: list[str]) -> Obj:
    return {"name": f"{info.plural}/{sub}", "singularName": "", "namespaced": info.namespaced, "kind": kind,
            "verbs": verbs}
