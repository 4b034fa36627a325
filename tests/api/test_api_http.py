"""The API in-process (httpx over ASGI): discovery, CRUD, errors, patches, subresources, tables, watch."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from conftest import DEPLOYMENT, pod, run

from ekstwin.api import create_app
from ekstwin.store.store import Store

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def call(store: Store, method: str, url: str, body: Any = None, *, content_type: str = "application/json",
         **kw: Any) -> httpx.Response:
    app = create_app(store, **kw)

    async def go(c: httpx.AsyncClient) -> httpx.Response:
        data = None if body is None else json.dumps(body)
        return await c.request(method, url, content=data, headers={"content-type": content_type})
    return run(go, app)


def test_token_is_required_when_set(store: Store) -> None:
    denied = call(store, "GET", "/api/v1/pods", token="s3cret")
    assert denied.status_code == 401 and denied.json()["reason"] == "Unauthorized"
    ok = run(lambda c: c.get("/api/v1/pods"), create_app(store, token="s3cret"), authorization="Bearer s3cret")
    assert ok.status_code == 200


def test_discovery_lists_every_kind_with_verbs_and_subresources(store: Store) -> None:
    assert call(store, "GET", "/version").json()["gitVersion"].endswith("-ekstwin")
    assert call(store, "GET", "/api").json()["versions"] == ["v1"]
    groups = {g["name"]: g for g in call(store, "GET", "/apis").json()["groups"]}
    assert {"apps", "policy", "karpenter.sh", "karpenter.k8s.aws", "coordination.k8s.io"} <= set(groups)
    core = {r["name"]: r for r in call(store, "GET", "/api/v1").json()["resources"]}
    assert core["pods"]["shortNames"] == ["po"] and core["pods"]["namespaced"] and "watch" in core["pods"]["verbs"]
    assert "pods/status" in core and core["nodes"]["namespaced"] is False
    apps = {r["name"]: r for r in call(store, "GET", "/apis/apps/v1").json()["resources"]}
    assert apps["deployments/scale"]["kind"] == "Scale"
    karp = {r["name"]: r for r in call(store, "GET", "/apis/karpenter.sh/v1").json()["resources"]}
    assert karp["nodeclaims"]["categories"] == ["karpenter"]
    assert call(store, "GET", "/apis/nope/v1").status_code == 404


def test_list_with_label_and_field_selectors(store: Store) -> None:
    def names(url: str) -> list[str]:
        return [o["metadata"]["name"] for o in call(store, "GET", url).json()["items"]]
    assert names("/api/v1/pods") == ["web-1", "web-2", "db-1"]
    assert names("/api/v1/namespaces/default/pods") == ["web-1", "web-2"]
    assert names("/api/v1/pods?labelSelector=app%20in%20(web,db),!tier") == ["web-2", "db-1"]
    assert names("/api/v1/pods?labelSelector=app!=web") == ["db-1"]
    assert names("/api/v1/pods?fieldSelector=spec.nodeName=n1,status.phase==Running") == ["web-1", "db-1"]
    assert names("/api/v1/pods?fieldSelector=spec.nodeName=") == ["web-2"]
    assert names("/api/v1/pods?fieldSelector=metadata.namespace!=default") == ["db-1"]
    listing = call(store, "GET", "/api/v1/pods").json()
    assert listing["kind"] == "PodList" and listing["metadata"]["resourceVersion"] == str(store.resource_version)


def test_create_defaults_validates_and_reports_field(store: Store) -> None:
    writes: list[int] = []
    made = call(store, "POST", "/apis/apps/v1/namespaces/default/deployments", DEPLOYMENT,
                on_write=lambda: writes.append(1))
    assert made.status_code == 201 and writes == [1]
    assert made.json()["spec"]["strategy"]["type"] == "RollingUpdate"  # defaulted
    again = call(store, "POST", "/apis/apps/v1/namespaces/default/deployments", DEPLOYMENT)
    assert again.status_code == 409 and again.json()["reason"] == "AlreadyExists"
    bad = {**DEPLOYMENT, "metadata": {"name": "bad"}, "spec": {**DEPLOYMENT["spec"], "replicas": -1}}
    invalid = call(store, "POST", "/apis/apps/v1/namespaces/default/deployments", bad).json()
    assert invalid["code"] == 422 and invalid["reason"] == "Invalid"
    assert invalid["details"]["causes"][0]["field"] == "spec.replicas"
    assert store.try_get("Deployment", "bad") is None


def test_dry_run_validates_without_writing(store: Store) -> None:
    rv = store.resource_version
    r = call(store, "POST", "/api/v1/namespaces/default/pods?dryRun=All", pod("ghost"))
    assert r.status_code == 201 and r.json()["spec"]["restartPolicy"] == "Always"
    assert store.try_get("Pod", "ghost") is None and store.resource_version == rv


def test_get_and_not_found_status(store: Store) -> None:
    assert call(store, "GET", "/api/v1/nodes/n1").json()["metadata"]["name"] == "n1"
    missing = call(store, "GET", "/api/v1/namespaces/default/pods/nope")
    body = missing.json()
    assert missing.status_code == 404 and body["kind"] == "Status" and body["status"] == "Failure"
    assert body["message"] == 'pods "nope" not found' and body["details"] == {"name": "nope", "kind": "pods"}
    assert call(store, "GET", "/api/v1/namespaces/default/widgets").status_code == 404
    assert call(store, "GET", "/api/v1/pods/web-1").status_code == 404  # namespaced object needs a namespace


def test_update_conflicts_on_stale_resource_version(store: Store) -> None:
    current = store.get("Pod", "web-2")
    stale = {**current, "metadata": {**current["metadata"], "labels": {"x": "1"}, "resourceVersion": "1"}}
    r = call(store, "PUT", "/api/v1/namespaces/default/pods/web-2", stale)
    assert r.status_code == 409 and r.json()["reason"] == "Conflict"
    fresh = {**stale, "metadata": {**stale["metadata"], "resourceVersion": current["metadata"]["resourceVersion"]}}
    assert call(store, "PUT", "/api/v1/namespaces/default/pods/web-2", fresh).status_code == 200
    assert store.get("Pod", "web-2")["metadata"]["labels"] == {"x": "1"}


def test_update_of_main_resource_keeps_status(store: Store) -> None:
    current = store.get("Pod", "web-1")
    r = call(store, "PUT", "/api/v1/namespaces/default/pods/web-1", {**current, "status": {"phase": "Failed"}})
    assert r.status_code == 200 and store.get("Pod", "web-1")["status"]["phase"] == "Running"
    latest = store.get("Pod", "web-1")
    s = call(store, "PUT", "/api/v1/namespaces/default/pods/web-1/status", {**latest, "status": {"phase": "Failed"}})
    assert s.status_code == 200 and store.get("Pod", "web-1")["status"] == {"phase": "Failed"}


def test_merge_strategic_and_json_patches(store: Store) -> None:
    url = "/api/v1/namespaces/default/pods/web-2"
    call(store, "PATCH", url, {"metadata": {"labels": {"tier": "back", "app": None}}},
         content_type="application/merge-patch+json")
    assert store.get("Pod", "web-2")["metadata"]["labels"] == {"tier": "back"}
    smp = {"spec": {"containers": [{"name": "app", "image": "pause:3.8"}, {"name": "side", "image": "busybox"}]}}
    call(store, "PATCH", url, smp, content_type="application/strategic-merge-patch+json")
    containers = store.get("Pod", "web-2")["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [("app", "pause:3.8"), ("side", "busybox")]
    assert containers[0]["terminationMessagePath"]  # merged into the existing container, not replaced
    ops = [{"op": "test", "path": "/metadata/labels/tier", "value": "back"},
           {"op": "add", "path": "/metadata/labels/zone", "value": "a"},
           {"op": "remove", "path": "/spec/containers/1"}]
    assert call(store, "PATCH", url, ops, content_type="application/json-patch+json").status_code == 200
    got = store.get("Pod", "web-2")
    assert got["metadata"]["labels"] == {"tier": "back", "zone": "a"} and len(got["spec"]["containers"]) == 1
    failed = call(store, "PATCH", url, [{"op": "test", "path": "/metadata/name", "value": "x"}],
                  content_type="application/json-patch+json")
    assert failed.status_code == 400 and failed.json()["reason"] == "BadRequest"


def test_scale_subresource(store: Store) -> None:
    call(store, "POST", "/apis/apps/v1/namespaces/default/deployments", DEPLOYMENT)
    url = "/apis/apps/v1/namespaces/default/deployments/inflate/scale"
    scale = call(store, "GET", url).json()
    assert scale["kind"] == "Scale" and scale["spec"]["replicas"] == 0 and scale["status"]["selector"] == "app=inflate"
    r = call(store, "PATCH", url, {"spec": {"replicas": 3}}, content_type="application/merge-patch+json")
    assert r.json()["spec"]["replicas"] == 3 and store.get("Deployment", "inflate")["spec"]["replicas"] == 3
    put = call(store, "PUT", url, {**scale, "spec": {"replicas": 1}})  # carries the old resourceVersion
    assert put.status_code == 409


def test_delete_is_graceful_for_bound_pods(store: Store) -> None:
    r = call(store, "DELETE", "/api/v1/namespaces/default/pods/web-1")
    assert r.status_code == 202 and r.json()["metadata"]["deletionTimestamp"]
    gone = call(store, "DELETE", "/api/v1/namespaces/default/pods/web-2", {"gracePeriodSeconds": 0})
    assert gone.status_code == 200 and store.try_get("Pod", "web-2") is None
    assert call(store, "DELETE", "/api/v1/namespaces/default/pods/web-2").status_code == 404
    assert call(store, "DELETE", "/api/v1/nodes/n1?dryRun=All").status_code == 200
    assert store.try_get("Node", "n1") is not None


def test_bad_body_and_method(store: Store) -> None:
    app = create_app(store)
    r = run(lambda c: c.post("/api/v1/namespaces/default/pods", content=b"{nope"), app)
    assert r.status_code == 400 and r.json()["reason"] == "BadRequest"
    assert call(store, "POST", "/api/v1/namespaces/default/pods/web-1", pod("x")).status_code == 405
    wrong_ns = call(store, "POST", "/api/v1/namespaces/data/pods", pod("x", ns="default"))
    assert wrong_ns.status_code == 400


def test_table_for_kubectl_get(store: Store) -> None:
    app = create_app(store)
    pods = run(lambda c: c.get("/api/v1/pods", headers={"accept": TABLE}), app).json()
    assert pods["kind"] == "Table"
    assert [c["name"] for c in pods["columnDefinitions"]][:5] == ["Name", "Ready", "Status", "Restarts", "Age"]
    assert pods["rows"][0]["cells"][:5] == ["web-1", "0/1", "Running", 0, "5m"]
    assert pods["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    nodes = run(lambda c: c.get("/api/v1/nodes/n1", headers={"accept": TABLE}), app).json()
    assert nodes["rows"][0]["cells"][:3] == ["n1", "Ready", "<none>"]
    generic = run(lambda c: c.get("/api/v1/namespaces", headers={"accept": TABLE}), app).json()
    assert [c["name"] for c in generic["columnDefinitions"]] == ["Name", "Age"]


def _watch_lines(store: Store, url: str, write: Any = None) -> list[dict[str, Any]]:
    app = create_app(store, bookmark_interval=0.1)

    async def go(c: httpx.AsyncClient) -> list[dict[str, Any]]:
        async def writer() -> None:
            await asyncio.sleep(0.05)
            if write is not None:
                write()
        task = asyncio.create_task(writer())
        r = await c.get(url)
        await task
        return [json.loads(line) for line in r.text.splitlines()]
    return run(go, app)


def test_watch_replays_from_resource_version_then_streams_live(store: Store) -> None:
    rv = store.get("Pod", "web-2")["metadata"]["resourceVersion"]
    events = _watch_lines(store, f"/api/v1/namespaces/default/pods?watch=1&resourceVersion={int(rv) - 1}"
                                 "&timeoutSeconds=0.3",
                          lambda: store.patch("Pod", "web-1", "default", {"metadata": {"labels": {"x": "y"}}}))
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "web-2"),
                                                                              ("MODIFIED", "web-1")]


def test_watch_without_resource_version_starts_with_the_current_objects(store: Store) -> None:
    events = _watch_lines(store, "/api/v1/pods?watch=true&labelSelector=app=web&timeoutSeconds=0.2")
    assert [e["object"]["metadata"]["name"] for e in events] == ["web-1", "web-2"]


def test_watch_bookmarks_and_gone(store: Store) -> None:
    events = _watch_lines(store, f"/api/v1/pods?watch=1&resourceVersion={store.resource_version}"
                                 "&allowWatchBookmarks=true&timeoutSeconds=0.35")
    assert events and {e["type"] for e in events} == {"BOOKMARK"}
    assert events[0]["object"]["metadata"]["resourceVersion"] == str(store.resource_version)
    small = Store(lambda: 0.0, watch_window=2)
    for i in range(5):
        small.create(pod(f"p{i}"))
    expired = _watch_lines(small, "/api/v1/pods?watch=1&resourceVersion=1&timeoutSeconds=1")
    assert expired[0]["type"] == "ERROR" and expired[0]["object"]["code"] == 410


@pytest.mark.parametrize("url", ["/apis/karpenter.sh/v1beta1/nodepools", "/apis/karpenter.sh/v1/nodepools"])
def test_nodepool_served_in_v1_and_v1beta1(store: Store, url: str) -> None:
    nodepool = {"apiVersion": url.split("/")[2] + "/" + url.split("/")[3], "kind": "NodePool",
                "metadata": {"name": "default"},
                "spec": {"template": {"spec": {"nodeClassRef": {"name": "default"}, "requirements": []}}}}
    if "v1beta1" not in url:
        nodepool["spec"]["template"]["spec"]["nodeClassRef"].update(group="karpenter.k8s.aws", kind="EC2NodeClass")
    r = call(store, "POST", url, nodepool)
    assert r.status_code == 201, r.json()
    assert store.get("NodePool", "default")["apiVersion"] == "karpenter.sh/v1"


def test_a_node_name_equality_is_read_out_of_a_field_selector_for_the_index() -> None:
    from ekstwin.api import query

    assert query.field_equals("spec.nodeName=n1,status.phase=Running", "spec.nodeName") == "n1"
    assert query.field_equals("spec.nodeName!=n1", "spec.nodeName") is None
