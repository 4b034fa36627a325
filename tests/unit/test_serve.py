"""``ekstwin serve``'s pieces: the served world, its pump, the TLS material and kubeconfig, the command."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import ipaddress
import ssl
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from typer.testing import CliRunner

from ekstwin.api import tls
from ekstwin.cli import app, parse_speed
from ekstwin.errors import InvalidInput
from ekstwin.scenario import loader, serve
from ekstwin.scenario.run import run_scenario
from ekstwin.scenario.world import build
from ekstwin.sim.clock import SimClock
from ekstwin.sim.realtime_driver import RealtimeDriver
from ekstwin.sim.sim_driver import SimDriver

SPOT_TO_SPOT = "examples/scenarios/spot-to-spot.yaml"
NOW = dt.datetime.now(dt.UTC)  # real time: the handshake test's TLS stack checks validity against it
runner = CliRunner()


# the served world -------------------------------------------------------------------------------

def test_build_with_the_default_driver_still_makes_a_plain_sim_driver() -> None:
    world = build(loader.load_scenario(SPOT_TO_SPOT))
    assert type(world.driver) is SimDriver
    assert world.driver.now() == 0


def test_serving_at_speed_1_for_600_wall_seconds_makes_the_decisions_ekstwin_run_makes() -> None:
    wall = SimClock()
    served = serve.serve_world(SPOT_TO_SPOT, 1.0, wall=wall)
    served.driver.start()
    for wall_s in (0.5, 61, 299.99, 300, 450, 600):
        wall.set(wall_s)
        served.pump_once()
    assert served.driver.now() == 600
    decisions = served.world.deps.recorder.decisions
    assert decisions == run_scenario(SPOT_TO_SPOT, until=600).decisions
    assert len(decisions) > 5


def test_a_scale_written_between_pumps_is_reconciled_at_the_current_virtual_time_on_wake() -> None:
    wall = SimClock()
    served = serve.serve_world(SPOT_TO_SPOT, 10.0, wall=wall)
    store = served.world.store
    served.driver.start()
    wall.set(6.0)
    served.pump_once()  # virtual 60 s: inflate is up
    before = {p["metadata"]["name"] for p in store.list("Pod") if p["metadata"]["name"].startswith("inflate")}
    store.patch("Deployment", "inflate", "default", {"spec": {"replicas": 8}})
    served.wake()
    new = [p for p in store.list("Pod")
           if p["metadata"]["name"].startswith("inflate") and p["metadata"]["name"] not in before]
    assert len(new) == 3
    assert {p["metadata"]["creationTimestamp"] for p in new} == {store.format_time(60)}
    assert served.driver.now() == 60


def test_the_pump_keeps_advancing_the_driver_until_it_is_cancelled() -> None:
    wall = SimClock()
    served = serve.serve_world(SPOT_TO_SPOT, 10.0, wall=wall, interval_s=0)

    async def pump_a_while() -> None:
        task = asyncio.create_task(served.pump())
        await asyncio.sleep(0)  # the pump starts, pinning wall 0 to virtual 0
        for wall_s in range(1, 6):
            wall.set(wall_s)
            await asyncio.sleep(0)
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(pump_a_while())
    assert served.pumps >= 5
    assert served.driver.now() == 50


class FakeServer:
    """Stands in for uvicorn: serves until told to exit, or for ``rounds`` loop turns."""

    def __init__(self, rounds: int | None = None) -> None:
        self.should_exit = False
        self.rounds = rounds

    async def serve(self) -> None:
        n = 0
        while not self.should_exit and (self.rounds is None or n < self.rounds):
            n += 1
            await asyncio.sleep(0)


def test_when_the_server_stops_the_pump_stops_too() -> None:
    served = serve.serve_world(SPOT_TO_SPOT, None, interval_s=0)
    asyncio.run(serve.serve_forever(served, FakeServer(rounds=20)))
    assert served.pumps > 0


def test_a_controller_failure_in_the_pump_stops_the_server_and_is_raised() -> None:
    served = serve.serve_world(SPOT_TO_SPOT, None, interval_s=0)

    def broken() -> None:
        raise RuntimeError("controller bug")

    served.driver.schedule_callback(1, broken)
    server = FakeServer()
    with pytest.raises(RuntimeError, match="controller bug"):
        asyncio.run(serve.serve_forever(served, server))
    assert server.should_exit


# TLS and kubeconfig ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def material() -> tls.ServerTLS:
    return tls.generate(NOW, ["127.0.0.1"])


def test_the_certificate_is_valid_for_127_0_0_1_and_localhost_and_signed_by_the_ca(
        material: tls.ServerTLS) -> None:
    cert = x509.load_pem_x509_certificate(material.cert_pem)
    ca = x509.load_pem_x509_certificate(material.ca_pem)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in san.get_values_for_type(x509.IPAddress)
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    cert.verify_directly_issued_by(ca)
    assert cert.not_valid_before_utc <= NOW < cert.not_valid_after_utc


def test_a_strict_tls_client_trusting_the_ca_completes_a_handshake_with_the_server_for_127_0_0_1(
        material: tls.ServerTLS, tmp_path: Path) -> None:
    cert_path, key_path = tls.write_server_files(material, tmp_path)
    assert key_path.stat().st_mode & 0o077 == 0
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert_path, key_path)
    client_ctx = ssl.create_default_context(cadata=material.ca_pem.decode())
    client_ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    client_in, client_out, server_in, server_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(client_in, client_out, server_hostname="127.0.0.1")
    server = server_ctx.wrap_bio(server_in, server_out, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(10):  # shuttle handshake bytes between the two ends in memory
        for name, end in (("client", client), ("server", server)):
            if not done[name]:
                try:
                    end.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        server_in.write(client_out.read())
        client_in.write(server_out.read())
    assert done == {"client": True, "server": True}


def test_the_kubeconfig_is_parseable_yaml_with_a_token_and_ca_data(material: tls.ServerTLS, tmp_path: Path) -> None:
    path = tmp_path / "twin.kubeconfig"
    token = tls.new_token()
    tls.write_kubeconfig(path, tls.kubeconfig(tls.server_url("127.0.0.1", 6443, tls=True), token, material.ca_pem))
    config = yaml.safe_load(path.read_text())
    assert config["current-context"] == "ekstwin"
    cluster = config["clusters"][0]["cluster"]
    assert cluster["server"] == "https://127.0.0.1:6443"
    assert base64.b64decode(cluster["certificate-authority-data"]) == material.ca_pem
    assert config["users"][0]["user"]["token"] == token
    assert len(token) == 64
    assert path.stat().st_mode & 0o077 == 0


def test_a_wildcard_bind_address_is_reached_through_loopback_and_ipv6_is_bracketed() -> None:
    assert tls.server_url("0.0.0.0", 6443, tls=True) == "https://127.0.0.1:6443"
    assert tls.server_url("::1", 8080, tls=False) == "http://[::1]:8080"


# the command ----------------------------------------------------------------------------------

def test_speed_is_a_positive_number_or_max() -> None:
    assert parse_speed("max") is None
    assert parse_speed("10") == 10.0
    for bad in ("0", "-2", "fast", "inf"):
        with pytest.raises(InvalidInput, match="--speed"):
            parse_speed(bad)


def test_serve_without_the_api_package_fails_with_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ekstwin.api.app", None)  # None in sys.modules makes the import fail
    result = runner.invoke(app, ["serve", SPOT_TO_SPOT])
    assert result.exit_code == 2
    assert "ekstwin[api]" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_serve_writes_the_kubeconfig_hands_the_token_to_the_app_and_runs_the_server(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    def create_app(store: object, *, token: str | None = None, on_write: Any = None, pod_logs: Any = None) -> str:
        seen.update(store=store, token=token, on_write=on_write, pod_logs=pod_logs)
        return "asgi-app"

    class Config:
        def __init__(self, app: object, **kw: Any) -> None:
            seen["config"] = (app, kw)

    monkeypatch.setitem(sys.modules, "ekstwin.api.app", types.SimpleNamespace(create_app=create_app))
    monkeypatch.setitem(sys.modules, "uvicorn", types.SimpleNamespace(
        Config=Config, Server=lambda config: FakeServer(rounds=3)))
    kubeconfig = tmp_path / "twin.kubeconfig"
    result = runner.invoke(app, ["serve", SPOT_TO_SPOT, "--speed", "max", "--port", "7443",
                                 "--kubeconfig", str(kubeconfig)])
    assert result.exit_code == 0, result.output
    served = seen["pod_logs"].__self__  # the served world's provider: Karpenter's lines for its pod
    assert isinstance(served, serve.ServedWorld) and seen["on_write"] == served.wake
    config = yaml.safe_load(kubeconfig.read_text())
    assert config["users"][0]["user"]["token"] == seen["token"]
    assert config["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:7443"
    asgi, kw = seen["config"]
    assert asgi == "asgi-app"
    assert kw["port"] == 7443 and kw["host"] == "127.0.0.1"
    assert kw["ssl_certfile"].endswith("server.crt")
    assert str(kubeconfig) in result.output


def test_serve_with_no_tls_writes_an_http_kubeconfig_without_ca_data(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "ekstwin.api.app",
                        types.SimpleNamespace(create_app=lambda store, **kw: "asgi-app"))
    configs: list[dict[str, Any]] = []
    monkeypatch.setitem(sys.modules, "uvicorn", types.SimpleNamespace(
        Config=lambda app, **kw: configs.append(kw), Server=lambda config: FakeServer(rounds=1)))
    kubeconfig = tmp_path / "k"
    result = runner.invoke(app, ["serve", SPOT_TO_SPOT, "--no-tls", "--kubeconfig", str(kubeconfig)])
    assert result.exit_code == 0, result.output
    cluster = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]
    assert cluster == {"server": "http://127.0.0.1:6443"}
    assert "ssl_certfile" not in configs[0]


def test_a_realtime_driver_can_be_built_into_any_world() -> None:
    wall = SimClock()
    world = build(loader.load_scenario(SPOT_TO_SPOT),
                  driver_factory=lambda store, clock: RealtimeDriver(store, clock, speed=2, wall=wall))
    assert isinstance(world.driver, RealtimeDriver)
    assert world.store.list("NodePool")
