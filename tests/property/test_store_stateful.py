"""The store against a model of itself: random create/update/patch/delete, invariants after every step."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from ekstwin.errors import Conflict, NotFound
from ekstwin.sim.clock import SimClock
from ekstwin.store import indexes
from ekstwin.store.store import Store, thaw

KINDS = st.sampled_from(["Pod", "Node"])
NAMES = st.sampled_from(["a", "b", "c"])
NAMESPACES = st.sampled_from(["default", "kube-system"])
NODES = st.sampled_from(["n1", "n2", "n3"]) | st.none()
LABELS = st.dictionaries(st.sampled_from(["app", "tier", "karpenter.sh/nodepool"]),
                         st.sampled_from(["x", "y"]) | st.none(), max_size=3)
FIN = "ekstwin.dev/test"


@dataclass
class Expected:
    """What the model believes about one object."""

    node: str | None
    labels: dict[str, str]
    finalizers: list[str]
    deleting: bool = False


def key_of(kind: str, name: str, ns: str) -> tuple[str, str, str]:
    return (kind, ns if kind == "Pod" else "", name)


class StoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = SimClock()
        self.store = Store(self.clock.now, watch_window=25)
        self.model: dict[tuple[str, str, str], Expected] = {}
        self.last_rv = 0

    def _ns(self, kind: str, ns: str) -> str | None:
        return ns if kind == "Pod" else None

    @rule(kind=KINDS, name=NAMES, ns=NAMESPACES, node=NODES, finalizer=st.booleans())
    def create(self, kind: str, name: str, ns: str, node: str | None, finalizer: bool) -> None:
        meta: dict[str, Any] = {"name": name, "namespace": ns, "labels": {"app": "x"}}
        if finalizer:
            meta["finalizers"] = [FIN]
        spec = {"nodeName": node} if node else {}
        key = key_of(kind, name, ns)
        try:
            self.store.create({"apiVersion": "v1", "kind": kind, "metadata": meta, "spec": spec})
        except Conflict:
            assert key in self.model
            return
        assert key not in self.model
        self.model[key] = Expected(node, {"app": "x"}, meta.get("finalizers", []))

    @rule(kind=KINDS, name=NAMES, ns=NAMESPACES, node=NODES, stale=st.booleans())
    def update(self, kind: str, name: str, ns: str, node: str | None, stale: bool) -> None:
        key = key_of(kind, name, ns)
        current = self.store.try_get(kind, name, self._ns(kind, ns))
        assert (current is not None) == (key in self.model)
        if current is None:
            return
        edited = thaw(current)
        edited["spec"]["nodeName"] = node
        if stale:
            edited["metadata"]["resourceVersion"] = str(int(current["metadata"]["resourceVersion"]) - 1)
        try:
            self.store.update(edited)
        except Conflict:
            assert stale
            return
        assert not stale
        self.model[key].node = node

    @rule(kind=KINDS, name=NAMES, ns=NAMESPACES, labels=LABELS, node=NODES)
    def patch(self, kind: str, name: str, ns: str, labels: dict[str, str | None], node: str | None) -> None:
        key = key_of(kind, name, ns)
        try:
            self.store.patch(kind, name, self._ns(kind, ns),
                                   {"metadata": {"labels": labels}, "spec": {"nodeName": node}})
        except NotFound:
            assert key not in self.model
            return
        exp = self.model[key]
        exp.node = node
        for k, v in labels.items():
            if v is None:
                exp.labels.pop(k, None)
            else:
                exp.labels[k] = v

    @rule(kind=KINDS, name=NAMES, ns=NAMESPACES, force=st.booleans())
    def delete(self, kind: str, name: str, ns: str, force: bool) -> None:
        key = key_of(kind, name, ns)
        try:
            self.store.delete(kind, name, self._ns(kind, ns), grace_seconds=0 if force else None)
        except NotFound:
            assert key not in self.model
            return
        exp = self.model[key]
        graceful_pod = kind == "Pod" and exp.node is not None and not force
        if exp.deleting:  # deleting again only finishes a graceful pod deletion (no finalizers left)
            if not exp.finalizers and not graceful_pod:
                del self.model[key]
        elif exp.finalizers or graceful_pod:
            exp.deleting = True
        else:
            del self.model[key]

    @rule(kind=KINDS, name=NAMES, ns=NAMESPACES)
    def drop_finalizers(self, kind: str, name: str, ns: str) -> None:
        key = key_of(kind, name, ns)
        if key not in self.model:
            return
        self.store.patch(kind, name, self._ns(kind, ns), {"metadata": {"finalizers": None}})
        exp = self.model[key]
        if exp.deleting and exp.finalizers:
            del self.model[key]
        else:
            exp.finalizers = []

    @invariant()
    def store_is_valid(self) -> None:
        self.store.check_valid()

    @invariant()
    def store_matches_the_model(self) -> None:
        seen = {}
        for kind in ("Pod", "Node"):
            for obj in self.store.list(kind):
                m = obj["metadata"]
                seen[(kind, m.get("namespace", ""), m["name"])] = obj
        assert set(seen) == set(self.model)
        for key, exp in self.model.items():
            obj = seen[key]
            assert obj["spec"].get("nodeName") == exp.node
            assert (obj["metadata"].get("labels") or {}) == exp.labels
            assert ("deletionTimestamp" in obj["metadata"]) == exp.deleting

    @invariant()
    def pods_by_node_match_the_model(self) -> None:
        for node in ("n1", "n2", "n3", ""):
            got = {(o["metadata"]["namespace"], o["metadata"]["name"])
                   for o in self.store.by_index("Pod", indexes.POD_NODE_NAME, node)}
            want = {(k[1], k[2]) for k, e in self.model.items() if k[0] == "Pod" and (e.node or "") == node}
            assert got == want

    @invariant()
    def resource_versions_only_go_up(self) -> None:
        assert self.store.resource_version >= self.last_rv
        self.last_rv = self.store.resource_version


StoreMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
test_store_against_its_model = StoreMachine.TestCase
