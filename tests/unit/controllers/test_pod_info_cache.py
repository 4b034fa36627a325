"""``pod_info``: the per-pod PodInfo cache is never stale, and binding reuses the parse."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from ekstwin.controllers.base import Deps, pod_info
from ekstwin.model.pod import PodInfo


def _deps() -> Deps:
    return cast(Deps, SimpleNamespace(state={}))


def _pod() -> dict[str, Any]:
    return {"metadata": {"name": "p", "namespace": "default", "uid": "u1", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "250m"}}}],
                     "tolerations": [{"operator": "Exists"}]},
            "status": {"phase": "Pending"}}


def test_binding_a_pod_gives_what_a_fresh_parse_gives_without_parsing_again() -> None:
    deps, pod = _deps(), _pod()
    pending = pod_info(deps, pod)
    bound = {**pod, "spec": {**pod["spec"], "nodeName": "n1"}}  # how kube-scheduler binds: shared subtrees
    info = pod_info(deps, bound)
    assert info == PodInfo.parse(bound) and info.node_name == "n1"
    assert info.tolerations is pending.tolerations  # reused, not re-parsed
    assert pod_info(deps, bound) is info


def test_a_changed_spec_field_besides_node_name_is_parsed_again() -> None:
    deps, pod = _deps(), _pod()
    pod_info(deps, pod)
    changed = {**pod, "spec": {**pod["spec"], "nodeName": "n1", "priority": 7}}
    assert pod_info(deps, changed) == PodInfo.parse(changed) and pod_info(deps, changed).priority == 7


def test_adoption_and_annotations_refresh_the_cached_owner_and_flags() -> None:
    deps, pod = _deps(), _pod()
    assert pod_info(deps, pod).owner_kind is None
    adopted = {**pod, "metadata": {**pod["metadata"], "ownerReferences": [
        {"kind": "ReplicaSet", "name": "web-1", "uid": "rs1", "controller": True}]}}
    assert pod_info(deps, adopted).owner_kind == "ReplicaSet"
    pinned = {**adopted, "metadata": {**adopted["metadata"],
                                      "annotations": {"karpenter.sh/do-not-disrupt": "true"}}}
    assert pod_info(deps, pinned).do_not_disrupt is True
    status_only = {**pinned, "status": {"phase": "Running"}}
    assert pod_info(deps, status_only).phase == "Running"


def test_deletion_and_phase_changes_update_the_cached_info_like_a_parse() -> None:
    deps, pod = _deps(), _pod()
    pod_info(deps, pod)
    bound = {**pod, "spec": {**pod["spec"], "nodeName": "n1"}}
    running = {**bound, "status": {"phase": "Running"}}
    deleting = {**running, "metadata": {**running["metadata"], "deletionTimestamp": "2026-11-26T00:00:00Z"}}
    done = {**deleting, "status": {"phase": "Succeeded"}}
    for version in (bound, running, deleting, done):
        assert pod_info(deps, version) == PodInfo.parse(version)
    assert pod_info(deps, done).deleting and pod_info(deps, done).phase == "Succeeded"
