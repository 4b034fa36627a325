"""A world for ``ekstwin serve``: the scenario's cluster on a RealtimeDriver, pumped from asyncio.

``serve_world`` builds the same world ``ekstwin run`` does (initial objects at t=0, the timeline
scheduled) but on a ``RealtimeDriver``. ``ServedWorld.pump`` advances it every ``interval_s`` of wall
time; the HTTP API calls ``ServedWorld.wake`` after each write so the controllers react at once.
``ServedWorld.pod_logs`` is the API's pod-log provider: the Karpenter controller's pod prints the twin's
Karpenter log lines (compact JSON, one object a line, as Karpenter's zap logger does); other pods print nothing.
``serve_forever`` runs a server and the pump side by side until the server stops.

Threading: the pump and ``wake`` hold ``ServedWorld.lock``. An API whose handlers run in worker threads
(Starlette's sync endpoints) must hold the same lock around its store reads and writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from ekstwin.model.pod import is_control_plane
from ekstwin.scenario import addons, loader
from ekstwin.scenario.run import schedule_timeline  # the same timeline actions as `ekstwin run`
from ekstwin.scenario.world import World, build
from ekstwin.sim.clock import Clock, SimClock
from ekstwin.sim.realtime_driver import RealtimeDriver
from ekstwin.store.store import DEFAULT_EPOCH, Store

DEFAULT_INTERVAL_S = 0.05
"""Wall seconds between pumps: fine enough for kubectl, coarse enough to cost nothing when idle."""


class Server(Protocol):
    """What ``serve_forever`` needs of an HTTP server (uvicorn's ``Server`` fits)."""

    should_exit: bool

    async def serve(self) -> None: ...


@dataclass
class ServedWorld:
    """A world whose RealtimeDriver is pumped against the wall clock."""

    world: World
    driver: RealtimeDriver
    interval_s: float = DEFAULT_INTERVAL_S
    lock: threading.RLock = field(default_factory=threading.RLock)
    pumps: int = 0
    _log_lines: list[str] = field(default_factory=list, repr=False)

    def pod_logs(self, namespace: str, name: str) -> list[str]:
        """The log lines of pod ``namespace/name``: Karpenter's for the controller's pod, none for the rest."""
        with self.lock:
            pod = self.world.store.try_get("Pod", name, namespace)
            if pod is None or not _is_karpenter(pod):
                return []
            recorded = self.world.deps.recorder.logs
            rendered = self._log_lines  # the recorder only appends: render each line once
            rendered.extend(json.dumps(line, separators=(",", ":")) for line in recorded[len(rendered):])
            return list(rendered)

    def pump_once(self) -> float:
        """Advance to the wall clock's now; returns the virtual time reached."""
        with self.lock:
            self.pumps += 1
            return self.driver.advance_to_wall()

    def wake(self) -> None:
        """Run what an API write just enqueued, at the current virtual time."""
        with self.lock:
            self.driver.wake()

    async def pump(self) -> None:
        """Pump forever (until cancelled), starting the wall mapping now."""
        with self.lock:
            self.driver.start()
        while True:
            self.pump_once()
            # In max mode keep going while work remains, but yield so requests are still served.
            busy = self.driver.speed is None and not self.driver.idle()
            await asyncio.sleep(0 if busy else self.interval_s)


def serve_world(path: str, speed: float | None, *, seed: int | None = None, wall: Clock | None = None,
                interval_s: float = DEFAULT_INTERVAL_S, epoch: datetime | None = None) -> ServedWorld:
    """Load the scenario at ``path`` and build its world on a RealtimeDriver at ``speed`` (None: max).

    ``wall`` is the real clock (tests pass a settable one). Every timeline step is scheduled: serving
    has no horizon, so the scenario's ``stop`` is ignored.
    """
    scenario = loader.load_scenario(path)
    # max mode stops at the scenario's stop time (if any): past it, only API writes move anything
    factory = functools.partial(_realtime, speed=speed, wall=wall, horizon=scenario.stop_s)
    world = build(scenario, seed, driver_factory=factory, epoch=epoch or DEFAULT_EPOCH)
    driver = world.driver
    assert isinstance(driver, RealtimeDriver)
    schedule_timeline(world)
    return ServedWorld(world, driver, interval_s)


def _is_karpenter(pod: dict[str, object]) -> bool:
    meta = pod.get("metadata")
    labels = meta.get("labels") if isinstance(meta, dict) else None
    return (is_control_plane(pod) and isinstance(labels, dict)
            and labels.get("app.kubernetes.io/name") == addons.KARPENTER_LABELS["app.kubernetes.io/name"])


def _realtime(store: Store, clock: SimClock, *, speed: float | None, wall: Clock | None,
              horizon: float | None) -> RealtimeDriver:
    return RealtimeDriver(store, clock, speed=speed, wall=wall, horizon=horizon)


async def serve_forever(served: ServedWorld, server: Server) -> None:
    """Run ``server`` and the pump together; when either ends, stop the other.

    A pump failure (a controller bug) asks the server to exit and is then raised.
    """
    pump = asyncio.create_task(served.pump())
    serving = asyncio.create_task(server.serve())
    await asyncio.wait({pump, serving}, return_when=asyncio.FIRST_COMPLETED)
    if pump.done():
        server.should_exit = True
        await serving
        pump.result()  # re-raises the controller error
        return
    pump.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await pump
    serving.result()
