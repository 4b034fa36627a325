"""The kind registry (ekstwin.model.kinds): lookups the store and the API rely on."""

from __future__ import annotations

import pytest

from ekstwin.errors import InvalidInput, NotFound
from ekstwin.model import kinds


def test_core_kinds_use_the_bare_version_as_api_version() -> None:
    assert kinds.REGISTRY.by_kind("Pod").api_version == "v1"
    assert kinds.REGISTRY.by_kind("NodeClaim").api_version == "karpenter.sh/v1"


def test_kinds_are_found_by_group_and_plural() -> None:
    assert kinds.REGISTRY.by_plural("karpenter.k8s.aws", "ec2nodeclasses").kind == "EC2NodeClass"
    assert kinds.REGISTRY.by_plural("", "nodes").kind == "Node"
    with pytest.raises(NotFound):
        kinds.REGISTRY.by_plural("apps", "pods")


def test_scope_matches_kubernetes() -> None:
    scoped = {i.kind: i.namespaced for i in kinds.REGISTRY}
    assert scoped["Pod"] and scoped["PodDisruptionBudget"] and scoped["Lease"]
    assert not (scoped["Node"] or scoped["NodePool"] or scoped["PriorityClass"] or scoped["Namespace"])


def test_kind_of_checks_the_api_version() -> None:
    assert kinds.kind_of({"apiVersion": "apps/v1", "kind": "Deployment"}).plural == "deployments"
    with pytest.raises(InvalidInput, match="apps/v1"):
        kinds.kind_of({"apiVersion": "v1", "kind": "Deployment"})
    with pytest.raises(InvalidInput, match="no kind"):
        kinds.kind_of({"apiVersion": "v1"})


def test_a_kind_name_can_be_registered_once() -> None:
    reg = kinds.KindRegistry(kinds.DEFAULT_KINDS)
    with pytest.raises(ValueError, match="already registered"):
        reg.register(kinds.KindInfo("events.k8s.io", "v1", "Event", "events", True))


def test_list_kind_and_singular_follow_the_kind() -> None:
    info = kinds.REGISTRY.by_kind("NodePool")
    assert (info.list_kind, info.singular) == ("NodePoolList", "nodepool")
