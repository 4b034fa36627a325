"""Watch streams: newline-delimited ``{"type", "object"}`` events, replayed from the store's log then live.

Without a resourceVersion (or with "0") a watch starts with a synthetic ADDED per existing object, as the
API server does. With ``resourceVersion=N`` it replays ``store.events_since(N)`` and, when N has left the
log's window, sends one ERROR event carrying a 410 Expired Status and ends: clients then relist.
The subscription is taken before the replay, and events at or below the last replayed resourceVersion are
skipped, so nothing is lost or repeated between the two. Each watcher has its own asyncio queue, fed by a
synchronous store subscriber on the event loop's thread (or handed over thread-safely from another thread).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from ekstwin.api import query
from ekstwin.api import status as st
from ekstwin.api.handlers import Params, Target
from ekstwin.store import watch as store_watch
from ekstwin.store.store import Store

Obj = dict[str, Any]
Render = Callable[[Obj], Obj]
DEFAULT_TIMEOUT = 1800.0


def _line(kind: str, obj: Obj) -> bytes:
    return json.dumps({"type": kind, "object": obj}, separators=(",", ":")).encode() + b"\n"


def _predicate(t: Target, params: Params) -> Callable[[Mapping[str, Any]], bool]:
    labels = query.label_selector(params.get("labelSelector"))
    fields = query.field_selector(params.get("fieldSelector"))
    ns = t.namespace if t.info.namespaced else None

    def matches(obj: Mapping[str, Any]) -> bool:
        meta = obj["metadata"]
        if ns and meta.get("namespace") != ns:
            return False
        if labels is not None and not labels(meta.get("labels") or {}):
            return False
        return fields is None or fields(obj)

    return matches


def _start_rv(params: Params) -> int | None:
    raw = params.get("resourceVersion")
    if raw in (None, "", "0"):
        return None
    try:
        return int(str(raw))
    except ValueError:
        raise st.bad_request(f"invalid resourceVersion {raw!r}") from None


class Watcher:
    """One watch request: validated and subscribed when built (so errors are HTTP errors), streamed later."""

    def __init__(self, store: Store, t: Target, params: Params, *, render: Render,
                 bookmark_interval: float) -> None:
        self._store, self._t, self._render = store, t, render
        self._matches = _predicate(t, params)
        self._rv = _start_rv(params)
        self._timeout = float(params.get("timeoutSeconds") or DEFAULT_TIMEOUT)
        self._bookmarks = params.get("allowWatchBookmarks") in ("true", "1")
        self._interval = bookmark_interval
        self._queue: asyncio.Queue[store_watch.WatchEvent] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._unsubscribe = store.subscribe(self._deliver, t.info.kind)

    def _deliver(self, event: store_watch.WatchEvent) -> None:
        if threading.get_ident() == self._thread:
            self._queue.put_nowait(event)
        else:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, event)

    def close(self) -> None:
        self._unsubscribe()

    async def stream(self) -> AsyncIterator[bytes]:
        try:
            last = self._store.resource_version
            try:
                backlog = self._backlog()
            except store_watch.Gone as e:
                yield _line("ERROR", st.gone(str(e)).to_status())
                return
            for kind, obj in backlog:
                yield _line(kind, self._render(obj))
            async for chunk in self._live(last):
                yield chunk
        finally:
            self.close()

    def _backlog(self) -> list[tuple[str, Obj]]:
        kind = self._t.info.kind
        if self._rv is None:
            return [("ADDED", o) for o in self._store.list(kind, self._t.namespace) if self._matches(o)]
        events = self._store.events_since(self._rv, kind)
        return [(e.type, e.obj) for e in events if self._matches(e.obj)]

    async def _live(self, last: int) -> AsyncIterator[bytes]:
        deadline = self._loop.time() + self._timeout
        while (remaining := deadline - self._loop.time()) > 0:
            wait = min(remaining, self._interval) if self._bookmarks else remaining
            try:
                event = await asyncio.wait_for(self._queue.get(), wait)
            except TimeoutError:
                if self._bookmarks and self._queue.empty():
                    yield _line("BOOKMARK", self._bookmark())
                continue
            if event.resource_version <= last:
                continue  # already part of the backlog
            last = event.resource_version
            if self._matches(event.obj):
                yield _line(event.type, self._render(event.obj))

    def _bookmark(self) -> Obj:
        info = self._t.info
        return {"kind": info.kind, "apiVersion": info.api_version,
                "metadata": {"resourceVersion": str(self._store.resource_version)}}
