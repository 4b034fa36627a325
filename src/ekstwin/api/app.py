"""The ASGI application: Kubernetes-style URL routing, bearer-token check, JSON in and out.

All resource URLs go through one route per prefix (``/api/...``, ``/apis/...``) and are parsed here, because
Kubernetes paths are ambiguous to a pattern router (``/api/v1/namespaces/x/pods`` is a list of pods, while
``/api/v1/namespaces/x/status`` is a namespace's status). Handlers run on the event loop's thread, the
same thread as the real-time driver, so the store needs no locks.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ekstwin.api import discovery, logs, tables
from ekstwin.api import status as st
from ekstwin.api.handlers import Handlers, Reply, Target
from ekstwin.api.watch import Watcher
from ekstwin.model.kinds import KindInfo
from ekstwin.store.store import Store

Obj = dict[str, Any]
_OPEN_PATHS = frozenset({"/healthz", "/livez", "/readyz"})


def create_app(store: Store, *, token: str | None = None, on_write: Callable[[], None] | None = None,
               bookmark_interval: float = 30.0, pod_logs: logs.PodLogs | None = None,
               follow_timeout: float = 3600.0) -> Starlette:
    """A Kubernetes-compatible API over ``store``.

    Args:
        store: the store the controllers share; every request reads and writes it directly.
        token: when set, every request but the health probes needs ``Authorization: Bearer <token>``.
        on_write: called after every write that reached the store (wakes the real-time driver).
        bookmark_interval: seconds of quiet after which a watch that allows bookmarks gets one.
        pod_logs: ``(namespace, pod) -> lines`` for the pod ``log`` subresource (None: every pod's log is empty).
        follow_timeout: wall seconds after which a ``log?follow=true`` response ends.
    """
    api = _Api(store, Handlers(store, on_write), bookmark_interval, pod_logs, follow_timeout)
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    routes = [
        Route("/version", lambda _: JSONResponse(discovery.version())),
        Route("/healthz", lambda _: PlainTextResponse("ok")),
        Route("/livez", lambda _: PlainTextResponse("ok")),
        Route("/readyz", lambda _: PlainTextResponse("ok")),
        Route("/openapi/v3", lambda _: JSONResponse(discovery.openapi_v3_root(store.registry))),
        Route("/openapi/v3/{rest:path}", api.openapi_v3),
        Route("/api", api.core, methods=methods),
        Route("/api/{rest:path}", api.core, methods=methods),
        Route("/apis", api.named, methods=methods),
        Route("/apis/{rest:path}", api.named, methods=methods),
    ]
    app = Starlette(routes=routes)
    if token is not None:
        app.add_middleware(_BearerToken, token=token)
    return app


class _BearerToken:
    """Refuses requests without the expected bearer token (401 Status, as the API server does)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self._app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in _OPEN_PATHS:
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self._expected):
                await _error(st.unauthorized())(scope, receive, send)
                return
        await self._app(scope, receive, send)


def _error(err: st.ApiError) -> Response:
    return JSONResponse(err.to_status(), status_code=err.code)


def _segments(request: Request) -> list[str]:
    return [s for s in str(request.path_params.get("rest", "")).split("/") if s]


class _Api:
    def __init__(self, store: Store, handlers: Handlers, bookmark_interval: float, pod_logs: logs.PodLogs | None,
                 follow_timeout: float) -> None:
        self.store = store
        self.handlers = handlers
        self.registry = store.registry
        self.bookmark_interval = bookmark_interval
        self.pod_logs: logs.PodLogs = pod_logs or (lambda _ns, _name: [])
        self.follow_timeout = follow_timeout

    async def openapi_v3(self, request: Request) -> Response:
        doc = discovery.openapi_v3_group(self.registry, str(request.path_params["rest"]).strip("/"))
        return _error(st.no_such_path()) if doc is None else JSONResponse(doc)

    async def core(self, request: Request) -> Response:
        segs = _segments(request)
        if not segs:
            return self._discovery(request, discovery.api_versions())
        return await self._guard(request, "", segs[0], segs[1:])

    async def named(self, request: Request) -> Response:
        segs = _segments(request)
        if not segs:
            return self._discovery(request, discovery.api_group_list(self.registry))
        if len(segs) == 1:
            versions = discovery.group_versions(self.registry).get(segs[0])
            if versions is None:
                return _error(st.no_such_path())
            return self._discovery(request, discovery.api_group(segs[0], versions))
        return await self._guard(request, segs[0], segs[1], segs[2:])

    def _discovery(self, request: Request, doc: Obj | None) -> Response:
        if request.method != "GET":
            return _error(st.method_not_allowed(request.method))
        return _error(st.no_such_path()) if doc is None else JSONResponse(doc)

    async def _guard(self, request: Request, group: str, version: str, rest: list[str]) -> Response:
        try:
            if not rest:
                return self._discovery(request, discovery.resource_list(self.registry, group, version))
            return await self._resource(request, self._target(group, version, rest))
        except st.ApiError as e:
            return _error(e)

    def _target(self, group: str, version: str, rest: list[str]) -> Target:
        ns: str | None = None
        if rest[0] == "namespaces" and len(rest) >= 3 and self._served(group, version, rest[2], True):
            ns, rest = rest[1], rest[2:]
        info = self._served(group, version, rest[0], ns is not None)
        if info is None or len(rest) > 3 or (info.namespaced and ns is None and len(rest) > 1):
            raise st.no_such_path()
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if sub is not None and not ((sub == "status" and discovery.has_status(info))
                                    or (sub == "scale" and info.kind in discovery.SCALABLE)
                                    or (sub == "log" and info.kind in discovery.HAS_LOG)):
            raise st.no_such_path()
        return Target(info, ns, name, sub)

    def _served(self, group: str, version: str, plural: str, namespaced: bool) -> KindInfo | None:
        info = discovery.find(self.registry, group, version, plural)
        return None if info is None or (namespaced and not info.namespaced) else info

    async def _resource(self, request: Request, t: Target) -> Response:
        params = dict(request.query_params)
        method = request.method
        if t.subresource == "log":
            if method != "GET":
                return _error(st.method_not_allowed(method))
            return self._log(t, params)
        if method == "GET":
            return self._read(request, t, params)
        body = await _body(request)
        h = self.handlers
        if method == "POST":
            reply = h.create(t, body, params)
        elif method == "PUT":
            reply = h.update(t, body, params)
        elif method == "PATCH":
            reply = h.patch(t, request.headers.get("content-type", ""), body, params)
        else:
            reply = h.delete(t, body, params)
        return _reply(reply)

    def _read(self, request: Request, t: Target, params: dict[str, str]) -> Response:
        as_table = tables.wants_table(request.headers.get("accept", "")) and t.subresource is None
        include = params.get("includeObject", "Metadata")
        render = (lambda o: self._table(t, [o], include)) if as_table else (lambda o: o)
        if t.name is None and params.get("watch") in ("1", "true"):
            watcher = Watcher(self.store, t, params, render=render, bookmark_interval=self.bookmark_interval)
            return StreamingResponse(watcher.stream(), media_type="application/json")
        if t.name is not None:
            return JSONResponse(render(self.handlers.get(t)))
        items = self.handlers.select(t, params)
        body = self._table(t, items, include) if as_table else self.handlers.list_objects(t, params, items)
        return JSONResponse(body)

    def _log(self, t: Target, params: dict[str, str]) -> Response:
        """``pods/{name}/log``: the provider's lines as plain text (404 Status when the pod does not exist)."""
        pod = Target(t.info, t.namespace, t.name)
        self.handlers.get(pod)
        ns, name = str(t.namespace), str(t.name)
        tail = logs.tail_lines(params)
        stamps = logs.flag(params, "timestamps")
        if logs.flag(params, "follow"):
            exists = lambda: self.store.try_get("Pod", name, ns) is not None  # noqa: E731
            chunks = logs.follow(self.pod_logs, ns, name, tail=tail, timestamps=stamps, now=self.store.format_time,
                                 pod_exists=exists, timeout_s=self.follow_timeout)
            return StreamingResponse(chunks, media_type="text/plain")
        text = logs.render(logs.select(self.pod_logs(ns, name), tail), timestamps=stamps,
                           now=self.store.format_time)
        return PlainTextResponse(text)

    def _table(self, t: Target, objs: list[Obj], include: str) -> Obj:
        now = self.store.parse_time(self.store.format_time())
        return tables.table(t.info.kind, objs, now=now, parse_time=self.store.parse_time,
                            resource_version=str(self.store.resource_version), include_object=include)


async def _body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError as e:
        raise st.bad_request(f"the request body is not valid JSON: {e}") from None


def _reply(reply: Reply) -> Response:
    headers = {"Warning": ", ".join(f'299 - "{_quote(w)}"' for w in reply.warnings)} if reply.warnings else None
    return JSONResponse(reply.body, status_code=reply.code, headers=headers)


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
