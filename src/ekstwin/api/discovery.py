"""Legacy (unaggregated) discovery documents, generated from the kind registry.

kubectl 1.32 first asks ``/api`` and ``/apis`` for the aggregated format (``as=APIGroupDiscoveryList``); an
answer typed plain ``application/json`` makes it fall back to these documents and then fetch each
``/apis/{group}/{version}`` list, which is all the twin serves.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ekstwin.model.kinds import KindInfo, KindRegistry

Obj = dict[str, Any]

GIT_VERSION = "v1.30.0-ekstwin"
_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
NO_STATUS = frozenset({"Event", "ConfigMap", "PriorityClass", "Lease"})
"""Kinds without a status subresource (their status, if any, is written through the main resource)."""
SCALABLE = frozenset({"Deployment", "ReplicaSet", "StatefulSet"})
HAS_LOG = frozenset({"Pod"})
"""Kinds with a ``log`` subresource (``pods/log``, served as plain text)."""


LEGACY_VERSIONS: dict[str, tuple[str, ...]] = {"karpenter.sh": ("v1beta1",), "karpenter.k8s.aws": ("v1beta1",)}
"""Older versions also served for a group, so manifests written for Karpenter v0.3x apply verbatim.

Writes in these versions are converted to the stored version (``manifests.to_storage_version``); reads
return the stored version, since the twin has no converter back (a real API server would convert)."""


def served(registry: KindRegistry) -> list[KindInfo]:
    """Every (kind, version) the API serves: the registry's, then the legacy versions of their groups."""
    infos = list(registry)
    for info in registry:
        infos.extend(dataclasses.replace(info, version=v) for v in LEGACY_VERSIONS.get(info.group, ()))
    return infos


def find(registry: KindRegistry, group: str, version: str, plural: str) -> KindInfo | None:
    """The kind served at ``group/version/plural``, or None."""
    for info in served(registry):
        if (info.group, info.version, info.plural) == (group, version, plural):
            return info
    return None


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
    for info in served(registry):
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
    infos = [i for i in served(registry) if i.group == group and i.version == version]
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
        if info.kind in HAS_LOG:
            resources.append(_subresource(info, "log", info.kind, ["get"]))
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


def openapi_v3_root(registry: KindRegistry) -> Obj:
    """``/openapi/v3``: one document per group-version.

    kubectl only reads these to learn that PATCH takes ``fieldValidation`` (so it validates server-side
    instead of downloading schemas); the twin's own schema check answers that parameter.
    """
    paths = {}
    for gv in sorted({_gv_path(i) for i in served(registry)}):
        paths[gv] = {"serverRelativeURL": f"/openapi/v3/{gv}"}
    return {"paths": paths}


def _gv_path(info: KindInfo) -> str:
    return f"apis/{info.group}/{info.version}" if info.group else f"api/{info.version}"


def openapi_v3_group(registry: KindRegistry, gv_path: str) -> Obj | None:
    """A minimal OpenAPI 3 document for one group-version: the PATCH operations and their parameters."""
    infos = [i for i in served(registry) if _gv_path(i) == gv_path]
    if not infos:
        return None
    paths: Obj = {}
    for info in infos:
        ns = "namespaces/{namespace}/" if info.namespaced else ""
        gvk = {"group": info.group, "version": info.version, "kind": info.kind}
        params = [{"name": p, "in": "query", "schema": {"type": "string"}}
                  for p in ("dryRun", "fieldManager", "fieldValidation", "force")]
        patch = {"x-kubernetes-group-version-kind": gvk, "parameters": params,
                 "responses": {"200": {"description": "OK"}}}
        paths[f"/{gv_path}/{ns}{info.plural}/{{name}}"] = {"patch": patch}
    return {"openapi": "3.0.0", "info": {"title": "ekstwin", "version": GIT_VERSION}, "paths": paths,
            "components": {"schemas": {}}}
