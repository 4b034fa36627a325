"""The versioned in-memory object store every controller and the HTTP API share.

Objects are plain Kubernetes-shaped dicts (``apiVersion``, ``kind``, ``metadata``, ``spec``, ``status``)
so the API can serve them as they are. The store knows nothing about time except the ``now`` callable it
is given for timestamps; it never sleeps and never reads the wall clock.

Ownership rules (they replace deep copies, which are too slow at 20k pods):

* Dicts returned by ``get``/``list``/``by_index``, and the ``obj``/``old`` of watch events, are shared with
  the store. **Never mutate them.** The store never mutates a stored dict either; every write stores a
  new top-level dict and a new ``metadata`` dict, so a dict you were handed stays a stable snapshot.
* ``create``/``update``/``update_status``/``patch`` copy the top level and ``metadata`` of what you pass,
  but share everything below (``spec``, ``status``, ``metadata.labels``, ...). Passing a dict hands those
  nested parts to the store: do not mutate them afterwards.
* To edit, either ``thaw(obj)`` (a fast deep copy) and change what you like, or copy only the path you
  change (``{**obj, "spec": {**obj["spec"], "nodeName": n}}``), or use ``patch``.

Writes that change nothing are no-ops (no new resourceVersion, no watch event), as in Kubernetes; this
is what lets a controller write the status it just computed without waking itself forever.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from ekstwin import rng
from ekstwin.errors import Conflict, InvalidInput, NotFound
from ekstwin.model import kinds
from ekstwin.store import indexes, watch

Obj = dict[str, Any]
ObjList = list[Obj]
EventList = list[watch.WatchEvent]
ObjKey = indexes.ObjKey
LabelSelector = Callable[[dict[str, str]], bool]

DEFAULT_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # Kubernetes' generateName alphabet: no vowels, no 0/1/3
_NOT_SPEC = frozenset(("apiVersion", "kind", "metadata", "status"))
_STORE_OWNED = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds")
_ABSENT = object()


def _graceful_pod(kind: str, obj: Obj, grace_seconds: int | None) -> bool:
    """A pod bound to a node is terminated by its kubelet first (unless deleted with grace 0)."""
    return kind == "Pod" and bool((obj.get("spec") or {}).get("nodeName")) and grace_seconds != 0


def thaw(obj: Obj) -> Obj:
    """A deep copy of a JSON-shaped dict that the caller may freely edit (then pass to ``update``)."""
    return {k: _copy(v) for k, v in obj.items()}


def _copy(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _copy(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_copy(x) for x in v]
    return v  # str, int, float, bool, None: immutable


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: dicts merge key by key, ``None`` deletes, anything else replaces.

    Neither argument is mutated; untouched subtrees of ``target`` are shared with the result.
    """
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v)
    return result


class Store:
    """Objects by kind and (namespace, name), one global resourceVersion, a watch log and indexes."""

    def __init__(self, now: Callable[[], float], epoch: datetime = DEFAULT_EPOCH, *, seed: int = 0,
                 registry: kinds.KindRegistry = kinds.REGISTRY, watch_window: int = 100_000) -> None:
        """Build an empty store.

        Args:
            now: seconds since scenario start (the driver's clock); stamps creation/deletion times.
            epoch: the wall-clock instant of ``now() == 0``, used only to render timestamps.
            seed: makes uids and generated names differ between scenarios yet repeat between runs.
            registry: which kinds exist and whether they are namespaced.
            watch_window: how many recent events ``events_since`` can replay before raising ``Gone``.
        """
        self._now = now
        self._epoch = epoch.astimezone(UTC) if epoch.tzinfo else epoch.replace(tzinfo=UTC)
        self._seed = seed
        self._registry = registry
        self.watch = watch.WatchLog(watch_window)
        self._objs: dict[str, dict[ObjKey, Obj]] = {}
        self._ns: dict[str, dict[str, dict[ObjKey, None]]] = {}
        self._indexes = indexes.Indexes()
        self._rv = 0
        self._uids = 0
        self._names = rng.stable_random(seed, "store.generate-name")
        self._ts_cache: tuple[int, str] = (-1, "")
        for kind, name, key_fn in indexes.DEFAULT_INDEXES:
            self.add_index(kind, name, key_fn)

    # ---- reads -------------------------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        """The newest resourceVersion handed out (0 before the first write)."""
        return self._rv

    @property
    def registry(self) -> kinds.KindRegistry:
        return self._registry

    def get(self, kind: str, name: str, namespace: str | None = None) -> Obj:
        """The object; ``namespace`` defaults to "default" and is ignored for cluster-scoped kinds.

        Raises:
            NotFound: no such object (or no such kind).
        """
        obj = self.try_get(kind, name, namespace)
        if obj is None:
            where = f" in namespace {namespace or 'default'}" if self._info(kind).namespaced else ""
            raise NotFound(f'{kind} "{name}" not found{where}')
        return obj

    def try_get(self, kind: str, name: str, namespace: str | None = None) -> Obj | None:
        """Like ``get`` but returns None for a missing object."""
        info = self._info(kind)
        return self._objs.get(kind, {}).get(self._key(info, name, namespace))

    def list(self, kind: str, namespace: str | None = None,
             label_selector: LabelSelector | None = None) -> ObjList:
        """Objects of ``kind`` in creation order; ``namespace`` None or "" means all namespaces.

        ``label_selector`` receives each object's labels (``{}`` when it has none).
        """
        info = self._info(kind)
        objs = self._objs.get(kind, {})
        if not namespace or not info.namespaced:
            items = list(objs.values())
        else:
            items = [objs[k] for k in self._ns.get(kind, {}).get(namespace, ())]
        if label_selector is None:
            return items
        return [o for o in items if label_selector(o["metadata"].get("labels") or {})]

    def count(self, kind: str) -> int:
        """How many objects of ``kind`` exist (cheap; for reports and benchmarks)."""
        return len(self._objs.get(kind, ()))

    def by_index(self, kind: str, index: str, value: str) -> ObjList:
        """Objects of ``kind`` filed under ``value`` in ``index`` (see ``indexes`` for built-in names).

        Raises:
            KeyError: ``kind`` has no index named ``index``.
        """
        objs = self._objs.get(kind, {})
        return [objs[k] for k in self._indexes.get(kind, index).keys(value)]

    def add_index(self, kind: str, name: str, key_fn: indexes.KeyFn) -> None:
        """Maintain a new index from now on, filing the objects that already exist.

        Raises:
            ValueError: ``kind`` already has an index called ``name``.
        """
        self._info(kind)
        self._indexes.add(kind, name, key_fn, self._objs.get(kind, {}).items())

    def events_since(self, rv: int, kind: str | None = None) -> EventList:
        """Watch events after ``rv`` (see ``WatchLog.events_since``; raises ``watch.Gone``)."""
        return self.watch.events_since(rv, kind)

    def subscribe(self, callback: watch.Subscriber, kind: str | None = None) -> Callable[[], None]:
        """Call ``callback`` synchronously after each change (see ``WatchLog.subscribe``)."""
        return self.watch.subscribe(callback, kind)

    # ---- time rendering ----------------------------------------------------------------------------

    def format_time(self, t: float | None = None) -> str:
        """RFC 3339 at whole seconds, like metav1.Time: ``epoch + t`` (default: now)."""
        sec = math.floor(self._now() if t is None else t)
        if self._ts_cache[0] != sec:  # most writes in a burst share one second
            text = (self._epoch + timedelta(seconds=sec)).strftime("%Y-%m-%dT%H:%M:%SZ")
            self._ts_cache = (sec, text)
        return self._ts_cache[1]

    def parse_time(self, text: str) -> float:
        """Seconds since scenario start of an RFC 3339 timestamp (inverse of ``format_time``)."""
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return (parsed - self._epoch).total_seconds()

    # ---- writes ------------------------------------------------------------------------------------

    def create(self, obj: Obj) -> Obj:
        """Store a new object and return the stored dict (read only, see the module docstring).

        Fills ``uid``, ``resourceVersion``, ``creationTimestamp``, ``generation`` 1, the namespace
        ("default" for namespaced kinds; dropped for cluster-scoped ones), ``apiVersion``, and a name
        from ``generateName`` plus five characters when ``name`` is absent.

        Raises:
            InvalidInput: unknown kind, or neither name nor generateName.
            Conflict: an object with that name already exists.
        """
        info = kinds.kind_of(obj, self._registry)
        new = dict(obj)
        meta = dict(obj.get("metadata") or {})
        new["metadata"] = meta
        new["apiVersion"] = info.api_version
        key = self._new_key(info, meta)
        objs = self._objs.setdefault(info.kind, {})
        if key in objs:
            raise Conflict(f'{info.kind} "{key[1]}" already exists')
        for field in ("deletionTimestamp", "deletionGracePeriodSeconds"):
            meta.pop(field, None)
        rv = self._next_rv()
        meta.update(uid=self._next_uid(), resourceVersion=str(rv), creationTimestamp=self.format_time(),
                    generation=1)
        objs[key] = new
        if info.namespaced:
            self._ns.setdefault(info.kind, {}).setdefault(key[0], {})[key] = None
        self._indexes.put(info.kind, key, new)
        self.watch.append(watch.WatchEvent("ADDED", info.kind, new, rv))
        return new

    def update(self, obj: Obj) -> Obj:
        """Replace an object with ``obj``; returns the stored dict (the old one if nothing changed).

        ``metadata.resourceVersion``, when set, must equal the stored one (optimistic concurrency).
        ``uid``, ``creationTimestamp`` and deletion fields are kept from the stored object; ``generation``
        goes up when anything outside ``metadata`` and ``status`` changes. Emptying ``finalizers`` of an
        object that is being deleted removes it (one DELETED event).

        Raises:
            NotFound: no such object.
            Conflict: stale resourceVersion or a different uid.
            InvalidInput: unknown kind, or a new finalizer on an object that is being deleted.
        """
        info = kinds.kind_of(obj, self._registry)
        meta = obj.get("metadata") or {}
        key = self._key(info, meta.get("name"), meta.get("namespace"))
        old = self._stored(info, key)
        self._check_preconditions(old, meta.get("uid"), meta.get("resourceVersion"))
        return self._commit(info, key, old, obj)

    def update_status(self, obj: Obj) -> Obj:
        """Write only ``obj["status"]`` (the status subresource); other changes in ``obj`` are ignored.

        Raises:
            NotFound, Conflict, InvalidInput: as for ``update``.
        """
        info = kinds.kind_of(obj, self._registry)
        meta = obj.get("metadata") or {}
        key = self._key(info, meta.get("name"), meta.get("namespace"))
        old = self._stored(info, key)
        self._check_preconditions(old, meta.get("uid"), meta.get("resourceVersion"))
        candidate = {k: v for k, v in old.items() if k != "status"}
        if "status" in obj:
            candidate["status"] = obj["status"]
        return self._commit(info, key, old, candidate)

    def patch(self, kind: str, name: str, namespace: str | None, merge_patch_doc: Obj) -> Obj:
        """Apply an RFC 7386 merge patch; ``metadata.resourceVersion`` in the patch is a precondition.

        The patch's nested values become part of the stored object (ownership passes to the store).

        Raises:
            NotFound, Conflict, InvalidInput: as for ``update``; also InvalidInput when the patch is
            not an object or renames the object.
        """
        info = self._info(kind)
        key = self._key(info, name, namespace)
        old = self._stored(info, key)
        if not isinstance(merge_patch_doc, dict):
            raise InvalidInput("a merge patch must be a JSON object", obj=f"{kind}/{name}")
        pmeta = merge_patch_doc.get("metadata")
        if isinstance(pmeta, dict):
            self._check_preconditions(old, pmeta.get("uid"), pmeta.get("resourceVersion"))
        candidate = merge_patch(old, merge_patch_doc)
        cmeta = candidate.get("metadata") or {}
        if cmeta.get("name") != name or (info.namespaced and cmeta.get("namespace") != key[0]):
            raise InvalidInput("a patch cannot change name or namespace", obj=f"{kind}/{name}",
                               field="metadata")
        return self._commit(info, key, old, candidate)

    def delete(self, kind: str, name: str, namespace: str | None = None, *,
               grace_seconds: int | None = None, uid: str | None = None,
               resource_version: str | None = None) -> Obj:
        """Delete an object, or mark it for deletion when it has finalizers.

        Pods bound to a node are deleted gracefully, as the API server does: unless ``grace_seconds`` is 0
        they get ``deletionTimestamp`` and ``deletionGracePeriodSeconds`` (default: the pod's
        terminationGracePeriodSeconds) and stay until the kubelet deletes them again with grace 0.
        With finalizers, ``deletionTimestamp`` (and ``deletionGracePeriodSeconds`` when given) are set
        and the object stays until an update empties ``finalizers``; deleting it again changes nothing.
        Returns the marked object, or the last state of the removed one.

        Raises:
            NotFound: no such object.
            Conflict: ``uid`` or ``resource_version`` preconditions do not hold.
        """
        info = self._info(kind)
        key = self._key(info, name, namespace)
        old = self._stored(info, key)
        self._check_preconditions(old, uid, resource_version)
        ometa = old["metadata"]
        graceful = _graceful_pod(info.kind, old, grace_seconds)
        if not ometa.get("finalizers") and not graceful:
            return self._remove(info, key, old, old)
        if "deletionTimestamp" in ometa:
            return old
        meta = dict(ometa, deletionTimestamp=self.format_time(), generation=ometa.get("generation", 0) + 1)
        if grace_seconds is not None:
            meta["deletionGracePeriodSeconds"] = grace_seconds
        elif graceful:
            meta["deletionGracePeriodSeconds"] = int((old.get("spec") or {}).get("terminationGracePeriodSeconds", 30))
        return self._write(info, key, old, {**old, "metadata": meta})

    # ---- invariants --------------------------------------------------------------------------------

    def check_valid(self) -> None:
        """Verify internal invariants; raises AssertionError describing the first violation.

        Checked: the log's resourceVersions are consecutive and end at the store's; every object has a
        unique uid, a resourceVersion no newer than the store's, matching kind/name/namespace, and
        finalizers if it is being deleted; the namespace map and every index agree with the objects.
        """
        self._check_log()
        uids: set[str] = set()
        for kind, objs in self._objs.items():
            info = self._info(kind)
            for key, obj in objs.items():
                self._check_object(info, key, obj, uids)
            self._check_namespaces(info, objs)
        for index in self._indexes:
            _check_index(index, self._objs.get(index.kind, {}))

    def _check_log(self) -> None:
        events = self.watch.retained()
        for prev, ev in itertools.pairwise(events):
            _require(ev.resource_version == prev.resource_version + 1,
                     f"log rv {ev.resource_version} does not follow {prev.resource_version}")
        for ev in events:
            _require(ev.obj["metadata"]["resourceVersion"] == str(ev.resource_version),
                     f"event rv {ev.resource_version} differs from its object's")
        if events:
            _require(events[-1].resource_version == self._rv, "last event rv is not the store's rv")

    def _check_object(self, info: kinds.KindInfo, key: ObjKey, obj: Obj, uids: set[str]) -> None:
        meta = obj["metadata"]
        uid, rv = meta.get("uid"), meta.get("resourceVersion")
        _require(isinstance(uid, str) and uid not in uids, f"{info.kind} {key}: missing or duplicate uid")
        uids.add(uid)
        _require(isinstance(rv, str) and 0 < int(rv) <= self._rv, f"{info.kind} {key}: bad rv {rv!r}")
        _require(obj.get("kind") == info.kind, f"{info.kind} {key}: kind field is {obj.get('kind')!r}")
        _require((meta.get("namespace", ""), meta.get("name")) == key, f"{info.kind} {key}: key mismatch")
        _require("deletionTimestamp" not in meta or bool(meta.get("finalizers"))
                 or info.kind == "Pod",  # graceful pod deletion: the kubelet removes it
                 f"{info.kind} {key}: being deleted without finalizers but still stored")

    def _check_namespaces(self, info: kinds.KindInfo, objs: dict[ObjKey, Obj]) -> None:
        if not info.namespaced:
            return
        expected: dict[str, set[ObjKey]] = {}
        for key in objs:
            expected.setdefault(key[0], set()).add(key)
        actual = {ns: set(keys) for ns, keys in self._ns.get(info.kind, {}).items() if keys}
        _require(actual == expected, f"{info.kind}: namespace map disagrees with objects")

    # ---- internals ---------------------------------------------------------------------------------

    def _info(self, kind: str) -> kinds.KindInfo:
        return self._registry.by_kind(kind)

    def _key(self, info: kinds.KindInfo, name: Any, namespace: Any) -> ObjKey:
        if not isinstance(name, str) or not name:
            raise InvalidInput("metadata.name is required", obj=info.kind, field="metadata.name")
        if not info.namespaced:
            return ("", name)
        return (namespace if isinstance(namespace, str) and namespace else "default", name)

    def _new_key(self, info: kinds.KindInfo, meta: Obj) -> ObjKey:
        """Settle name and namespace of a new object in ``meta`` and return its key."""
        if info.namespaced:
            meta["namespace"] = meta.get("namespace") or "default"
        else:
            meta.pop("namespace", None)  # the API server clears it for cluster-scoped kinds
        if meta.get("name"):
            return self._key(info, meta["name"], meta.get("namespace"))
        prefix = meta.get("generateName")
        if not isinstance(prefix, str) or not prefix:
            raise InvalidInput("metadata.name or metadata.generateName is required", obj=info.kind,
                               field="metadata.name")
        existing = self._objs.get(info.kind, {})
        while True:  # a collision is astronomically rare; retry deterministically rather than fail
            key = self._key(info, prefix + "".join(self._names.choices(_NAME_ALPHABET, k=5)),
                            meta.get("namespace"))
            if key not in existing:
                meta["name"] = key[1]
                return key

    def _stored(self, info: kinds.KindInfo, key: ObjKey) -> Obj:
        obj = self._objs.get(info.kind, {}).get(key)
        if obj is None:
            where = f" in namespace {key[0]}" if info.namespaced else ""
            raise NotFound(f'{info.kind} "{key[1]}" not found{where}')
        return obj

    def _check_preconditions(self, old: Obj, uid: Any, rv: Any) -> None:
        meta = old["metadata"]
        if uid and uid != meta["uid"]:
            raise Conflict(f"precondition failed: uid is {meta['uid']}, not {uid}")
        if rv and str(rv) != meta["resourceVersion"]:
            raise Conflict(f'the object has been modified (resourceVersion {meta["resourceVersion"]}, '
                           f"not {rv}); please apply your changes to the latest version and try again")

    def _commit(self, info: kinds.KindInfo, key: ObjKey, old: Obj, candidate: Obj) -> Obj:
        """Turn ``candidate`` into the next stored version of ``old`` (or a no-op, or a removal)."""
        new = dict(candidate)
        meta = dict(candidate.get("metadata") or {})
        new["metadata"] = meta
        new["apiVersion"], new["kind"] = info.api_version, info.kind
        ometa = old["metadata"]
        meta["name"] = key[1]
        if info.namespaced:
            meta["namespace"] = key[0]
        else:
            meta.pop("namespace", None)
        for field in _STORE_OWNED:
            value = ometa.get(field, _ABSENT)
            if value is _ABSENT:
                meta.pop(field, None)
            else:
                meta[field] = value
        dying = "deletionTimestamp" in ometa
        if dying and not set(meta.get("finalizers") or ()) <= set(ometa.get("finalizers") or ()):
            raise InvalidInput("no new finalizers can be added if the object is being deleted",
                               obj=f"{info.kind}/{key[1]}", field="metadata.finalizers")
        meta["generation"] = ometa.get("generation", 1) + (1 if _spec_changed(old, new) else 0)
        meta["resourceVersion"] = ometa["resourceVersion"]
        if new == old:
            return old
        if dying and ometa.get("finalizers") and not meta.get("finalizers"):
            return self._remove(info, key, old, new)
        return self._write(info, key, old, new)

    def _write(self, info: kinds.KindInfo, key: ObjKey, old: Obj, new: Obj) -> Obj:
        rv = self._next_rv()
        new["metadata"]["resourceVersion"] = str(rv)
        self._objs[info.kind][key] = new
        self._indexes.put(info.kind, key, new)
        self.watch.append(watch.WatchEvent("MODIFIED", info.kind, new, rv, old))
        return new

    def _remove(self, info: kinds.KindInfo, key: ObjKey, old: Obj, last: Obj) -> Obj:
        rv = self._next_rv()
        final = {**last, "metadata": {**last["metadata"], "resourceVersion": str(rv)}}
        del self._objs[info.kind][key]
        if info.namespaced:
            bucket = self._ns[info.kind][key[0]]
            del bucket[key]
            if not bucket:
                del self._ns[info.kind][key[0]]
        self._indexes.remove(info.kind, key)
        self.watch.append(watch.WatchEvent("DELETED", info.kind, final, rv, old))
        return final

    def _next_rv(self) -> int:
        self._rv += 1
        return self._rv

    def _next_uid(self) -> str:
        """A UUID-shaped id from the seed and a counter: looks random, repeats across identical runs."""
        self._uids += 1
        raw = bytearray(hashlib.blake2b(f"{self._seed}:{self._uids}".encode(), digest_size=16).digest())
        raw[6] = (raw[6] & 0x0F) | 0x40  # version 4 and RFC 4122 variant bits, so parsers accept it
        raw[8] = (raw[8] & 0x3F) | 0x80
        x = raw.hex()
        return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def _spec_changed(old: Obj, new: Obj) -> bool:
    """Whether anything generation-worthy (outside metadata/status) differs."""
    for k, v in new.items():
        if k not in _NOT_SPEC:
            prev = old.get(k, _ABSENT)
            if prev is not v and prev != v:
                return True
    return any(k not in _NOT_SPEC and k not in new for k in old)


def _check_index(index: indexes.Index, objs: dict[ObjKey, Obj]) -> None:
    expected: dict[str, set[ObjKey]] = {}
    for key, obj in objs.items():
        values = index.values_of(obj)
        _require(index.filed.get(key, ()) == values, f"index {index.name}: {key} filed under stale values")
        for v in values:
            expected.setdefault(v, set()).add(key)
    _require(set(index.filed) <= set(objs), f"index {index.name}: files objects that no longer exist")
    actual = {v: set(keys) for v, keys in index.buckets.items()}
    _require(actual == expected, f"index {index.kind}/{index.name}: buckets disagree with objects")


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise AssertionError(message)
