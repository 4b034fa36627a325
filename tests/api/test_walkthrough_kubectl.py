"""The seed walkthrough driven by the real kubectl against a served twin (issue 4's end-to-end bar)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
import yaml
from conftest import _free_port

from ekstwin.api import create_app
from ekstwin.scenario import serve
from ekstwin.sim.clock import SimClock

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "examples" / "scenarios" / "manifests"
CACHE = f"--cache-dir={tempfile.gettempdir()}/ekstwin-kubectl-cache"
LABELS = ["-L", "karpenter.sh/nodepool", "-L", "node.kubernetes.io/instance-type", "-L",
          "topology.kubernetes.io/zone", "-L", "karpenter.sh/capacity-type"]

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")


@pytest.fixture
def twin(tmp_path: Path) -> Iterator[tuple[str, serve.ServedWorld]]:
    """An empty spot-to-spot cluster (no manifests yet) served over HTTP; the test pumps virtual time."""
    scenario = {"apiVersion": "ekstwin.dev/v1alpha1", "kind": "Scenario", "metadata": {"name": "walkthrough"},
                "spec": {"seed": 42, "cluster": {"region": "eu-west-1", "featureGates": {
                    "SpotToSpotConsolidation": True}, "karpenter": {"version": "v0.34"}}}}
    path = tmp_path / "walkthrough.yaml"
    path.write_text(yaml.safe_dump(scenario))
    served = serve.serve_world(str(path), 1.0, wall=SimClock())  # a wall clock that never moves by itself
    served.driver.start()
    port = _free_port()
    app = create_app(served.world.store, on_write=served.wake, pod_logs=served.pod_logs)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}", served
    server.should_exit = True
    thread.join(5)


def test_apply_get_scale_yaml_describe_watch_and_logs_follow_the_article(
        twin: tuple[str, serve.ServedWorld]) -> None:
    url, served = twin

    def kubectl(*args: str, ok: bool = True) -> str:
        done = subprocess.run(["kubectl", CACHE, "--server", url, *args], capture_output=True, text=True,
                              timeout=60, check=False)
        if ok:
            assert done.returncode == 0, done.stderr
        return done.stdout

    def advance(seconds: float) -> None:  # kubectl is idle here, so the test thread may drive the twin
        served.driver.run_until(served.world.clock.now() + seconds)

    kubectl("apply", "-f", str(MANIFESTS / "nodepool.yaml"))
    kubectl("apply", "-f", str(MANIFESTS / "inflate.yaml"))
    advance(120)
    nodes = kubectl("get", "nodes", *LABELS).splitlines()
    assert nodes[0].split()[-4:] == ["NODEPOOL", "INSTANCE-TYPE", "ZONE", "CAPACITY-TYPE"]
    (row,) = nodes[1:]
    assert row.split()[-1] == "spot" and ".2xlarge" in row.split()[-3]
    assert kubectl("scale", "--replicas=1", "deployment/inflate").strip() == "deployment.apps/inflate scaled"
    advance(300)
    claims = yaml.safe_load(kubectl("get", "nodeclaims", "-o", "yaml"))["items"]
    (claim,) = claims
    types = next(r for r in claim["spec"]["requirements"] if r["key"] == "node.kubernetes.io/instance-type")
    assert len(types["values"]) == 15
    node = claim["status"]["nodeName"]
    advance(60)
    described = kubectl("describe", "node", node)
    assert "Unconsolidatable" in described and "requires 15 cheaper instance type options" in described
    watched = kubectl("get", "events", "-A", "--watch", "--request-timeout=2s", ok=False)
    assert "DisruptionTerminating" in watched
    logs = kubectl("-n", "karpenter", "logs", "-l", "app.kubernetes.io/name=karpenter", "--tail=200")
    assert "disrupting via consolidation replace, terminating 1 candidates" in logs
