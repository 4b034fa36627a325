"""Real clients against a served twin: the official Python client and the kubectl binary."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import DEPLOYMENT
from kubernetes import client, watch

from ekstwin.store.store import Store

# kubectl caches discovery per server; keep that out of the user's ~/.kube
CACHE = f"--cache-dir={tempfile.gettempdir()}/ekstwin-kubectl-cache"
needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")


def api_client(url: str) -> client.ApiClient:
    config = client.Configuration()
    config.host = url
    return client.ApiClient(config)


def test_python_client_list_create_patch(server: str, store: Store) -> None:
    core = client.CoreV1Api(api_client(server))
    pods = core.list_pod_for_all_namespaces(label_selector="app=web")
    assert [p.metadata.name for p in pods.items] == ["web-1", "web-2"]
    apps = client.AppsV1Api(api_client(server))
    made = apps.create_namespaced_deployment("default", DEPLOYMENT)
    assert made.spec.replicas == 0 and made.metadata.uid
    apps.patch_namespaced_deployment_scale("inflate", "default", {"spec": {"replicas": 2}})
    assert apps.read_namespaced_deployment("inflate", "default").spec.replicas == 2
    with pytest.raises(client.ApiException) as err:
        core.read_namespaced_pod("nope", "default")
    assert err.value.status == 404 and json.loads(err.value.body)["reason"] == "NotFound"


def test_python_client_watch(server: str, store: Store) -> None:
    core = client.CoreV1Api(api_client(server))
    rv = core.list_namespaced_pod("default").metadata.resource_version
    seen: list[tuple[str, str]] = []

    def consume() -> None:
        for ev in watch.Watch().stream(core.list_namespaced_pod, "default", resource_version=rv, timeout_seconds=1):
            seen.append((ev["type"], ev["object"].metadata.name))

    t = threading.Thread(target=consume)
    t.start()
    body: dict[str, Any] = {"metadata": {"name": "new"}, "spec": {"containers": [{"name": "a", "image": "x"}]}}
    core.create_namespaced_pod("default", body)
    t.join(5)
    assert seen == [("ADDED", "new")]


def kubectl(server: str, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(["kubectl", CACHE, "--server", server, *args], input=stdin, capture_output=True, text=True,
                          timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@needs_kubectl
def test_kubectl_get_with_label_columns(server: str, tmp_path: Path) -> None:
    out = kubectl(server, "get", "pods", "-A")
    assert out.splitlines()[0].split() == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert "db-1" in out and "Running" in out
    nodes = kubectl(server, "get", "nodes", "-L", "karpenter.sh/nodepool", "-L", "topology.kubernetes.io/zone")
    assert nodes.splitlines()[1].split() == ["n1", "Ready", "<none>", "5m", "default", "eu-west-1a"]


@needs_kubectl
def test_kubectl_apply_scale_and_yaml(server: str, tmp_path: Path, store: Store) -> None:
    manifest = tmp_path / "inflate.json"
    manifest.write_text(json.dumps(DEPLOYMENT))
    assert "created" in kubectl(server, "apply", "-f", str(manifest))
    changed = json.loads(json.dumps(DEPLOYMENT))
    changed["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "2"
    manifest.write_text(json.dumps(changed))
    assert "configured" in kubectl(server, "apply", "-f", str(manifest))
    assert "scaled" in kubectl(server, "scale", "--replicas=4", "deployment/inflate")
    got = kubectl(server, "get", "deployment", "inflate", "-o", "yaml")
    assert "replicas: 4" in got and "cpu: \"2\"" in got
    assert store.get("Deployment", "inflate")["spec"]["replicas"] == 4
    bad = subprocess.run(["kubectl", CACHE, "--server", server, "apply", "-f", "-"], capture_output=True, text=True,
                         input=json.dumps({**DEPLOYMENT, "metadata": {"name": "bad"},
                                           "spec": {**DEPLOYMENT["spec"], "replicas": -2}}), check=False)
    assert bad.returncode != 0 and "spec.replicas" in bad.stderr


@needs_kubectl
def test_kubectl_applies_the_seed_v1beta1_manifests(server: str, store: Store) -> None:
    seed = Path(__file__).parents[2] / "examples" / "scenarios" / "manifests" / "nodepool.yaml"
    out = kubectl(server, "apply", "-f", str(seed))
    assert "nodepool.karpenter.sh/default created" in out
    assert store.get("NodePool", "default")["spec"]["disruption"]["consolidationPolicy"] == "WhenEmptyOrUnderutilized"
    assert "default" in kubectl(server, "get", "nodepools")
