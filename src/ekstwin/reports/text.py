"""The terminal report of a run: what ``kubectl`` and Karpenter's logs would have shown at the end.

Each table copies the columns and cell rules of the kubectl command named in its title, so a reader can
compare the twin with a real cluster line by line. Tables are laid out the way kubectl's tabwriter does
(column width = widest cell + 3 spaces) rather than with rich's boxed tables: output stays identical
whatever the terminal width, and piping it through grep/awk works as it does with kubectl. rich supplies
the styling (dropped automatically when the output is not a terminal).

All times are simulated: ages are measured back from the end of the run, and timestamps are RFC3339
instants of ``epoch`` + simulated seconds.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import yaml
from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

from ekstwin.errors import InvalidScenario
from ekstwin.model.requirements import CAPACITY_TYPE, INSTANCE_TYPE, NODEPOOL, ZONE
from ekstwin.reports import costs
from ekstwin.scenario.result import RunResult, at, parse_timestamp, rfc3339, timestamp
from ekstwin.units.durations import format_age, format_duration

TABLES = ("nodes", "nodeclaims", "pods")
SECTIONS = (*TABLES, "events", "logs", "decisions")
NODE_LABEL_COLUMNS = (NODEPOOL, INSTANCE_TYPE, ZONE, CAPACITY_TYPE)
DEFAULT_LOG_COMPONENT = "karpenter"
"""The ``component`` a log line without one is attributed to (see ``log_filter``)."""

_PADDING = 3  # kubectl's tabwriter: 3 spaces between columns, minimum cell width 6
_MIN_WIDTH = 6
_NONE = "<none>"
_HEADER_STYLE = "bold"
_TITLE_STYLE = "bold cyan"

Lines = list[Text]


# Layout --------------------------------------------------------------------------------------------

def kubectl_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> Lines:
    """Rows aligned like kubectl's printer: padded columns, the last one left ragged."""
    cells = [list(headers), *([str(c) for c in row] for row in rows)]
    widths = [max(_MIN_WIDTH, max(cell_len(row[i]) for row in cells) + _PADDING) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        text = "".join(c + " " * (w - cell_len(c)) for c, w in zip(row[:-1], widths, strict=False)) + row[-1]
        lines.append(Text(text.rstrip(), style=_HEADER_STYLE if n == 0 else ""))
    return lines


def _title(text: str) -> Text:
    return Text(text, style=_TITLE_STYLE)


def _nothing() -> Lines:
    return [Text("No resources found")]


# Shared cell rules ---------------------------------------------------------------------------------

def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _labels(obj: Mapping[str, Any]) -> Mapping[str, str]:
    return _meta(obj).get("labels") or {}


def _name_key(obj: Mapping[str, Any]) -> tuple[str, str]:
    return (str(_meta(obj).get("namespace") or ""), str(_meta(obj).get("name") or ""))


def age_since(text: object, end: datetime) -> str:
    """kubectl's AGE of an RFC3339 timestamp seen at ``end``; ``<unknown>`` when there is none."""
    since = parse_timestamp(text)
    if since is None:
        return "<unknown>"
    return format_age((end - since).total_seconds())


def _condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or ():
        if cond.get("type") == kind:
            return dict(cond)
    return None


def _sorted(result: RunResult, kind: str) -> list[dict[str, Any]]:
    return sorted(result.objects.get(kind) or (), key=_name_key)


# Header --------------------------------------------------------------------------------------------

def header(result: RunResult) -> Lines:
    """Scenario name, simulated time span and the headline numbers."""
    first = Text.assemble(
        ("Scenario ", ""), (result.name, "bold"),
        f" · simulated {format_duration(result.time_s)}",
        f" ({rfc3339(at(result.epoch, 0))} → {rfc3339(result.end)})",
    )
    return [first, Text(" · ".join(_headline(result))), *costs.lines(result.summary)]


def _headline(result: RunResult) -> list[str]:
    summary = dict(result.summary)
    pods = result.objects.get("pods") or []
    phases = [str((p.get("status") or {}).get("phase") or "Pending") for p in pods]
    nodes = summary.pop("nodes", len(result.objects.get("nodes") or []))
    running = summary.pop("pods_running", phases.count("Running"))
    pending = summary.pop("pods_pending", phases.count("Pending"))
    parts = [f"nodes {nodes}", f"pods {running} running, {pending} pending"]
    price = summary.pop("price_per_hour", None)
    if price is not None:
        parts.append(f"${float(price):.4f}/hour")
    cost = summary.pop("cost_usd", None)
    if cost is not None:
        with_plans = " with Savings Plans" if summary.get("savings_plans") else ""
        parts.append(f"cost so far ${float(cost):.4f}{with_plans}")
    # Whatever else the run chose to summarise is shown as is rather than dropped.
    # structured extras (e.g. metric samples) belong to the JSON report, not the one-line header
    parts.extend(f"{key} {value}" for key, value in summary.items() if not isinstance(value, (dict, list)))
    return parts


# Nodes ---------------------------------------------------------------------------------------------

def label_column(key: str) -> str:
    """kubectl's ``-L`` column name: the key's last path segment, upper-cased."""
    return key.rsplit("/", 1)[-1].upper()


def node_status(node: Mapping[str, Any]) -> str:
    """``Ready`` / ``NotReady`` / ``Unknown``, plus ``,SchedulingDisabled`` when cordoned."""
    ready = _condition(node, "Ready")
    status = ["Unknown" if ready is None else "Ready" if ready.get("status") == "True" else "NotReady"]
    if (node.get("spec") or {}).get("unschedulable"):
        status.append("SchedulingDisabled")
    return ",".join(status)


def node_roles(labels: Mapping[str, str]) -> str:
    """Roles from ``node-role.kubernetes.io/<role>`` and ``kubernetes.io/role`` labels, or ``<none>``."""
    roles = {k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/")}
    roles.discard("")
    if labels.get("kubernetes.io/role"):
        roles.add(labels["kubernetes.io/role"])
    return ",".join(sorted(roles)) or _NONE


def nodes_section(result: RunResult) -> Lines:
    """``kubectl get nodes -L <nodepool> -L <instance-type> -L <zone> -L <capacity-type>``."""
    command = "kubectl get nodes " + " ".join(f"-L {k}" for k in NODE_LABEL_COLUMNS)
    nodes = _sorted(result, "nodes")
    if not nodes:
        return [_title(f"$ {command}"), *_nothing()]
    headers = ["NAME", "STATUS", "ROLES", "AGE", "VERSION", *map(label_column, NODE_LABEL_COLUMNS)]
    rows = [_node_row(n, result.end) for n in nodes]
    return [_title(f"$ {command}"), *kubectl_table(headers, rows)]


def _node_row(node: Mapping[str, Any], end: datetime) -> list[str]:
    labels = _labels(node)
    version = ((node.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion") or ""
    return [str(_meta(node).get("name", "")), node_status(node), node_roles(labels),
            age_since(_meta(node).get("creationTimestamp"), end), version,
            *(labels.get(k, "") for k in NODE_LABEL_COLUMNS)]


# NodeClaims ----------------------------------------------------------------------------------------

def nodeclaims_section(result: RunResult) -> Lines:
    """``kubectl get nodeclaims``, then each NodeClaim's ``spec.requirements`` as YAML."""
    claims = _sorted(result, "nodeclaims")
    title = _title("$ kubectl get nodeclaims")
    if not claims:
        return [title, *_nothing()]
    headers = ["NAME", "TYPE", "CAPACITY", "ZONE", "NODE", "READY", "AGE"]
    lines = [title, *kubectl_table(headers, (_claim_row(c, result.end) for c in claims))]
    for claim in claims:
        lines.extend(requirements_yaml(claim))
    return lines


def _claim_row(claim: Mapping[str, Any], end: datetime) -> list[str]:
    labels = _labels(claim)
    ready = _condition(claim, "Ready")
    # Karpenter's printer columns leave a cell empty when the field is unset (e.g. NODE before launch).
    return [str(_meta(claim).get("name", "")), labels.get(INSTANCE_TYPE, ""), labels.get(CAPACITY_TYPE, ""),
            labels.get(ZONE, ""), str((claim.get("status") or {}).get("nodeName") or ""),
            str(ready.get("status", "")) if ready else "", age_since(_meta(claim).get("creationTimestamp"), end)]


def requirements_yaml(claim: Mapping[str, Any]) -> Lines:
    """The NodeClaim's requirements in full (every instance type listed), indented under its name."""
    requirements = (claim.get("spec") or {}).get("requirements") or []
    if not requirements:
        return []
    text = yaml.safe_dump(requirements, default_flow_style=False, sort_keys=False, width=10_000)
    heading = Text(f"\nnodeclaim/{_meta(claim).get('name', '')} spec.requirements:", style=_HEADER_STYLE)
    return [heading, *(Text("  " + line) for line in text.splitlines())]


# Pods ----------------------------------------------------------------------------------------------

def pods_section(result: RunResult) -> Lines:
    """``kubectl get pods -A -o wide``."""
    pods = _sorted(result, "pods")
    title = _title("$ kubectl get pods -A -o wide")
    if not pods:
        return [title, *_nothing()]
    headers = ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE",
               "READINESS GATES"]
    return [title, *kubectl_table(headers, (_pod_row(p, result.end) for p in pods))]


def _pod_row(pod: Mapping[str, Any], end: datetime) -> list[str]:
    meta, spec, status = _meta(pod), pod.get("spec") or {}, pod.get("status") or {}
    gates = spec.get("readinessGates") or []
    return [str(meta.get("namespace") or "default"), str(meta.get("name", "")), pod_ready(pod), pod_status(pod),
            pod_restarts(pod, end), age_since(meta.get("creationTimestamp"), end), status.get("podIP") or _NONE,
            spec.get("nodeName") or _NONE, status.get("nominatedNodeName") or _NONE,
            _readiness_gates(pod, gates) if gates else _NONE]


def pod_ready(pod: Mapping[str, Any]) -> str:
    """``ready/total`` containers. Without container statuses the pod's Ready condition stands for all."""
    total = len((pod.get("spec") or {}).get("containers") or ()) or 1
    statuses = (pod.get("status") or {}).get("containerStatuses")
    if statuses is None:
        cond = _condition(pod, "Ready")
        ready = total if cond is not None and cond.get("status") == "True" else 0
    else:
        ready = sum(1 for s in statuses if s.get("ready"))
    return f"{ready}/{total}"


def pod_status(pod: Mapping[str, Any]) -> str:
    """kubectl's STATUS: the most telling of phase, reason, init and container states, deletion."""
    status = pod.get("status") or {}
    reason = str(status.get("reason") or status.get("phase") or "Pending")
    gated = _condition(pod, "PodScheduled")
    if gated is not None and gated.get("reason") == "SchedulingGated":
        reason = "SchedulingGated"
    init = _init_status(status.get("initContainerStatuses") or [], len((pod.get("spec") or {}).get(
        "initContainers") or []))
    reason = init or _container_status(status.get("containerStatuses") or [], reason, pod)
    if _meta(pod).get("deletionTimestamp"):
        return "Unknown" if status.get("reason") == "NodeLost" else "Terminating"
    return reason


def _terminated_reason(term: Mapping[str, Any], prefix: str = "") -> str:
    if term.get("reason"):
        return prefix + str(term["reason"])
    if term.get("signal"):
        return f"{prefix}Signal:{term['signal']}"
    return f"{prefix}ExitCode:{term.get('exitCode', 0)}"


def _init_status(statuses: Sequence[Mapping[str, Any]], count: int) -> str | None:
    for i, cs in enumerate(statuses):
        state = cs.get("state") or {}
        term, waiting = state.get("terminated"), state.get("waiting")
        if term is not None and term.get("exitCode", 0) == 0:
            continue
        if term is not None:
            return _terminated_reason(term, "Init:")
        if waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            return f"Init:{waiting['reason']}"
        return f"Init:{i}/{count or len(statuses)}"
    return None


def _container_status(statuses: Sequence[Mapping[str, Any]], reason: str, pod: Mapping[str, Any]) -> str:
    running = False
    for cs in reversed(statuses):
        state = cs.get("state") or {}
        if (state.get("waiting") or {}).get("reason"):
            reason = str(state["waiting"]["reason"])
        elif state.get("terminated") is not None:
            reason = _terminated_reason(state["terminated"])
        elif state.get("running") is not None and cs.get("ready"):
            running = True
    if reason == "Completed" and running:
        cond = _condition(pod, "Ready")
        return "Running" if cond is not None and cond.get("status") == "True" else "NotReady"
    return reason


def pod_restarts(pod: Mapping[str, Any], end: datetime) -> str:
    """Total restarts, with ``(age ago)`` of the latest container exit as kubectl shows it."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    count = sum(int(s.get("restartCount") or 0) for s in statuses)
    finished = [parse_timestamp(((s.get("lastState") or {}).get("terminated") or {}).get("finishedAt"))
                for s in statuses]
    latest = max((f for f in finished if f is not None), default=None)
    if count and latest is not None:
        return f"{count} ({format_age((end - latest).total_seconds())} ago)"
    return str(count)


def _readiness_gates(pod: Mapping[str, Any], gates: Sequence[Mapping[str, Any]]) -> str:
    met = sum(1 for g in gates if (_condition(pod, str(g.get("conditionType"))) or {}).get("status") == "True")
    return f"{met}/{len(gates)}"


# Events --------------------------------------------------------------------------------------------

def event_times(event: Mapping[str, Any]) -> tuple[datetime | None, datetime | None]:
    """(first seen, last seen) with kubectl's fallbacks to eventTime and series."""
    first = parse_timestamp(event.get("firstTimestamp")) or parse_timestamp(event.get("eventTime"))
    last = parse_timestamp(event.get("lastTimestamp")) or first
    series = event.get("series") or {}
    return first, parse_timestamp(series.get("lastObservedTime")) or last


def events_section(result: RunResult) -> Lines:
    """``kubectl get events -A``, oldest first."""
    title = _title("$ kubectl get events -A")
    if not result.events:
        return [title, Text("No events found")]
    events = sorted(result.events, key=_last_seen_key)
    headers = ["NAMESPACE", "LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    return [title, *kubectl_table(headers, (_event_row(e, result.end) for e in events))]


def _last_seen_key(event: Mapping[str, Any]) -> str:
    # Text sorts like time for RFC3339 UTC; events with no time keep their recorded order, first.
    last = event_times(event)[1]
    return rfc3339(last, micro=True) if last is not None else ""


def _event_row(event: Mapping[str, Any], end: datetime) -> list[str]:
    involved = event.get("involvedObject") or {}
    kind, name = str(involved.get("kind") or "").lower(), involved.get("name") or ""
    last = event_times(event)[1]
    namespace = _meta(event).get("namespace") or involved.get("namespace") or "default"
    return [str(namespace), format_age((end - last).total_seconds()) if last else "<unknown>",
            str(event.get("type") or ""), str(event.get("reason") or ""),
            f"{kind}/{name}" if name else kind, str(event.get("message") or "").strip()]


# Logs and decisions --------------------------------------------------------------------------------

def log_filter(setting: object) -> Callable[[Mapping[str, Any]], bool] | None:
    """Which log lines ``spec.report.logs`` asks for; None means no log section.

    ``true``/``"all"`` shows every line; a component name (or list of names) keeps the lines whose
    ``component`` key matches, a line without one counting as ``karpenter``'s.
    """
    if setting is None or setting is False or setting in ("", "none"):
        return None
    if setting is True or setting == "all":
        return lambda _line: True
    if isinstance(setting, str):
        wanted = {setting}
    elif isinstance(setting, Iterable):
        wanted = {str(s) for s in setting}
    else:
        raise InvalidScenario(f"must be true, false, a component name or a list of them, got {setting!r}",
                              field="spec.report.logs")
    return lambda line: str(line.get("component") or DEFAULT_LOG_COMPONENT) in wanted


def logs_section(result: RunResult) -> Lines:
    """Each log line as the compact JSON Karpenter writes."""
    keep = log_filter(result.report.get("logs", True)) or (lambda _line: False)
    lines = [Text(json.dumps(d, separators=(",", ":"), default=str)) for d in result.logs if keep(d)]
    return [_title("$ kubectl logs -n kube-system -l app.kubernetes.io/name=karpenter"),
            *(lines or [Text("No log lines")])]


def decisions_section(result: RunResult) -> Lines:
    """The simulator's recorded decisions, one per line: when, what kind, why."""
    lines = [_title("decisions")]
    for d in result.decisions:
        when = d.get("time")
        stamp = timestamp(result.epoch, float(when)) if isinstance(when, int | float) else str(when or "")
        rest = {k: v for k, v in d.items() if k not in ("time", "kind", "message")}
        extra = " " + json.dumps(rest, separators=(",", ":"), default=str) if rest else ""
        lines.append(Text(f"{stamp}  {d.get('kind', '')}  {d.get('message', '')}{extra}"))
    return lines if result.decisions else [*lines, Text("No decisions recorded")]


# Assembly ------------------------------------------------------------------------------------------

_RENDERERS: dict[str, Callable[[RunResult], Lines]] = {
    "nodes": nodes_section, "nodeclaims": nodeclaims_section, "pods": pods_section,
    "events": events_section, "logs": logs_section, "decisions": decisions_section,
}


def sections(report: Mapping[str, Any]) -> list[str]:
    """The sections ``spec.report`` asks for, in display order.

    ``tables`` lists which of nodes/nodeclaims/pods to show (default all); ``events`` (default true);
    ``logs`` (default true, see ``log_filter``); ``decisions`` (default false: they are for debugging).
    """
    tables = report.get("tables")
    shown = [t for t in TABLES if tables is None or t in tables]
    if report.get("events", True):
        shown.append("events")
    if log_filter(report.get("logs", True)) is not None:
        shown.append("logs")
    if report.get("decisions", False):
        shown.append("decisions")
    return shown


def render_lines(result: RunResult, *, quiet: bool = False) -> Lines:
    """Every line of the report; ``quiet`` keeps only the header."""
    lines = header(result)
    if quiet:
        return lines
    for name in sections(result.report):
        lines.append(Text(""))
        lines.extend(_RENDERERS[name](result))
    return lines


def render(result: RunResult, console: Console, *, quiet: bool = False) -> None:
    """Print the report. Lines are never wrapped by rich, so tables keep kubectl's shape when piped."""
    for line in render_lines(result, quiet=quiet):
        console.print(line, soft_wrap=True)
