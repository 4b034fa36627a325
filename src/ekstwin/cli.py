"""The ``ekstwin`` command line: run scenarios, validate files, browse the EC2 catalog, benchmark.

Failures the user can fix (``EkstwinError``: a bad file, an unknown instance type, a malformed
``--requirement``) print one ``error: ...`` line on stderr and exit 2; anything else is a bug and is
allowed to raise with its traceback. Heavy modules (the simulator, numpy via the catalog) are imported
inside the commands that need them so ``ekstwin --help`` and ``validate`` start fast, and so the
simulator's entry points can be swapped out in tests.

This is the only module that may read environment variables or the wall clock (see pyproject's ruff
per-file rules); it needs neither yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, ParamSpec, TypeVar

import typer
import yaml
from rich.console import Console
from rich.text import Text

from ekstwin.errors import EkstwinError, InvalidInput
from ekstwin.model import requirements as rq
from ekstwin.model.manifests import safe_load_all
from ekstwin.reports import json_report
from ekstwin.reports.text import kubectl_table
from ekstwin.units.durations import format_duration, parse_duration
from ekstwin.units.resources import CPU, MEMORY, PODS, Resources, render

if TYPE_CHECKING:
    from ekstwin.catalog import Catalog, InstanceType, Offering
    from ekstwin.scenario.result import RunResult

P = ParamSpec("P")
R = TypeVar("R")
ProgressFn = Callable[[float, float], None]

EXIT_ERROR = 2
SORTS = ("price", "name", "cpu", "memory")
CAPACITY_TYPES = ("spot", "on-demand")
# Requirements on these keys pick offerings, not types: zone and capacity type vary per offering.
OFFERING_KEYS = {rq.ZONE: "zone", rq.ZONE_ID: "zone_id", rq.CAPACITY_TYPE: "capacity_type"}
INTERRUPTION_BUCKETS = ("<5%", "5-10%", "10-15%", "15-20%", ">20%")

app = typer.Typer(name="ekstwin", no_args_is_help=True, add_completion=False,
                  help="A digital twin of an Amazon EKS cluster's compute layer (Karpenter, kube-scheduler, EC2).")
bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks of the twin's hot paths.")
app.add_typer(bench_app, name="bench")


def main() -> None:
    """Console-script entry point."""
    app(prog_name="ekstwin")


# Errors and output -----------------------------------------------------------------------------

def one_line(message: str) -> str:
    """Multi-line messages joined with "; " so every error is a single greppable line."""
    return "; ".join(line.strip() for line in message.splitlines() if line.strip())


def fail(message: str) -> NoReturn:
    """Print ``error: message`` on stderr and exit 2."""
    typer.echo(f"error: {one_line(message)}", err=True)
    raise typer.Exit(EXIT_ERROR)


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn ``EkstwinError`` into the one-line error and exit code 2 (typer sees the same signature)."""
    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except EkstwinError as err:
            fail(str(err))
    return wrapper


def require_file(path: str) -> None:
    """Raise the CLI's "no such file" error unless ``path`` is an existing regular file."""
    if not os.path.exists(path):
        raise InvalidInput("no such file", file=path)
    if os.path.isdir(path):
        raise InvalidInput("is a directory", file=path)


def _stdout() -> Console:
    # Colours only on a terminal (rich decides); markup off so '[...]' in names prints literally.
    return Console(markup=False, emoji=False, highlight=False)


def _print_lines(lines: Sequence[Text], console: Console | None = None) -> None:
    out = console or _stdout()
    for line in lines:
        out.print(line, soft_wrap=True)


def _lazy(module: str, attr: str) -> Any:
    """``module.attr`` imported on first use (the simulator is only loaded by the commands that run it)."""
    return getattr(importlib.import_module(module), attr)


# run ------------------------------------------------------------------------------------------

@app.command("run")
@reports_errors
def run_command(
    scenario: Annotated[str, typer.Argument(help="Scenario file (kind: Scenario).", show_default=False)],
    until: Annotated[str | None, typer.Option(
        help="Stop at this simulated time, as a Go duration (90s, 4m, 1h30m). Default: the scenario's.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of every random stream. Default: the scenario's.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the machine-readable report on stdout.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar; only the summary.")] = False,
    feature_gate: Annotated[list[str] | None, typer.Option(
        help="Override a Karpenter feature gate, e.g. SpotToSpotConsolidation=false (repeatable).")] = None,
) -> None:
    """Run a scenario and print what the cluster looks like at the end."""
    require_file(scenario)
    horizon = _until(until)
    gates = _feature_gates(feature_gate or [])
    run_scenario = _lazy("ekstwin.scenario.run", "run_scenario")
    with progress_bar(enabled=not (as_json or quiet)) as progress:
        result: RunResult = run_scenario(scenario, until=horizon, seed=seed, progress=progress,
                                         feature_gates=gates)
    if as_json:
        typer.echo(json_report.dumps(result))
        return
    from ekstwin.reports.text import render
    render(result, _stdout(), quiet=quiet)


def _feature_gates(items: list[str]) -> dict[str, bool]:
    """``Name=true|false`` pairs (the form Karpenter's --feature-gates flag takes)."""
    gates: dict[str, bool] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or value.lower() not in ("true", "false") or not name:
            raise InvalidInput(f"--feature-gate expects Name=true or Name=false, got {item!r}")
        gates[name] = value.lower() == "true"
    return gates


def _until(text: str | None) -> float | None:
    if text is None:
        return None
    seconds = parse_duration(text)
    if seconds <= 0:
        raise InvalidInput(f"--until must be a positive duration, got {text!r}")
    return seconds


@contextmanager
def progress_bar(*, enabled: bool) -> Iterator[ProgressFn | None]:
    """A simulated-time progress bar on stderr; None (no callback) unless enabled and stderr is a TTY."""
    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    columns = (TextColumn("simulating"), BarColumn(), TextColumn("{task.fields[sim]}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("run", total=None, sim="")

        def update(now_s: float, horizon_s: float) -> None:
            bar.update(task, completed=now_s, total=horizon_s or None,
                       sim=f"{format_duration(now_s)} / {format_duration(horizon_s)}")
        yield update


# validate -------------------------------------------------------------------------------------

@app.command("validate")
@reports_errors
def validate_command(
    paths: Annotated[list[str], typer.Argument(help="Scenario or manifest files, or directories of them.",
                                               show_default=False)],
    strict: Annotated[bool, typer.Option(help="Treat unknown fields as errors.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="List the fields the twin ignores.")] = False,
) -> None:
    """Check scenario and manifest files the way the twin will load them; exit 2 on any error."""
    ok = True
    for path in _expand(paths):
        try:
            require_file(path)
            ok &= _validate_file(path, strict=strict, verbose=verbose)
        except EkstwinError as err:
            typer.echo(f"error: {one_line(str(_with_file(err, path)))}", err=True)
            ok = False
    if not ok:
        raise typer.Exit(EXIT_ERROR)


def _expand(paths: Sequence[str]) -> list[str]:
    """Directories stand for the YAML files under them (sorted, so output order is stable)."""
    out: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            out.extend(sorted(str(p) for p in Path(path).rglob("*") if p.suffix in (".yaml", ".yml")))
        else:
            out.append(path)
    return out


def _with_file(err: EkstwinError, path: str) -> EkstwinError:
    return err.located(file=path) if isinstance(err, InvalidInput) else err


def is_scenario_file(path: str) -> bool:
    """True when any YAML document in the file is ``kind: Scenario``."""
    try:
        with open(path, encoding="utf-8") as f:
            docs = safe_load_all(f)
    except (yaml.YAMLError, UnicodeDecodeError):
        return False  # the manifest loader reports the syntax error with its location
    return any(isinstance(d, dict) and d.get("kind") == "Scenario" for d in docs)


def _validate_file(path: str, *, strict: bool, verbose: bool) -> bool:
    if is_scenario_file(path):
        scenario = _lazy("ekstwin.scenario.loader", "load_scenario")(path)
        name = getattr(scenario, "name", "")
        typer.echo(f"{path}: OK (scenario {name})" if name else f"{path}: OK (scenario)")
        return True
    docs = _lazy("ekstwin.model.manifests", "load_file")(path)
    validate = _lazy("ekstwin.model.manifests", "validate")
    ok, ignored = True, 0
    for doc in docs:
        # findings already name file, line, object and field path
        report = validate(doc)
        for problem in report.errors:
            typer.echo(f"error: {describe(problem)}", err=True)
            ok = False
        for field in report.unknown:
            typer.echo(f"{'error' if strict else 'warning'}: {describe(field)}", err=True)
            ok = ok and not strict
        ignored += len(report.ignored)
        if verbose:
            for field in report.ignored:
                typer.echo(f"ignored: {describe(field)}")
    if ok:
        note = f"; {ignored} field(s) not modelled, see --verbose" if ignored and not verbose else ""
        typer.echo(f"{path}: OK ({len(docs)} document(s){note})")
    return ok


def describe(item: Any) -> str:
    """A validation finding as text: ``(path, message)`` pairs become ``path: message``."""
    if isinstance(item, tuple) and len(item) == 2:
        path, message = item
        return f"{path}: {message}" if path else str(message)
    return str(item)


# catalog --------------------------------------------------------------------------------------

def parse_requirement(text: str) -> rq.Requirement:
    """``key Operator [v1,v2]`` (brackets optional) as a node-selector requirement.

    Raises:
        InvalidInput: the text does not have that shape, or the operator or values do not fit.
    """
    parts = text.split(None, 2)
    operators = {op.lower(): op for op in rq.OPERATORS}
    if len(parts) < 2 or parts[1].lower() not in operators:
        raise InvalidInput(f"--requirement {text!r}: expected 'key Operator [values]' with Operator one of "
                           f"{', '.join(rq.OPERATORS)}, e.g. 'karpenter.k8s.aws/instance-family In m5,c5'")
    key, op = parts[0], operators[parts[1].lower()]
    values = [v.strip() for v in parts[2].strip().strip("[]").split(",") if v.strip()] if len(parts) > 2 else []
    if op in (rq.IN, rq.NOT_IN) and not values:
        raise InvalidInput(f"--requirement {text!r}: {op} needs at least one value")
    if op in (rq.EXISTS, rq.DOES_NOT_EXIST) and values:
        raise InvalidInput(f"--requirement {text!r}: {op} takes no values")
    try:
        return rq.Requirement.new(key, op, values)
    except InvalidInput as err:
        raise InvalidInput(f"--requirement {text!r}: {err.reason}") from None


def offering_matches(offering: Offering, reqs: Sequence[rq.Requirement]) -> bool:
    """Every zone / zone-id / capacity-type requirement holds for this offering."""
    labels = {key: str(getattr(offering, attr)) for key, attr in OFFERING_KEYS.items()}
    return all(rq.matches_label(r, labels) for r in reqs)


def select_types(catalog: Catalog, names: Sequence[str], reqs: Sequence[rq.Requirement]) -> list[InstanceType]:
    """Types named (or all) whose labels meet the requirements, offerings narrowed to the matching ones.

    A type left with no offering at all is dropped: it cannot be bought the way the user asked.
    """
    from ekstwin.catalog import query
    type_reqs = [r for r in reqs if r.key not in OFFERING_KEYS]
    offer_reqs = [r for r in reqs if r.key in OFFERING_KEYS]

    def wanted(t: InstanceType) -> bool:
        labels = {**t.labels, rq.REGION: catalog.region}
        return all(rq.matches_label(r, labels) for r in type_reqs)

    chosen = query.select(catalog, list(names) or None)
    out = []
    for t in chosen:
        if not wanted(t):
            continue
        offerings = tuple(o for o in t.offerings if offering_matches(o, offer_reqs))
        if offerings:
            out.append(replace(t, offerings=offerings))
    return out


def _sort_key(sort: str) -> Callable[[InstanceType], tuple[Any, ...]]:
    def price(t: InstanceType) -> tuple[Any, ...]:
        cheapest = t.cheapest_offering()
        return (cheapest.price if cheapest else float("inf"), t.name)
    keys: dict[str, Callable[[InstanceType], tuple[Any, ...]]] = {
        "price": price,
        "name": lambda t: (t.name,),
        "cpu": lambda t: (t.vcpu, t.memory_mib, t.name),
        "memory": lambda t: (t.memory_mib, t.vcpu, t.name),
    }
    return keys[sort]


def _quantities(resources: Resources) -> dict[str, str]:
    return {k: render(k, resources[k]) for k in (CPU, MEMORY, PODS)}


def catalog_row(t: InstanceType) -> dict[str, Any]:
    """``query.row`` with resources as Kubernetes quantities (``1930m``, ``6903Mi``) like a node's status."""
    from ekstwin.catalog import query
    row = query.row(t)
    row["capacity"] = _quantities(t.capacity)
    row["allocatable"] = _quantities(t.allocatable)
    row["kube_reserved"] = _quantities(t.kube_reserved)
    row["system_reserved"] = _quantities(t.system_reserved)
    row["eviction_threshold"] = _quantities(t.eviction_threshold)
    return row


def _price(value: float | None) -> str:
    return f"${value:.4f}" if value is not None else "-"


def catalog_table(rows: Sequence[dict[str, Any]]) -> list[Text]:
    """One line per type: identity, size, allocatable, cheapest on-demand and spot price."""
    headers = ["NAME", "ARCH", "VCPU", "MEMORY", "ALLOC-CPU", "ALLOC-MEMORY", "ALLOC-PODS", "ON-DEMAND", "SPOT"]
    body = [[r["name"], r["arch"], r["vcpu"], render(MEMORY, r["memory_mib"] * 2**20), r["allocatable"]["cpu"],
             r["allocatable"]["memory"], r["allocatable"]["pods"], _price(r["on_demand_price"]),
             _price(r["spot_price"])] for r in rows]
    return kubectl_table(headers, body)


def catalog_detail(t: InstanceType, region: str) -> list[Text]:
    """One type in full: resources and overheads, labels, and every offering per zone."""
    lines = [Text(f"{t.name}  ({region}, {t.arch}, {t.vcpu} vCPU, {render(MEMORY, t.memory_mib * 2**20)})",
                  style="bold"), Text("")]
    parts = (("capacity", t.capacity), ("kube-reserved", t.kube_reserved), ("system-reserved", t.system_reserved),
             ("eviction-threshold", t.eviction_threshold), ("allocatable", t.allocatable))
    lines += kubectl_table(["RESOURCES", "CPU", "MEMORY", "PODS"],
                           [[name, *(render(k, res[k]) for k in (CPU, MEMORY, PODS))] for name, res in parts])
    lines += [Text(""), Text("labels:", style="bold"), *(Text(f"  {k}={v}") for k, v in sorted(t.labels.items()))]
    offers = [[o.zone, o.zone_id, o.capacity_type, _price(o.price if o.available else None),
               "yes" if o.available else "no",
               INTERRUPTION_BUCKETS[o.interruption_bucket] if o.interruption_bucket is not None else "-"]
              for o in sorted(t.offerings, key=lambda o: (o.zone, o.capacity_type))]
    return [*lines, Text(""), *kubectl_table(
        ["ZONE", "ZONE-ID", "CAPACITY-TYPE", "PRICE", "AVAILABLE", "INTERRUPTION"], offers)]


@app.command("catalog")
@reports_errors
def catalog_command(
    region: Annotated[str, typer.Option(help="AWS region.")] = "eu-west-1",
    zone: Annotated[list[str] | None, typer.Option(help="Restrict to this zone (repeatable).")] = None,
    requirement: Annotated[list[str] | None, typer.Option(
        "--requirement", "-r", help="Node-selector requirement 'key Operator [v1,v2]' (repeatable).")] = None,
    name: Annotated[list[str] | None, typer.Option(help="Instance type name (repeatable).")] = None,
    capacity_type: Annotated[str | None, typer.Option(help="spot or on-demand.")] = None,
    sort: Annotated[str, typer.Option(help="price, name, cpu or memory.")] = "price",
    limit: Annotated[int, typer.Option(help="Show at most this many types (0: all).")] = 30,
    as_json: Annotated[bool, typer.Option("--json", help="Print rows as JSON.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the spot price model.")] = 0,
) -> None:
    """List the instance types Karpenter could launch, with allocatable resources and prices."""
    reqs = [parse_requirement(text) for text in requirement or ()]
    if capacity_type is not None:
        if capacity_type not in CAPACITY_TYPES:
            raise InvalidInput(f"--capacity-type must be one of {', '.join(CAPACITY_TYPES)}, got {capacity_type!r}")
        reqs.append(rq.Requirement.new(rq.CAPACITY_TYPE, rq.IN, [capacity_type]))
    if sort not in SORTS:
        raise InvalidInput(f"--sort must be one of {', '.join(SORTS)}, got {sort!r}")
    if limit < 0:
        raise InvalidInput(f"--limit must not be negative, got {limit}")
    from ekstwin.catalog import load_catalog
    catalog = load_catalog(region, zone or None, seed=seed)
    types = sorted(select_types(catalog, name or (), reqs), key=_sort_key(sort))
    shown = types[:limit] if limit else types
    if as_json:
        typer.echo(json_report.encode([catalog_row(t) for t in shown]))
    elif name and len(name) == 1 and shown:
        _print_lines(catalog_detail(shown[0], catalog.region))
    elif not shown:
        _print_lines([Text("No instance types match")])
    else:
        footer = f"{len(shown)} of {len(types)} types in {catalog.region} ({', '.join(catalog.zones)})"
        _print_lines([*catalog_table([catalog_row(t) for t in shown]), Text(""), Text(footer)])


# bench ----------------------------------------------------------------------------------------

@bench_app.command("karpenter-scheduling")
@reports_errors
def bench_karpenter_scheduling(
    pods: Annotated[int, typer.Option(min=1, help="Number of pods to schedule.", show_default=False)],
    seed: Annotated[int, typer.Option(help="Seed of the workload.")] = 42,
    workload: Annotated[str, typer.Option(
        help="diverse: Karpenter's five pod shapes; generic: only pods without topology constraints.")] = "diverse",
    max_vcpu: Annotated[int | None, typer.Option(
        help="Limit the NodePool to instance types with at most this many vCPUs.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
) -> None:
    """Karpenter's scheduling benchmark workload on the twin's solver."""
    from ekstwin.bench import karpenter_scheduling
    if workload not in ("diverse", "generic"):
        fail(f"--workload must be diverse or generic, got {workload!r}")
    shapes = karpenter_scheduling.SHAPES if workload == "diverse" else ("generic",)
    metrics = karpenter_scheduling.run(pods, seed=seed, shapes=shapes, max_vcpu=max_vcpu)
    _print_metrics(metrics, as_json)


@bench_app.command("consolidation")
@reports_errors
def bench_consolidation(
    apps: Annotated[int, typer.Option(min=1, help="Deployments.")] = 10,
    replicas: Annotated[int, typer.Option(min=1, help="Replicas per Deployment before the scale-down.")] = 1000,
    scaled: Annotated[int, typer.Option(min=0, help="Replicas per Deployment after it.")] = 700,
    seed: Annotated[int, typer.Option(help="Seed.")] = 42,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
) -> None:
    """A 500-node, 10,000-pod cluster scales down 30%: time to consolidate, wall time per disruption pass."""
    from ekstwin.bench import consolidation
    _print_metrics(consolidation.run(apps, replicas, scaled, seed), as_json)


@bench_app.command("spot-to-spot-day")
@reports_errors
def bench_spot_to_spot_day(
    scenario: Annotated[str, typer.Option(help="The day-long scenario.")] =
        "examples/scenarios/spot-to-spot-day.yaml",
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
) -> None:
    """Run a day-long scenario with and without Spot-to-Spot consolidation; compare cost and wall time."""
    require_file(scenario)
    run_scenario = _lazy("ekstwin.scenario.run", "run_scenario")
    metrics: dict[str, Any] = {}
    for gate in (True, False):
        start = time.perf_counter()
        result: RunResult = run_scenario(scenario, feature_gates={"SpotToSpotConsolidation": gate})
        key = "with" if gate else "without"
        metrics[f"cost_usd_{key}_spot_to_spot"] = result.summary.get("cost_usd")
        metrics[f"wall_s_{key}_spot_to_spot"] = round(time.perf_counter() - start, 2)
    metrics["simulated"] = format_duration(result.time_s)
    _print_metrics(metrics, as_json)


def _print_metrics(metrics: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json_report.encode(metrics))
        return
    rows = [[key, (", ".join(map(str, value)) or "<none>") if isinstance(value, list) else value]
            for key, value in metrics.items()]
    _print_lines(kubectl_table(["METRIC", "VALUE"], rows))


@app.command("explain")
@reports_errors
def explain_command(
    scenario: Annotated[str, typer.Argument(help="Scenario file (kind: Scenario).", show_default=False)],
    node: Annotated[str, typer.Argument(help="Node or NodeClaim name, as `ekstwin run` shows it.",
                                        show_default=False)],
    until: Annotated[str | None, typer.Option(help="Stop at this simulated time. Default: the scenario's.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed. Default: the scenario's.")] = None,
) -> None:
    """Run a scenario, then say why NODE was launched, disrupted or left alone, step by step."""
    require_file(scenario)
    from ekstwin.reports.explain import explain_node
    run_scenario = _lazy("ekstwin.scenario.run", "run_scenario")
    result: RunResult = run_scenario(scenario, until=_until(until), seed=seed)
    _print_lines([Text(line) for line in explain_node(result, node)])


# serve ----------------------------------------------------------------------------------------

API_MISSING = "ekstwin serve needs the API package and its server: pip install 'ekstwin[api]'"


@app.command("serve")
@reports_errors
def serve_command(
    scenario: Annotated[str, typer.Argument(help="Scenario file (kind: Scenario).", show_default=False)],
    speed: Annotated[str, typer.Option(
        help="Virtual seconds per real second, or 'max' to run as fast as possible between requests.")] = "10",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port to listen on.")] = 6443,
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default: the twin has no RBAC).")] =
        "127.0.0.1",
    kubeconfig: Annotated[str, typer.Option(help="Where to write the kubeconfig for kubectl.")] =
        "./twin.kubeconfig",
    no_tls: Annotated[bool, typer.Option("--no-tls", help="Serve plain HTTP (no certificate).")] = False,
    seed: Annotated[int | None, typer.Option(help="Seed of every random stream. Default: the scenario's.")] = None,
) -> None:
    """Serve the scenario's cluster as a Kubernetes API for kubectl, its clock running at --speed."""
    require_file(scenario)
    rate = parse_speed(speed)
    create_app, uvicorn = _api_modules()
    from ekstwin.api import tls
    from ekstwin.scenario import serve
    # timestamps start at the real start time, so kubectl's AGE columns read naturally
    served = serve.serve_world(scenario, rate, seed=seed, epoch=datetime.now(UTC).replace(microsecond=0))
    token = tls.new_token()
    api = create_app(served.world.store, token=token, on_write=served.wake, pod_logs=served.pod_logs)
    with tempfile.TemporaryDirectory(prefix="ekstwin-serve-") as tmp:
        ssl: dict[str, str] = {}
        ca_pem = None
        if not no_tls:
            material = tls.generate(datetime.now(UTC), [host])
            cert, key = tls.write_server_files(material, Path(tmp))
            ssl, ca_pem = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}, material.ca_pem
        server_url = tls.server_url(host, port, tls=not no_tls)
        tls.write_kubeconfig(Path(kubeconfig), tls.kubeconfig(server_url, token, ca_pem))
        typer.echo(f"serving {served.world.scenario.name} at {server_url} (speed {speed}); "
                   f"kubeconfig: {kubeconfig}  (export KUBECONFIG={kubeconfig}); Ctrl-C stops")
        server = uvicorn.Server(uvicorn.Config(api, host=host, port=port, log_level="warning", **ssl))
        # uvicorn re-raises the Ctrl-C it handled once the server has shut down; that is a clean stop.
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve.serve_forever(served, server))
    typer.echo("stopped", err=True)


def parse_speed(text: str) -> float | None:
    """``--speed``: a positive number of virtual seconds per real second, or "max" (None)."""
    if text.strip().lower() == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise InvalidInput(f"--speed must be a positive number or 'max', not {text!r}")
    return value


def _api_modules() -> tuple[Any, Any]:
    """``ekstwin.api.app.create_app`` and ``uvicorn``, or the one-line "install the api extra" error."""
    try:
        create_app = _lazy("ekstwin.api.app", "create_app")
        uvicorn = importlib.import_module("uvicorn")
        importlib.import_module("cryptography")
    except (ImportError, AttributeError) as e:
        fail(f"{API_MISSING} ({e})")
    return create_app, uvicorn


@bench_app.command("api")
@reports_errors
def bench_api(
    nodes: Annotated[int, typer.Option(min=1, help="Nodes in the store.")] = 1000,
    pods: Annotated[int, typer.Option(min=1, help="Pods in the store, spread over the nodes.")] = 20_000,
    watchers: Annotated[int, typer.Option(min=1, help="Concurrent watches during the fan-out phase.")] = 50,
    seconds: Annotated[float, typer.Option(min=0.1, help="Wall seconds per request-rate phase.")] = 5.0,
    clients: Annotated[int, typer.Option(min=1, help="Concurrent keep-alive HTTP clients per phase.")] = 4,
    patches: Annotated[int, typer.Option(min=1, help="Patches written while the watchers listen.")] = 2000,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
) -> None:
    """Request rate of the Kubernetes API (get/list/patch) and watch fan-out, over real HTTP."""
    create_app, _ = _api_modules()
    from ekstwin.bench import api as bench_api_mod
    metrics = bench_api_mod.run(create_app, nodes=nodes, pods=pods, watchers=watchers, seconds=seconds,
                                clients=clients, patches=patches)
    _print_metrics(metrics, as_json)


@bench_app.command("import-whatif")
@reports_errors
def bench_import_whatif(
    apps: Annotated[int, typer.Option(min=1, help="Deployments.")] = 20,
    replicas: Annotated[int, typer.Option(min=1, help="Replicas per Deployment.")] = 200,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
) -> None:
    """Export a ~200-node, 4,000-pod cluster, import it back, compare; time a 24 h what-if on the import."""
    from ekstwin.bench import import_whatif
    _print_metrics(import_whatif.run(apps, replicas), as_json)


# import / whatif --------------------------------------------------------------------------------

@app.command("import")
@reports_errors
def import_command(
    snapshot: Annotated[str, typer.Argument(
        help="kubectl get ... -A -o json output (a List), an `ekstwin run --json` report, or a directory of them.",
        show_default=False)],
    output: Annotated[str, typer.Option("--output", "-o", help="Scenario file to write.", show_default=False)],
    anonymize: Annotated[bool, typer.Option(
        "--anonymize", help="Rename namespaces, workloads, pods and nodes consistently.")] = False,
) -> None:
    """Turn a cluster snapshot into a scenario the twin adopts (nodes, nodeclaims, bound pods, nodepools)."""
    from ekstwin.catalog.catalog import load_catalog
    from ekstwin.scenario import importer
    objects = importer.read_snapshot(snapshot)
    name = Path(output).stem or "imported"
    imported = importer.import_snapshot(objects, name=name, anonymize=anonymize)
    region = imported.scenario["spec"]["cluster"]["region"]
    known = frozenset(t.name for t in load_catalog(region).types)
    imported = importer.import_snapshot(objects, name=name, anonymize=anonymize, known_types=known)
    objects_path = importer.write(imported, output)
    for w in imported.warnings:
        typer.echo(f"warning: {w}", err=True)
    manifests_ = imported.scenario["spec"]["manifests"]
    counts = {k: sum(1 for o in manifests_ if o["kind"] == k) for k in ("Node", "NodeClaim", "Pod")}
    typer.echo(f"wrote {output} and {objects_path}: {counts['Node']} nodes, {counts['NodeClaim']} nodeclaims, "
               f"{counts['Pod']} pods in {region}")


@app.command("whatif")
@reports_errors
def whatif_command(
    scenario: Annotated[str, typer.Argument(help="Scenario file (kind: Scenario).", show_default=False)],
    nodepool: Annotated[str | None, typer.Option(
        help="File of NodePools/EC2NodeClasses replacing the scenario's of the same name.")] = None,
    feature_gate: Annotated[list[str] | None, typer.Option(
        help="Override a Karpenter feature gate in the second run, e.g. SpotToSpotConsolidation=true.")] = None,
    for_: Annotated[str, typer.Option("--for", help="Simulated time of each run (Go duration).")] = "24h",
    seed: Annotated[int | None, typer.Option(help="Seed of both runs. Default: the scenario's.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print both runs' outcomes as JSON.")] = False,
    jobs: Annotated[int | None, typer.Option(
        min=1, help="Processes: 2 runs both sides at once, 1 one after the other. Default: 2 on 2+ cores.")] = None,
) -> None:
    """Run a scenario as is and with other NodePools and/or feature gates; print both side by side."""
    require_file(scenario)
    if nodepool is not None:
        require_file(nodepool)
    horizon = _until(for_) or 0.0  # _until rejects durations <= 0
    from ekstwin.scenario import whatif
    base, changed = whatif.whatif(scenario, horizon, candidate=nodepool,
                                  feature_gates=_feature_gates(feature_gate or []), seed=seed, jobs=jobs)
    if as_json:
        typer.echo(json_report.encode({"for": format_duration(horizon), "runs": [vars(base), vars(changed)]}))
        return
    _print_lines(whatif_lines(base, changed, horizon))


def _savings_plan_rows(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Under "total cost": the Savings Plans breakdown of both runs (nothing when neither has plans)."""
    pa, pb = a.get("savings_plans") or {}, b.get("savings_plans") or {}
    if not pa and not pb:
        return []

    def cell(plans: dict[str, Any], key: str, unit: str) -> str:
        if key not in plans:
            return "-"
        return f"${plans[key]:,.4f}" if unit == "$" else f"{plans[key]}%"
    return [(f"  {label}", cell(pa, key, unit), cell(pb, key, unit)) for label, key, unit in (
        ("list cost (no Savings Plans)", "list_cost_usd", "$"), ("Savings Plans commitment", "commitment_usd", "$"),
        ("uncovered on-demand", "uncovered_on_demand_usd", "$"), ("Savings Plans savings", "savings_usd", "$"),
        ("Savings Plans utilization", "utilization_pct", "%"))]


def whatif_lines(base: Any, changed: Any, horizon: float) -> list[Text]:
    """The side-by-side of two ``whatif.Outcome``s."""
    def money(v: float) -> str:
        return f"${v:,.4f}"

    def mix(field: str) -> list[tuple[str, str, str]]:
        a, b = getattr(base, field), getattr(changed, field)
        return [(f"  {k}", str(a.get(k, 0)), str(b.get(k, 0))) for k in sorted(set(a) | set(b))]
    rows: list[tuple[str, str, str]] = [
        ("$/hour at start", money(base.price_per_hour_start), money(changed.price_per_hour_start)),
        (f"$/hour after {format_duration(horizon)}", money(base.price_per_hour), money(changed.price_per_hour)),
        ("total cost", money(base.cost_usd), money(changed.cost_usd)),
        *_savings_plan_rows(base.summary, changed.summary),
        ("nodes", str(base.nodes), str(changed.nodes)),
        ("by instance type", "", ""), *mix("by_instance_type"),
        ("by capacity type", "", ""), *mix("by_capacity_type"),
        ("by zone", "", ""), *mix("by_zone"),
        ("pods disrupted", str(base.pods_disrupted), str(changed.pods_disrupted)),
        ("pods pending at the end", str(base.pods_pending), str(changed.pods_pending)),
        ("decisions", "", ""), *mix("decisions"),
    ]
    lines = [Text(f"A: {base.label}"), Text(f"B: {changed.label}"), Text(""),
             *kubectl_table(["", "A", "B"], rows)]
    for tag, run in (("A", base), ("B", changed)):
        if run.verdicts:
            lines += [Text(""), Text(f"{tag}: nodes not consolidated, last disruption verdict")]
            lines += kubectl_table(["NODE", "VERDICT"], sorted(run.verdicts.items()))
    for note in base.notes:
        lines.append(Text(f"note: {note}"))
    return lines
