"""Scenario YAML → ``Scenario``: strict validation with file, object and field in every error.

Scenario files are ours, so unknown keys there are errors. Kubernetes manifests (listed in
``spec.manifests`` or given inline) go through ``model.manifests``: their unknown fields are reported
as warnings, fields the twin accepts but does not simulate are listed as ignored.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Mapping
from typing import Any

import yaml

from ekstwin.autoscaling.karpenter import gates as karpenter_gates
from ekstwin.catalog import overrides as ov
from ekstwin.catalog import reservations as rsv
from ekstwin.cloud import savings_plans as sp
from ekstwin.cloud.spot import MODES as SPOT_INTERRUPTION_MODES
from ekstwin.errors import InvalidInput, InvalidScenario
from ekstwin.model import manifests
from ekstwin.scenario.config import (
    DAEMONSET_SETS,
    DEFAULT_WAIT_TIMEOUT_S,
    KNOWN_FEATURE_GATES,
    CloudConfig,
    ClusterConfig,
    Scenario,
    TimelineStep,
)
from ekstwin.units.durations import format_duration, parse_duration
from ekstwin.units.resources import Resources

API_VERSION = "ekstwin.dev/v1alpha1"
_TOP = {"apiVersion", "kind", "metadata", "spec"}
_SPEC = {"seed", "cluster", "cloud", "manifests", "timeline", "report", "stopAt"}
_CLUSTER = {"name", "region", "zones", "autoscaler", "featureGates", "daemonsets", "karpenter", "spotInterruptions"}
_KARPENTER = {"batchIdleDuration", "batchMaxDuration", "version"}
_VERSION = re.compile(r"^v?\d+\.\d+(\.\d+)?$")
_ACTIONS = ("apply", "scale", "delete", "interrupt", "diurnal", "provision", "disrupt", "advance", "stop")
"""A timeline step's actions, in the order the "exactly one of" message lists them."""
_DIURNAL = {"kind", "name", "namespace", "min", "max", "period", "step", "duration"}
_INTERRUPT = {"node", "nodeSelector"}
_REPORT = {"tables", "events", "logs", "decisions"}
_CLOUD = {"catalog", "discounts", "prices", "instanceTypes", "savingsPlans", "capacityReservations"}
_DISCOUNTS = {"onDemand", "spot", "families"}
_PRICE = {"instanceType", "zone", "capacityType", "price"}
_CUSTOM_TYPE = {"name", "capacity", "labels", "overhead", "allocatable", "offerings"}
_OVERHEAD = {"kubeReserved", "systemReserved", "evictionThreshold"}
_OFFERING = {"zone", "capacityType", "price", "available"}
_RESERVED_OFFERING = {"count", "id", "tags", "instanceMatchCriteria"}
_SAVINGS_PLAN = {"type", "commitment", "discount", "family", "name"}
_RESERVATION = {"id", "instanceType", "zone", "count", "tags", "ownerID", "instanceMatchCriteria"}
_RESERVATION_ID = re.compile(r"^cr-[0-9a-z]+$")
_OWNER_ID = re.compile(r"^[0-9]{12}$")


def _fail(file: str, field: str, message: str) -> InvalidScenario:
    return InvalidScenario(message, file=file, obj="Scenario", field=field)


def _check_keys(file: str, path: str, value: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(file, path or "(top level)", f"expected a mapping, got {type(value).__name__}")
    unknown = sorted(set(value) - allowed)
    if unknown:
        where = f"{path}.{unknown[0]}" if path else unknown[0]
        raise _fail(file, where, f"unknown field (known: {', '.join(sorted(allowed))})")
    return value


def _duration(file: str, field: str, value: Any) -> float:
    try:
        return parse_duration(str(value))
    except InvalidInput as e:
        raise _fail(file, field, e.reason) from None


def load_scenario(path: str) -> Scenario:
    """Load and validate a scenario file and every manifest it names.

    Raises:
        InvalidScenario: anything wrong, naming file, object and field.
    """
    if not os.path.isfile(path):
        raise InvalidScenario("no such file", file=path)
    with open(path, encoding="utf-8") as fh:
        try:
            raw = manifests.safe_load(fh)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            line = f"line {mark.line + 1}: " if mark is not None else ""
            raise InvalidScenario(f"{line}not valid YAML ({getattr(e, 'problem', e)})", file=path) from None
    top = _check_keys(path, "", raw, _TOP)
    if top.get("apiVersion") != API_VERSION or top.get("kind") != "Scenario":
        raise _fail(path, "apiVersion", f"expected apiVersion {API_VERSION} and kind Scenario")
    name = str((top.get("metadata") or {}).get("name") or os.path.splitext(os.path.basename(path))[0])
    spec = _check_keys(path, "spec", top.get("spec") or {}, _SPEC)
    base = os.path.dirname(os.path.abspath(path))
    seed = spec.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise _fail(path, "spec.seed", f"expected an integer, got {seed!r}")
    cluster = _cluster(path, spec.get("cluster") or {})
    objects, warnings = _manifests(path, base, spec.get("manifests") or [], "spec.manifests")
    timeline, stop, end = _timeline(path, base, spec.get("timeline") or [])
    if "stopAt" in spec:
        stop = _duration(path, "spec.stopAt", spec["stopAt"])
    if stop is None:
        stop = end  # a script that advances its cursor ends where the cursor ends
    report = _check_keys(path, "spec.report", spec.get("report") or {}, _REPORT)
    cloud = _cloud(path, spec.get("cloud") or {})
    return Scenario(name, path, seed, cluster, tuple(objects), tuple(timeline), stop, dict(report),
                    tuple(warnings), cloud)


def with_feature_gates(scenario: Scenario, gates: Mapping[str, bool]) -> Scenario:
    """The scenario with some feature gates overridden (e.g. from the command line).

    Raises:
        InvalidScenario: an unknown gate.
    """
    for g, v in gates.items():
        if g not in KNOWN_FEATURE_GATES:
            raise InvalidScenario(f"unknown feature gate {g!r} (known: {', '.join(KNOWN_FEATURE_GATES)})",
                                  field="--feature-gate")
        missing = _gate_missing(g, v, scenario.cluster.karpenter_version)
        if missing:
            raise InvalidScenario(missing, file=scenario.file, field="--feature-gate")
    cluster = dataclasses.replace(scenario.cluster, feature_gates={**scenario.cluster.feature_gates, **gates})
    return dataclasses.replace(scenario, cluster=cluster)


def _gate_missing(name: str, value: bool, version: str) -> str | None:
    """Why a gate cannot be turned on in the modelled release (it predates the gate), or None."""
    if value and not karpenter_gates.exists(name, version):
        return f"Karpenter {version} has no {name} feature gate (introduced in {karpenter_gates.introduced(name)})"
    return None


def _cluster(file: str, raw: Any) -> ClusterConfig:
    c = _check_keys(file, "spec.cluster", raw, _CLUSTER)
    gates = c.get("featureGates") or {}
    if not isinstance(gates, dict):
        raise _fail(file, "spec.cluster.featureGates", "expected a mapping of gate name to true/false")
    for g, v in gates.items():
        if g not in KNOWN_FEATURE_GATES:
            raise _fail(file, f"spec.cluster.featureGates.{g}",
                        f"unknown feature gate (known: {', '.join(KNOWN_FEATURE_GATES)})")
        if not isinstance(v, bool):
            raise _fail(file, f"spec.cluster.featureGates.{g}", f"expected true or false, got {v!r}")
    ds = c.get("daemonsets", "eks-default")
    if ds not in DAEMONSET_SETS:
        raise _fail(file, "spec.cluster.daemonsets", f"expected one of {', '.join(DAEMONSET_SETS)}, got {ds!r}")
    autoscaler = c.get("autoscaler", "karpenter")
    if autoscaler not in ("karpenter", "none"):
        raise _fail(file, "spec.cluster.autoscaler", f"expected karpenter or none, got {autoscaler!r}")
    zones = c.get("zones") or []
    if not isinstance(zones, list) or not all(isinstance(z, str) for z in zones):
        raise _fail(file, "spec.cluster.zones", "expected a list of zone names")
    spot = c.get("spotInterruptions", "none")
    if spot not in SPOT_INTERRUPTION_MODES:
        raise _fail(file, "spec.cluster.spotInterruptions",
                    f"expected one of {', '.join(SPOT_INTERRUPTION_MODES)}, got {spot!r}")
    kp = _check_keys(file, "spec.cluster.karpenter", c.get("karpenter") or {}, _KARPENTER)
    version = _version(file, kp.get("version", "v1.14"))
    for g, v in gates.items():
        missing = _gate_missing(g, v, version)
        if missing:
            raise _fail(file, f"spec.cluster.featureGates.{g}", missing)
    return ClusterConfig(
        region=str(c.get("region", "us-east-1")), zones=tuple(zones), autoscaler=autoscaler,
        feature_gates=dict(gates), daemonsets=ds, name=str(c.get("name", "ekstwin")), spot_interruptions=spot,
        batch_idle_s=_duration(file, "spec.cluster.karpenter.batchIdleDuration", kp.get("batchIdleDuration", "1s")),
        batch_max_s=_duration(file, "spec.cluster.karpenter.batchMaxDuration", kp.get("batchMaxDuration", "10s")),
        karpenter_version=version)


def _version(file: str, value: Any) -> str:
    text = str(value)
    if not _VERSION.match(text):
        raise _fail(file, "spec.cluster.karpenter.version",
                    f"expected a Karpenter version like v1.4 or v0.37, got {text!r}")
    return text if text.startswith("v") else "v" + text


def _manifests(file: str, base: str, entries: Any, field: str) -> tuple[list[dict[str, Any]], list[str]]:
    if isinstance(entries, (str, dict)):
        entries = [entries]
    if not isinstance(entries, list):
        raise _fail(file, field, "expected a list of manifest paths or inline objects")
    docs: list[manifests.Document] = []
    for i, e in enumerate(entries):
        if isinstance(e, str):
            p = e if os.path.isabs(e) else os.path.join(base, e)
            if not os.path.isfile(p):
                raise _fail(file, f"{field}[{i}]", f"manifest file {e!r} not found")
            docs.extend(manifests.load_file(p))
        elif isinstance(e, dict):
            docs.append(manifests.Document(e, f"{file} ({field}[{i}])", 0))
        else:
            raise _fail(file, f"{field}[{i}]", "expected a path or an inline object")
    return manifests.load_documents(docs)


def _diurnal(file: str, where: str, at: float, raw: Any) -> list[TimelineStep]:
    """Expand a day-shaped load into scale steps: replicas follow min + (max − min)·(1 − cos 2πt/period)/2,
    starting at the trough, every ``step`` for ``duration`` (default one period)."""
    d = _check_keys(file, where, raw, _DIURNAL)
    if not d.get("kind") or not d.get("name"):
        raise _fail(file, where, "needs kind and name")
    low, high = d.get("min"), d.get("max")
    if not isinstance(low, int) or not isinstance(high, int) or not 0 <= low <= high:
        raise _fail(file, f"{where}.min", "min and max must be integers with 0 ≤ min ≤ max")
    period = _duration(file, f"{where}.period", d.get("period", "24h"))
    step = _duration(file, f"{where}.step", d.get("step", "30m"))
    duration = _duration(file, f"{where}.duration", d.get("duration", d.get("period", "24h")))
    if period <= 0 or step <= 0:
        raise _fail(file, f"{where}.step", "period and step must be positive")
    target = {k: d[k] for k in ("kind", "name", "namespace") if k in d}
    out, t = [], 0.0
    while t <= duration:
        replicas = round(low + (high - low) * (1 - math.cos(2 * math.pi * t / period)) / 2)
        out.append(TimelineStep(at + t, "scale", {**target, "replicas": replicas}, f"{file}: {where}"))
        t += step
    return out


def _timeline(file: str, base: str, raw: Any) -> tuple[list[TimelineStep], float | None, float | None]:
    """Steps sorted by time (same time: timeline order), the earliest ``stop`` and, when the timeline uses
    ``advance``, the final cursor.

    A step without ``at`` happens at the cursor: 0s at first, moved to each explicit ``at`` and forward by
    each ``advance``. A timeline that uses ``advance`` reads as a script, so its steps must not go back in
    time; one that does not may list explicit times in any order, as before the cursor existed.
    """
    if not isinstance(raw, list):
        raise _fail(file, "spec.timeline", "expected a list of steps")
    script = any(isinstance(s, dict) and "advance" in s for s in raw)
    steps: list[TimelineStep] = []
    stop: float | None = None
    cursor = 0.0
    for i, step in enumerate(raw):
        where = f"spec.timeline[{i}]"
        s = _check_keys(file, where, step, {*_ACTIONS, "at"})
        actions = [a for a in _ACTIONS if a in s]
        if len(actions) != 1:
            raise _fail(file, where, f"each step needs exactly one of {', '.join(_ACTIONS)}")
        action = actions[0]
        if action == "advance":
            if "at" in s:
                raise _fail(file, f"{where}.at", "advance moves the cursor from the previous step; it takes no at")
            by = _duration(file, f"{where}.advance", s["advance"])
            if by < 0:
                raise _fail(file, f"{where}.advance", f"must not be negative, got {s['advance']!r}")
            cursor += by
            continue
        at = _duration(file, f"{where}.at", s["at"]) if "at" in s else cursor
        if at < 0:
            raise _fail(file, f"{where}.at", f"must not be negative, got {s['at']!r}")
        if script and at < cursor:
            raise _fail(file, f"{where}.at", f"{format_duration(at)} is before the cursor "
                        f"({format_duration(cursor)}): a timeline that uses advance must stay in time order")
        cursor = at
        if action == "stop":
            stop = at if stop is None else min(stop, at)
            continue
        if action == "provision" and isinstance(s[action], dict):
            steps.append(TimelineStep(at, action, _provision(file, f"{where}.provision", s[action]),
                                      f"{file}: {where}"))
        elif action in ("provision", "disrupt"):
            if s[action] is not True:
                expected = "true or {wait: true}" if action == "provision" else "true"
                raise _fail(file, f"{where}.{action}", f"expected {expected}, got {s[action]!r}")
            steps.append(TimelineStep(at, action, None, f"{file}: {where}"))
        elif action == "apply":
            objs, _ = _manifests(file, base, s["apply"], f"{where}.apply")
            steps.append(TimelineStep(at, action, tuple(objs), f"{file}: {where}"))
        elif action == "interrupt":
            steps.append(TimelineStep(at, action, _interrupt(file, f"{where}.interrupt", s[action]),
                                      f"{file}: {where}"))
        elif action == "diurnal":
            steps.extend(_diurnal(file, f"{where}.diurnal", at, s[action]))
        else:
            target = _check_keys(file, f"{where}.{action}", s[action], {"kind", "name", "namespace", "replicas"})
            if not target.get("kind") or not target.get("name"):
                raise _fail(file, f"{where}.{action}", "needs kind and name")
            if action == "scale" and not isinstance(target.get("replicas"), int):
                raise _fail(file, f"{where}.scale.replicas", "expected an integer")
            steps.append(TimelineStep(at, action, dict(target), f"{file}: {where}"))
    steps.sort(key=lambda st: st.at_s)
    return steps, stop, cursor if script else None


def _provision(file: str, field: str, raw: dict[str, Any]) -> dict[str, float] | None:
    """``provision: {wait: true, timeout: 15m}``: the wait's timeout in seconds, or None for a pass that does
    not wait (``wait: false``, the same as ``provision: true``)."""
    p = _check_keys(file, field, raw, {"wait", "timeout"})
    wait = p.get("wait", False)
    if not isinstance(wait, bool):
        raise _fail(file, f"{field}.wait", f"expected true or false, got {wait!r}")
    if "timeout" in p and not wait:
        raise _fail(file, f"{field}.timeout", "only a pass that waits has a timeout (add wait: true)")
    timeout = _duration(file, f"{field}.timeout", p["timeout"]) if "timeout" in p else DEFAULT_WAIT_TIMEOUT_S
    if timeout < 0:
        raise _fail(file, f"{field}.timeout", f"must not be negative, got {p['timeout']!r}")
    return {"timeout": timeout} if wait else None


def _interrupt(file: str, field: str, raw: Any) -> dict[str, Any]:
    """``interrupt: {node: name}`` or ``interrupt: {nodeSelector: {label: value}}`` (exactly one)."""
    target = _check_keys(file, field, raw, _INTERRUPT)
    if len(target) != 1:
        raise _fail(file, field, "needs exactly one of node, nodeSelector")
    if "node" in target:
        if not isinstance(target["node"], str) or not target["node"]:
            raise _fail(file, f"{field}.node", f"expected a node name, got {target['node']!r}")
        return {"node": target["node"]}
    selector = target["nodeSelector"]
    if not isinstance(selector, dict) or not selector:
        raise _fail(file, f"{field}.nodeSelector", "expected a non-empty mapping of label to value")
    for k, v in selector.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise _fail(file, f"{field}.nodeSelector.{k}", f"expected a string label value, got {v!r}")
    return {"nodeSelector": dict(selector)}


def _cloud(file: str, raw: Any) -> CloudConfig:
    """``spec.cloud``: catalog kind, discounts, exact prices, custom instance types, capacity reservations (see
    ``catalog.overrides``) and Savings Plans (``cloud.savings_plans``)."""
    c = _check_keys(file, "spec.cloud", raw, _CLOUD)
    kind = c.get("catalog", "bundled")
    if kind not in ov.CATALOG_KINDS:
        raise _fail(file, "spec.cloud.catalog", f"expected one of {', '.join(ov.CATALOG_KINDS)}, got {kind!r}")
    d = _check_keys(file, "spec.cloud.discounts", c.get("discounts") or {}, _DISCOUNTS)
    families = d.get("families") or {}
    if not isinstance(families, dict):
        raise _fail(file, "spec.cloud.discounts.families", "expected a mapping of instance family to percentage")
    discounts = ov.Discounts(
        on_demand=_percent(file, "spec.cloud.discounts.onDemand", d.get("onDemand", 0)),
        spot=_percent(file, "spec.cloud.discounts.spot", d.get("spot", 0)),
        families={str(f): _percent(file, f"spec.cloud.discounts.families.{f}", v) for f, v in families.items()})
    prices = [_price_override(file, f"spec.cloud.prices[{i}]", p)
              for i, p in enumerate(_list(file, "spec.cloud.prices", c))]
    types = [_custom_type(file, f"spec.cloud.instanceTypes[{i}]", t)
             for i, t in enumerate(_list(file, "spec.cloud.instanceTypes", c))]
    names = [t.name for t in types]
    for i, n in enumerate(names):
        if n in names[:i]:
            raise _fail(file, f"spec.cloud.instanceTypes[{i}].name", f"instance type {n!r} is defined twice")
    if kind == "custom" and not types:
        raise _fail(file, "spec.cloud.instanceTypes", "catalog: custom needs at least one instance type")
    reservations = [_reservation(file, f"spec.cloud.capacityReservations[{i}]", r)
                    for i, r in enumerate(_list(file, "spec.cloud.capacityReservations", c))]
    plans = [_savings_plan(file, f"spec.cloud.savingsPlans[{i}]", i, p)
             for i, p in enumerate(_list(file, "spec.cloud.savingsPlans", c))]
    names = [p.name for p in plans]
    for i, n in enumerate(names):
        if n in names[:i]:
            raise _fail(file, f"spec.cloud.savingsPlans[{i}].name", f"Savings Plan {n!r} is defined twice")
    return CloudConfig(ov.CloudCatalog(kind, discounts, tuple(prices), tuple(types), tuple(reservations)),
                       tuple(plans))


def _savings_plan(file: str, where: str, index: int, raw: Any) -> sp.SavingsPlan:
    """``{type: compute|ec2Instance, commitment: USD/hour, discount: 28%, family: m5 (ec2Instance only), name}``."""
    p = _check_keys(file, where, raw, _SAVINGS_PLAN)
    kind = p.get("type")
    if kind not in sp.KINDS:
        raise _fail(file, f"{where}.type", f"expected one of {', '.join(sp.KINDS)}, got {kind!r}")
    if "commitment" not in p:
        raise _fail(file, f"{where}.commitment", "missing (USD per hour, at Savings Plan rates)")
    commitment = p["commitment"]
    if isinstance(commitment, bool) or not isinstance(commitment, (int, float)) or not 0 < commitment < math.inf:
        raise _fail(file, f"{where}.commitment", f"expected USD per hour (a number > 0), got {commitment!r}")
    if "discount" not in p:
        raise _fail(file, f"{where}.discount", "missing (the Savings Plan rate's discount off on-demand, e.g. 28%)")
    discount = _percent(file, f"{where}.discount", p["discount"])
    if not 0 < discount < 1:
        raise _fail(file, f"{where}.discount", f"expected a discount above 0% and below 100%, got {p['discount']!r}")
    family = p.get("family")
    if kind == sp.EC2_INSTANCE:
        family = _name(file, f"{where}.family", family, "an instance family such as m5")
    elif family is not None:
        raise _fail(file, f"{where}.family", "only an ec2Instance Savings Plan is limited to one instance family")
    name = _name(file, f"{where}.name", p["name"], "a name") if "name" in p else f"{kind}-{index}"
    return sp.SavingsPlan(str(kind), float(commitment), discount, family, name)


def _reservation(file: str, where: str, raw: Any) -> rsv.ReservationSpec:
    """``{id: cr-…, instanceType, zone, count, tags, ownerID, instanceMatchCriteria}`` (ODCR of a catalog type)."""
    r = _check_keys(file, where, raw, _RESERVATION)
    for key in ("id", "instanceType", "zone", "count"):
        if key not in r:
            raise _fail(file, f"{where}.{key}", "missing")
    return rsv.ReservationSpec(
        _reservation_id(file, f"{where}.id", r["id"]),
        _name(file, f"{where}.instanceType", r["instanceType"], "an instance type name"),
        _name(file, f"{where}.zone", r["zone"], "a zone name"), _count(file, f"{where}.count", r["count"]),
        _tags(file, f"{where}.tags", r.get("tags")), _owner(file, f"{where}.ownerID", r.get("ownerID")),
        _match_criteria(file, f"{where}.instanceMatchCriteria", r.get("instanceMatchCriteria")), where=where)


def _reservation_id(file: str, field: str, value: Any) -> str:
    if not isinstance(value, str) or not _RESERVATION_ID.match(value):
        raise _fail(file, field, f"expected a capacity reservation id like cr-0123456789abcdef0, got {value!r}")
    return value


def _count(file: str, field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _fail(file, field, f"expected the number of reserved instances (an integer >= 1), got {value!r}")
    return value


def _tags(file: str, field: str, value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise _fail(file, field, "expected a mapping of tag key to string value")
    return dict(value)


def _owner(file: str, field: str, value: Any) -> str:
    if value is None:
        return rsv.ACCOUNT_ID
    if not isinstance(value, str) or not _OWNER_ID.match(value):
        raise _fail(file, field, f"expected a 12-digit AWS account id, got {value!r}")
    return value


def _match_criteria(file: str, field: str, value: Any) -> str:
    if value is None:
        return rsv.OPEN
    if value not in rsv.MATCH_CRITERIA:
        raise _fail(file, field, f"expected one of {', '.join(rsv.MATCH_CRITERIA)}, got {value!r}")
    return str(value)


def _list(file: str, field: str, parent: dict[str, Any]) -> list[Any]:
    value = parent.get(field.rsplit(".", 1)[-1]) or []
    if not isinstance(value, list):
        raise _fail(file, field, f"expected a list, got {type(value).__name__}")
    return value


def _percent(file: str, field: str, value: Any) -> float:
    try:
        return ov.percent(value, field)
    except InvalidInput as e:
        raise _fail(file, field, e.reason) from None


def _price(file: str, field: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
        raise _fail(file, field, f"expected a price in $/hour (a number >= 0), got {value!r}")
    return float(value)


def _name(file: str, field: str, value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(file, field, f"expected {what}, got {value!r}")
    return value


def _capacity_type(file: str, field: str, value: Any, *, reserved: bool = False) -> str:
    allowed = ("spot", "on-demand", rsv.RESERVED) if reserved else ("spot", "on-demand")
    if value not in allowed:
        hint = (" (a capacity reservation is billed at the on-demand rate: give the on-demand price)"
                if value == rsv.RESERVED else "")
        raise _fail(file, field, f"expected {', '.join(allowed[:-1])} or {allowed[-1]}, got {value!r}{hint}")
    return str(value)


def _price_override(file: str, where: str, raw: Any) -> ov.PriceOverride:
    p = _check_keys(file, where, raw, _PRICE)
    if "price" not in p:
        raise _fail(file, f"{where}.price", "missing (an hourly price in $)")
    zone = _name(file, f"{where}.zone", p["zone"], "a zone name") if "zone" in p else None
    ct = _capacity_type(file, f"{where}.capacityType", p["capacityType"]) if "capacityType" in p else None
    return ov.PriceOverride(_name(file, f"{where}.instanceType", p.get("instanceType"), "an instance type name"),
                            _price(file, f"{where}.price", p["price"]), zone, ct, where)


def _resources(file: str, field: str, raw: Any) -> Resources:
    if not isinstance(raw, dict):
        raise _fail(file, field, "expected a resource list such as {cpu: '4', memory: 16Gi}")
    try:
        return Resources({str(k): _quantity(str(k), v) for k, v in raw.items()})
    except InvalidInput as e:
        raise _fail(file, field, e.reason) from None


def _quantity(name: str, value: Any) -> int:
    try:
        return Resources.parse({name: value}).get(name, 0)
    except InvalidInput as e:
        raise InvalidInput(f"{name}: {e.reason}") from None


def _custom_type(file: str, where: str, raw: Any) -> ov.CustomType:
    t = _check_keys(file, where, raw, _CUSTOM_TYPE)
    name = _name(file, f"{where}.name", t.get("name"), "an instance type name")
    if "capacity" not in t:
        raise _fail(file, f"{where}.capacity", "missing (needs at least cpu and memory)")
    capacity = _resources(file, f"{where}.capacity", t["capacity"])
    for key in ("cpu", "memory"):
        if capacity.get(key, 0) <= 0:
            raise _fail(file, f"{where}.capacity.{key}", "missing or not positive")
    labels = t.get("labels") or {}
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        raise _fail(file, f"{where}.labels", "expected a mapping of label to string value")
    overhead = _check_keys(file, f"{where}.overhead", t.get("overhead") or {}, _OVERHEAD)
    parts = {k: _resources(file, f"{where}.overhead.{k}", v) for k, v in overhead.items()}
    allocatable = _resources(file, f"{where}.allocatable", t["allocatable"]) if "allocatable" in t else None
    offerings = [_offering(file, f"{where}.offerings[{i}]", o)
                 for i, o in enumerate(_list(file, f"{where}.offerings", t))]
    if not offerings:
        raise _fail(file, f"{where}.offerings", "needs at least one offering {zone, capacityType, price}")
    return ov.CustomType(name, capacity, tuple(offerings), {str(k): v for k, v in labels.items()},
                         kube_reserved=parts.get("kubeReserved"), system_reserved=parts.get("systemReserved"),
                         eviction_threshold=parts.get("evictionThreshold"), allocatable=allocatable, where=where)


def _offering(file: str, where: str, raw: Any) -> ov.CustomOffering:
    """``{zone, capacityType, price, available}``; a ``reserved`` one is a capacity reservation of ``count``
    instances (with optional ``id``, ``tags`` and ``instanceMatchCriteria``) billed at ``price`` per slot-hour."""
    o = _check_keys(file, where, raw, _OFFERING | _RESERVED_OFFERING)
    for key in ("zone", "capacityType", "price"):
        if key not in o:
            raise _fail(file, f"{where}.{key}", "missing")
    ct = _capacity_type(file, f"{where}.capacityType", o["capacityType"], reserved=True)
    zone = _name(file, f"{where}.zone", o["zone"], "a zone name")
    price = _price(file, f"{where}.price", o["price"])
    if ct != rsv.RESERVED:
        extra = sorted(set(o) & _RESERVED_OFFERING)
        if extra:
            raise _fail(file, f"{where}.{extra[0]}", "only a capacityType: reserved offering (a capacity "
                        "reservation) has count, id, tags or instanceMatchCriteria")
        available = o.get("available", True)
        if not isinstance(available, bool):
            raise _fail(file, f"{where}.available", f"expected true or false, got {available!r}")
        return ov.CustomOffering(zone, ct, price, available)
    if "available" in o:
        raise _fail(file, f"{where}.available", "a reserved offering is available while it has free slots; set its "
                    "count instead")
    if "count" not in o:
        raise _fail(file, f"{where}.count", "missing (how many instances the capacity reservation holds)")
    rid = _reservation_id(file, f"{where}.id", o["id"]) if "id" in o else None
    return ov.CustomOffering(zone, ct, price, count=_count(file, f"{where}.count", o["count"]), reservation_id=rid,
                             tags=_tags(file, f"{where}.tags", o.get("tags")),
                             instance_match_criteria=_match_criteria(file, f"{where}.instanceMatchCriteria",
                                                                     o.get("instanceMatchCriteria")))
