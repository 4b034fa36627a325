"""The verbs (get, list, create, update, patch, delete) with API-server semantics, over the shared store.

Handlers take a parsed ``Target`` and plain values and return ``Reply`` values; HTTP is the app's concern.
Every write goes through ``_admit`` (validate against the kind's schema, then default) before the store sees
it, so an invalid object is refused with 422 and a field path rather than stored. Writes to the main
resource of a kind with a ``status`` subresource keep the stored status, as the API server does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ekstwin.api import discovery, patches, query
from ekstwin.api import status as st
from ekstwin.errors import Conflict, InvalidInput, NotFound
from ekstwin.model import defaults, manifests
from ekstwin.model.kinds import KindInfo
from ekstwin.store import indexes
from ekstwin.store.store import Store, merge_patch

Obj = dict[str, Any]
Params = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Target:
    """What a URL names: a kind, a namespace (None: all / cluster-scoped), maybe an object and a subresource."""

    info: KindInfo
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None


@dataclass(slots=True)
class Reply:
    body: Obj
    code: int = 200
    warnings: list[str] = field(default_factory=list)


_CREATE_KEEPS_STATUS = frozenset({"Pod", "Node", "Namespace", "Event"})
"""Kinds whose status a creator may set; for the rest the API server drops it (controllers own it)."""


def dry_run(params: Params) -> bool:
    return params.get("dryRun") == "All"


class Handlers:
    """The verbs bound to one store; ``on_write`` runs after every write that reached the store."""

    def __init__(self, store: Store, on_write: Callable[[], None] | None = None) -> None:
        self.store = store
        self._on_write = on_write

    # ---- reads ---------------------------------------------------------------------------------------

    def list_objects(self, t: Target, params: Params, items: list[Obj] | None = None) -> Obj:
        """A List of ``items`` (selected from ``params`` when not given)."""
        if items is None:
            items = self.select(t, params)
        return {"kind": t.info.list_kind, "apiVersion": t.info.api_version,
                "metadata": {"resourceVersion": str(self.store.resource_version)}, "items": items}

    def select(self, t: Target, params: Params) -> list[Obj]:
        """Objects in ``t``'s namespace that match the request's label and field selectors."""
        labels = query.label_selector(params.get("labelSelector"))
        fields = query.field_selector(params.get("fieldSelector"))
        node = query.field_equals(params.get("fieldSelector"), "spec.nodeName") if t.info.kind == "Pod" else None
        if node is not None:  # the store indexes pods by node: no scan of every pod
            items = [o for o in self.store.by_index("Pod", indexes.POD_NODE_NAME, node)
                     if (t.namespace is None or o["metadata"].get("namespace") == t.namespace)
                     and (labels is None or labels(o["metadata"].get("labels") or {}))]
        else:
            items = self.store.list(t.info.kind, t.namespace, labels)
        return items if fields is None else [o for o in items if fields(o)]

    def get(self, t: Target) -> Obj:
        obj = self._stored(t)
        if t.subresource == "scale":
            return _scale_of(obj)
        return as_served(t.info, obj)

    # ---- writes --------------------------------------------------------------------------------------

    def create(self, t: Target, body: Any, params: Params) -> Reply:
        if t.subresource is not None or t.name is not None:
            raise st.method_not_allowed("POST")
        obj = self._body_for(t, body, None)
        if t.info.kind not in _CREATE_KEEPS_STATUS:
            obj.pop("status", None)
        admitted, warnings = self._admit(t.info, obj, params)
        if dry_run(params):
            return Reply(admitted, 201, warnings)
        name = str(admitted["metadata"].get("name") or admitted["metadata"].get("generateName") or "")
        stored = self._write(t.info, name, True, lambda: self.store.create(admitted))
        return Reply(stored, 201, warnings)

    def update(self, t: Target, body: Any, params: Params) -> Reply:
        if t.subresource == "scale":
            return self._set_scale(t, body, params)
        obj = self._body_for(t, body, t.name)
        return self._replace(t, obj, params)

    def patch(self, t: Target, content_type: str, body: Any, params: Params) -> Reply:
        if content_type.startswith(patches.APPLY):
            raise st.unsupported_media_type(content_type + " (server-side apply is not supported)")
        current = self._stored(t)
        if t.subresource == "scale":
            patched = patches.apply_patch(content_type, _scale_of(current), body)
            return self._set_scale(t, patched, params)
        return self._replace(t, patches.apply_patch(content_type, as_served(t.info, current), body), params)

    def delete(self, t: Target, body: Any, params: Params) -> Reply:
        if t.name is None:
            return self._delete_collection(t, body, params)
        opts = body if isinstance(body, dict) else {}
        grace = opts.get("gracePeriodSeconds", params.get("gracePeriodSeconds"))
        pre = opts.get("preconditions") or {}
        if dry_run(params) or opts.get("dryRun") == ["All"]:
            return Reply(self._stored(t))
        obj = self._write(t.info, t.name, False, lambda: self.store.delete(
            t.info.kind, str(t.name), t.namespace, grace_seconds=None if grace is None else int(grace),
            uid=pre.get("uid"), resource_version=pre.get("resourceVersion")))
        still_there = self.store.try_get(t.info.kind, t.name, t.namespace) is not None
        return Reply(obj, 202 if still_there else 200)

    def _delete_collection(self, t: Target, body: Any, params: Params) -> Reply:
        names = [(o["metadata"]["name"], o["metadata"].get("namespace")) for o in self.select(t, params)]
        for name, ns in names:
            self.delete(Target(t.info, ns, name), body, params)
        return Reply(self.list_objects(t, {}))

    # ---- internals -----------------------------------------------------------------------------------

    def _stored(self, t: Target) -> Obj:
        if t.name is None:
            raise st.method_not_allowed("GET")
        obj = self.store.try_get(t.info.kind, t.name, t.namespace)
        if obj is None:
            raise st.not_found(t.info, t.name)
        return obj

    def _body_for(self, t: Target, body: Any, name: str | None) -> Obj:
        """The request body as an object of ``t``'s kind, checked against the URL's name and namespace."""
        if not isinstance(body, dict):
            raise st.bad_request("the request body must be a JSON object")
        obj = dict(body)
        if obj.setdefault("kind", t.info.kind) != t.info.kind:
            raise st.bad_request(f"the body is a {obj['kind']}, but the URL names {t.info.plural}")
        obj.setdefault("apiVersion", t.info.api_version)
        meta = obj["metadata"] = dict(obj.get("metadata") or {})
        if name is not None and meta.setdefault("name", name) != name:
            raise st.bad_request("the name of the object does not match the name on the URL")
        if t.info.namespaced and t.namespace and meta.setdefault("namespace", t.namespace) != t.namespace:
            raise st.bad_request("the namespace of the provided object does not match the namespace sent on "
                                 "the request")
        return obj

    def _admit(self, info: KindInfo, obj: Obj, params: Params) -> tuple[Obj, list[str]]:
        """Validate (422 naming each field), then default; unknown fields are warnings unless Strict."""
        name = str((obj.get("metadata") or {}).get("name") or "")
        strict = params.get("fieldValidation") == "Strict"
        report = manifests.validate(manifests.Document(obj, "<request>", 0), unknown_fields_are_errors=strict)
        if report.errors:
            raise st.invalid(info, name, [(e.field or "", e.reason) for e in report.errors])
        classes = defaults.priority_classes_from(self.store.list("PriorityClass")) if info.kind == "Pod" else None
        try:
            admitted = defaults.apply_defaults(manifests.to_storage_version(obj), priority_classes=classes)
        except InvalidInput as e:
            raise st.invalid(info, name, [(e.field or "", e.reason)]) from None
        return admitted, [u.split(": ", 1)[-1] for u in report.unknown]

    def _replace(self, t: Target, obj: Obj, params: Params) -> Reply:
        """PUT and PATCH: store ``obj`` as the next version (the status only, for the status subresource)."""
        name = str(t.name)
        current = self._stored(t)
        if t.subresource == "status":
            candidate = {**current, "status": obj.get("status"), "metadata": {
                **current["metadata"], "resourceVersion": (obj.get("metadata") or {}).get("resourceVersion")}}
            if candidate["status"] is None:
                del candidate["status"]
            if dry_run(params):
                return Reply(candidate)
            return Reply(self._write(t.info, name, False, lambda: self.store.update_status(candidate)))
        if discovery.has_status(t.info):
            obj = {k: v for k, v in obj.items() if k != "status"}
            if "status" in current:
                obj["status"] = current["status"]
        admitted, warnings = self._admit(t.info, obj, params)
        if dry_run(params):
            return Reply(admitted, 200, warnings)
        return Reply(self._write(t.info, name, False, lambda: self.store.update(admitted)), 200, warnings)

    def _set_scale(self, t: Target, scale: Any, params: Params) -> Reply:
        if not isinstance(scale, dict) or not isinstance((scale.get("spec") or {}).get("replicas"), int):
            raise st.invalid(t.info, str(t.name), [("spec.replicas", "Required value: an integer")])
        current = self._stored(t)
        rv = (scale.get("metadata") or {}).get("resourceVersion")
        doc: Obj = {"spec": {"replicas": scale["spec"]["replicas"]}}
        if rv:
            doc["metadata"] = {"resourceVersion": rv}
        if dry_run(params):
            return Reply(_scale_of(merge_patch(current, doc)))
        obj = self._write(t.info, str(t.name), False,
                          lambda: self.store.patch(t.info.kind, str(t.name), t.namespace, doc))
        return Reply(_scale_of(obj))

    def _write(self, info: KindInfo, name: str, creating: bool, op: Callable[[], Obj]) -> Obj:
        """Run a store write, translating its errors to Status replies, then wake the controllers."""
        try:
            result = op()
        except NotFound:
            raise st.not_found(info, name) from None
        except Conflict as e:
            if creating:
                raise st.already_exists(info, name) from None
            raise st.conflict(info, name, _conflict_reason(str(e))) from None
        except InvalidInput as e:
            raise st.invalid(info, name, [(e.field or "", e.reason)]) from None
        if self._on_write is not None:
            self._on_write()
        return result


def as_served(info: KindInfo, obj: Obj) -> Obj:
    """``obj`` as the apiVersion of the URL it is read through shows it (Karpenter v1beta1 objects are
    converted back from the stored v1, so kubectl apply can diff a v1beta1 manifest against them; a patch
    computed against that view is converted forward again on write)."""
    if obj.get("apiVersion") == info.api_version:
        return obj
    return manifests.to_served_version(obj, info.api_version)


def _conflict_reason(message: str) -> str:
    if "modified" in message:
        return "the object has been modified; please apply your changes to the latest version and try again"
    return message


def _scale_of(obj: Obj) -> Obj:
    """The ``autoscaling/v1`` Scale view of a Deployment, ReplicaSet or StatefulSet."""
    meta = obj["metadata"]
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    out_meta = {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                if k in meta}
    return {"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": out_meta,
            "spec": {"replicas": int(spec.get("replicas", 1))},
            "status": {"replicas": int(status.get("replicas", 0)),
                       "selector": selector_text(spec.get("selector") or {})}}


def selector_text(selector: Mapping[str, Any]) -> str:
    """A LabelSelector dict in query-string form (``a=b,c in (x,y)``), as Scale.status.selector carries it."""
    terms = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for e in selector.get("matchExpressions") or ():
        op, key, values = e.get("operator"), e.get("key"), ",".join(sorted(e.get("values") or ()))
        terms.append({"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})",
                      "Exists": str(key), "DoesNotExist": f"!{key}"}.get(str(op), ""))
    return ",".join(t for t in terms if t)
