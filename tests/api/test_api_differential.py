"""The same scenario driven by its timeline (``ekstwin run``) and through the API (``ekstwin serve``) decides alike.

(a) ``run_scenario`` of the spot-to-spot walkthrough with its timeline: inflate applied at 30 s, scaled to 1 at
5 m, stopped at 10 m. (b) The same scenario without those steps, served on a RealtimeDriver at speed 1 whose
wall clock is a settable ``SimClock`` (never a sleep): pumped to wall 30 s, inflate created by POST through
the API (in-process ASGI transport, ``on_write=served.wake``), pumped to 5 m, scaled by a merge PATCH of the
scale subresource, pumped to 10 m. Both must reach the same NodeClaims, nodes and Karpenter decisions and
log lines, at the same times to the second.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import httpx
import yaml

from ekstwin.api import create_app
from ekstwin.scenario import serve
from ekstwin.scenario.run import run_scenario
from ekstwin.sim.clock import SimClock

EXAMPLES = Path("examples/scenarios")
HORIZON = 600.0


def _scenario(tmp: Path, name: str, timeline: list[dict[str, Any]]) -> str:
    shutil.copytree(EXAMPLES / "manifests", tmp / "manifests", dirs_exist_ok=True)
    doc = yaml.safe_load((EXAMPLES / "spot-to-spot.yaml").read_text())
    doc["spec"]["timeline"] = timeline
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def _claims(objs: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    labels = [c["metadata"].get("labels") or {} for c in objs]
    return sorted((lb.get("node.kubernetes.io/instance-type", ""), lb.get("karpenter.sh/capacity-type", ""),
                   lb.get("topology.kubernetes.io/zone", "")) for lb in labels)


def _karpenter_lines(logs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(line["time"], line["message"]) for line in logs]


def test_timeline_run_and_api_driven_serve_make_the_same_decisions(tmp_path: Path) -> None:
    stop = {"at": "10m", "stop": True}
    timeline_path = _scenario(tmp_path, "timeline", [
        {"at": "30s", "apply": "manifests/inflate.yaml"},
        {"at": "5m", "scale": {"kind": "Deployment", "name": "inflate", "replicas": 1}},
        stop,
    ])
    served_path = _scenario(tmp_path, "served", [stop])
    expected = run_scenario(timeline_path, until=HORIZON)

    wall = SimClock()
    served = serve.serve_world(served_path, 1.0, wall=wall)
    store = served.world.store
    app = create_app(store, on_write=served.wake)
    deployment = yaml.safe_load((EXAMPLES / "manifests" / "inflate.yaml").read_text())
    served.driver.start()

    def pump_to(t: float) -> None:
        for step in range(int(served.driver.now()) + 1, int(t) + 1):
            wall.set(float(step))  # one wall second at a time, as the pump would over real time
            served.pump_once()
        assert served.driver.now() == t

    async def drive(client: httpx.AsyncClient) -> None:
        pump_to(30)
        created = await client.post("/apis/apps/v1/namespaces/default/deployments", json=deployment)
        assert created.status_code == 201, created.text
        pump_to(300)
        scaled = await client.patch("/apis/apps/v1/namespaces/default/deployments/inflate/scale",
                                    content=b'{"spec":{"replicas":1}}',
                                    headers={"Content-Type": "application/merge-patch+json"})
        assert scaled.status_code == 200, scaled.text
        assert scaled.json()["spec"]["replicas"] == 1
        pump_to(HORIZON)

    async def main() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://twin") as client:
            await drive(client)

    asyncio.run(main())

    recorder = served.world.deps.recorder
    assert _claims(store.list("NodeClaim")) == _claims(expected.objects["nodeclaims"])
    assert len(store.list("Node")) == len(expected.objects["nodes"])
    assert _karpenter_lines(recorder.logs) == _karpenter_lines(expected.logs)
    assert [(d["time"], d["kind"], d["message"]) for d in recorder.decisions] == \
        [(d["time"], d["kind"], d["message"]) for d in expected.decisions]
    # the walkthrough's decisions did happen: a launch after the apply, a replacement after the scale-down
    kinds = [d["kind"] for d in expected.decisions]
    assert kinds.count("launch") == 2 and "disruption" in kinds, expected.decisions
    assert len(expected.logs) > 10
