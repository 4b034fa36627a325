"""Defaulting as the API server and its built-in admission plugins do it when an object is created.

``apply_defaults`` returns a defaulted deep copy; it is idempotent. What it writes, by kind:

* every namespaced kind: ``metadata.namespace: default``; cluster-scoped kinds lose a stray namespace.
* PodSpec, wherever it appears (Pods and workload templates): ``dnsPolicy ClusterFirst``,
  ``restartPolicy Always``, ``terminationGracePeriodSeconds 30``, ``schedulerName default-scheduler``,
  ``securityContext {}``; per container ``imagePullPolicy`` (Always for ``:latest`` or no tag, else
  IfNotPresent), ``terminationMessagePath``/``Policy``; per port ``protocol TCP``.
* Pod only (never templates, as in Kubernetes): requests copied from limits where a request is missing,
  ``enableServiceLinks true``, host ports copied from container ports under hostNetwork, then the
  Priority admission plugin (``priority``, ``preemptionPolicy`` and the default class), then
  DefaultTolerationSeconds (``not-ready``/``unreachable`` NoExecute tolerations, 300 s), then the create
  strategy's ``status.phase Pending`` and ``status.qosClass``.
* Deployment, ReplicaSet, DaemonSet, StatefulSet, PriorityClass, Namespace, Node: their v1 defaults.
* NodePool/NodeClaim/EC2NodeClass: the CRD schema defaults of the object's own version.

Input is expected to have passed ``manifests.validate``; a block of the wrong type is replaced, not repaired.
DaemonSet pods' extra tolerations are the DaemonSet controller's job, not defaulting.

Not defaulted, on purpose: ``topologySpreadConstraints[].whenUnsatisfiable`` is required (validation
reports it), and ``nodeAffinityPolicy``/``nodeTaintsPolicy`` are left absent as the API server leaves them;
the scheduler reads absence as ``NODE_AFFINITY_POLICY_DEFAULT``/``NODE_TAINTS_POLICY_DEFAULT``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType
from typing import Any

from ekstwin.errors import InvalidScenario
from ekstwin.model import schema
from ekstwin.model.schema import as_list, as_map

NODE_AFFINITY_POLICY_DEFAULT = "Honor"
NODE_TAINTS_POLICY_DEFAULT = "Ignore"
DEFAULT_TOLERATION_SECONDS = 300
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
PREEMPT_LOWER_PRIORITY = "PreemptLowerPriority"


@dataclass(frozen=True, slots=True)
class PriorityClassInfo:
    """What the Priority admission plugin needs from a PriorityClass."""

    value: int
    preemption_policy: str = PREEMPT_LOWER_PRIORITY
    global_default: bool = False


BUILTIN_PRIORITY_CLASSES: Mapping[str, PriorityClassInfo] = MappingProxyType({
    name: PriorityClassInfo(value) for name, value in schema.BUILTIN_PRIORITY_CLASSES.items()})


def priority_classes_from(objects: Iterable[Mapping[str, Any]]) -> dict[str, PriorityClassInfo]:
    """The PriorityClass objects among ``objects``, keyed by name, ready for ``apply_defaults``."""
    found: dict[str, PriorityClassInfo] = {}
    for obj in objects:
        if obj.get("kind") == "PriorityClass" and isinstance(obj.get("value"), int):
            name = str(as_map(obj.get("metadata")).get("name"))
            found[name] = PriorityClassInfo(int(obj["value"]), str(obj.get("preemptionPolicy") or
                                                                    PREEMPT_LOWER_PRIORITY),
                                            bool(obj.get("globalDefault")))
    return found


def apply_defaults(obj: Mapping[str, Any], *,
                   priority_classes: Mapping[str, int | PriorityClassInfo] | None = None) -> dict[str, Any]:
    """A defaulted deep copy of ``obj`` (nulls dropped first, as the API server's decoder does).

    ``priority_classes`` (name -> value or PriorityClassInfo) adds to the built-in
    ``system-cluster-critical`` and ``system-node-critical`` when resolving a Pod's priority.

    Raises:
        InvalidScenario: a Pod names an unknown PriorityClass, or sets ``priority``/``preemptionPolicy``
            to something other than what its class gives (the Priority admission plugin refuses both).
    """
    out: dict[str, Any] = schema.prune_nulls(copy.deepcopy(dict(obj)))
    kind = str(out.get("kind"))
    _namespace(out, kind)
    defaulter = _BY_VERSION.get((str(out.get("apiVersion")), kind)) or _BY_KIND.get(kind)
    if defaulter is not None:
        defaulter(out, _classes(priority_classes))
    return out


def _classes(given: Mapping[str, int | PriorityClassInfo] | None) -> dict[str, PriorityClassInfo]:
    table = dict(BUILTIN_PRIORITY_CLASSES)
    for name, info in (given or {}).items():
        table[name] = info if isinstance(info, PriorityClassInfo) else PriorityClassInfo(info)
    return table


def _namespace(obj: dict[str, Any], kind: str) -> None:
    try:
        namespaced = schema.is_namespaced(kind)
    except KeyError:
        return  # unknown kind: nothing is known about its scope, so nothing is guessed
    meta = _child(obj, "metadata")
    if namespaced:
        if not meta.get("namespace"):
            meta["namespace"] = "default"
    else:
        meta.pop("namespace", None)  # the API server clears it for cluster-scoped kinds


def _child(parent: dict[str, Any], key: str) -> dict[str, Any]:
    value = parent.get(key)
    if not isinstance(value, dict):
        value = parent[key] = {}
    return value


def _maps(items: Any) -> list[dict[str, Any]]:
    return [item for item in as_list(items) if isinstance(item, dict)]


# --------------------------------------------------------------------------------------------------------
# PodSpec (everywhere) and Pod (admission)


def _pod_spec(spec: dict[str, Any]) -> None:
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    for container in _containers(spec):
        _container(container)


def _containers(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    return _maps(spec.get("initContainers")) + _maps(spec.get("containers"))


def _container(container: dict[str, Any]) -> None:
    if "imagePullPolicy" not in container:
        tag = _image_tag(str(container.get("image") or ""))
        container["imagePullPolicy"] = "Always" if tag == "latest" else "IfNotPresent"
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    for port in _maps(container.get("ports")):
        port.setdefault("protocol", "TCP")


def _image_tag(image: str) -> str:
    """The tag of an image reference: "" for a digest-only reference, "latest" when none is written."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]  # a registry host may carry a :port
    if ":" in last:
        return last.rsplit(":", 1)[1]
    return "" if digest else "latest"


def _template(spec: dict[str, Any]) -> None:
    template = spec.get("template")
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        _pod_spec(template["spec"])


def _pod(pod: dict[str, Any], classes: Mapping[str, PriorityClassInfo]) -> None:
    spec = _child(pod, "spec")
    _pod_spec(spec)
    for container in _containers(spec):
        _requests_from_limits(container)
    spec.setdefault("enableServiceLinks", True)
    if spec.get("hostNetwork") is True:
        for container in _containers(spec):
            for port in _maps(container.get("ports")):
                if not port.get("hostPort"):
                    port["hostPort"] = port.get("containerPort")
    _admit_priority(pod, spec, classes)
    _default_toleration_seconds(spec)
    status = _child(pod, "status")
    status.setdefault("phase", "Pending")
    status.setdefault("qosClass", qos_class(spec))


def _requests_from_limits(container: dict[str, Any]) -> None:
    limits = as_map(container.get("resources")).get("limits")
    if not isinstance(limits, dict) or not limits:
        return
    requests = _child(_child(container, "resources"), "requests")
    for name, value in limits.items():
        requests.setdefault(name, value)


def _admit_priority(pod: dict[str, Any], spec: dict[str, Any], classes: Mapping[str, PriorityClassInfo]) -> None:
    name = spec.get("priorityClassName")
    ref = _ref(pod)
    if name:
        info = classes.get(str(name))
        if info is None:
            raise InvalidScenario(f"no PriorityClass with name {name} was found", obj=ref,
                                  field="spec.priorityClassName")
    else:
        default = next((n for n, c in sorted(classes.items()) if c.global_default), None)
        info = classes[default] if default else PriorityClassInfo(0)
        if default:
            spec["priorityClassName"] = default
    given = spec.get("priority")
    if given is not None and given != info.value:
        raise InvalidScenario(f"the integer value of priority ({given}) must not be provided in pod spec; "
                              f"priority admission controller computed {info.value} from the given "
                              "PriorityClass name", obj=ref, field="spec.priority")
    policy = spec.get("preemptionPolicy")
    if policy is not None and policy != info.preemption_policy:
        raise InvalidScenario(f"the string value of PreemptionPolicy ({policy}) must not be provided in pod "
                              f"spec; priority admission controller computed {info.preemption_policy} from "
                              "the given PriorityClass name", obj=ref, field="spec.preemptionPolicy")
    spec["priority"] = info.value
    spec["preemptionPolicy"] = info.preemption_policy


def _ref(obj: Mapping[str, Any]) -> str:
    meta = as_map(obj.get("metadata"))
    return f"{obj.get('kind')}/{meta.get('namespace') or 'default'}/{meta.get('name') or meta.get('generateName')}"


def _default_toleration_seconds(spec: dict[str, Any]) -> None:
    tolerations = _maps(spec.get("tolerations"))
    added = [
        {"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": DEFAULT_TOLERATION_SECONDS}
        for key in (NOT_READY_TAINT, UNREACHABLE_TAINT) if not _tolerates_no_execute(tolerations, key)
    ]
    if added:
        spec["tolerations"] = as_list(spec.get("tolerations")) + added


def _tolerates_no_execute(tolerations: list[dict[str, Any]], key: str) -> bool:
    # The plugin's own test: the key matches (or is empty) and the effect is NoExecute (or empty).
    return any(t.get("key") in (key, None, "") and t.get("effect") in ("NoExecute", None, "")
               for t in tolerations)


def qos_class(spec: Mapping[str, Any]) -> str:
    """Guaranteed, Burstable or BestEffort from the containers' cpu/memory requests and limits."""
    requests: dict[str, Fraction] = {}
    limits: dict[str, Fraction] = {}
    guaranteed = True
    for container in _containers(spec):
        resources = as_map(container.get("resources"))
        for name, value in _compute(resources.get("requests")).items():
            requests[name] = requests.get(name, Fraction(0)) + value
        container_limits = _compute(resources.get("limits"))
        for name, value in container_limits.items():
            limits[name] = limits.get(name, Fraction(0)) + value
        if set(container_limits) != {"cpu", "memory"}:
            guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    if guaranteed and requests == limits:
        return "Guaranteed"
    return "Burstable"


def _compute(resources: Any) -> dict[str, Fraction]:
    found: dict[str, Fraction] = {}
    for name in ("cpu", "memory"):
        amount = schema.fraction_or_none(as_map(resources).get(name))
        if amount:  # zero quantities do not count, as in Kubernetes
            found[name] = amount
    return found


# --------------------------------------------------------------------------------------------------------
# workloads and cluster objects


def _deployment(obj: dict[str, Any], _: Mapping[str, PriorityClassInfo]) -> None:
    spec = _child(obj, "spec")
    spec.setdefault("replicas", 1)
    strategy = _child(spec, "strategy")
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = _child(strategy, "rollingUpdate")
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    _template(spec)


def _replica_set(obj: dict[str, Any], _: Mapping[str, PriorityClassInfo]) -> None:
    spec = _child(obj, "spec")
    spec.setdefault("replicas", 1)
    _template(spec)


def _daemon_set(obj: dict[str, Any], _: Mapping[str, PriorityClassInfo]) -> None:
    spec = _child(obj, "spec")
    strategy = _child(spec, "updateStrategy")
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = _child(strategy, "rollingUpdate")
        rolling.setdefault("maxUnavailable", 1)
        rolling.setdefault("maxSurge", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    _template(spec)


def _stateful_set(obj: dict[str, Any], _: Mapping[str, PriorityClassInfo]) -> None:
    spec = _child(obj, "spec")
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    strategy = _child(spec, "updateStrategy")
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        _child(strategy, "rollingUpdate").setdefault("partition", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    retention = _child(spec, "persistentVolumeClaimRetentionPolicy")
    retention.setdefault("whenDeleted", "Retain")
    retention.setdefault("whenScaled", "Retain")
    _template(spec)


def _priority_class(obj: dict[str, Any], _: Mapping[str, PriorityClassInfo]) -> None:
    obj.setdefault("preemptionPolicy", PREEMPT_LOWER_PRIORITY)


def _namespace_object(obj: dict[str, Any], _: Mapping[str, PriorityClassInfo]) -> None:
    meta = _child(obj, "metadata")
    if meta.get("name"):
        _child(meta, "labels")["kubernetes.io/metadata.name"] = meta["name"]
    _child(obj, "status").setdefault("phase", "Active")


def _node(obj: dict[str, Any], _: Mapping[str, PriorityClassInfo]) -> None:
    status = obj.get("status")
    if isinstance(status, dict) and "allocatable" not in status and isinstance(status.get("capacity"), dict):
        status["allocatable"] = dict(status["capacity"])


# --------------------------------------------------------------------------------------------------------
# Karpenter CRD defaults


def _budgets(disruption: dict[str, Any]) -> None:
    disruption.setdefault("budgets", [{"nodes": "10%"}])
    for budget in _maps(disruption.get("budgets")):
        budget.setdefault("nodes", "10%")


def _template_spec(spec: dict[str, Any]) -> dict[str, Any]:
    return _child(_child(spec, "template"), "spec")


def _nodepool_v1(obj: dict[str, Any], _: Mapping[str, PriorityClassInfo]) -> None:
    spec = _child(obj, "spec")
    # Only a missing disruption block gets consolidateAfter; inside a given block it is required.
    disruption = spec.setdefault("disruption", {"consolidateAfter": "0s"})
    disruption.setdefault("consolidationPolicy", "WhenEmptyOrUnderutilized")
    _budgets(disruption)
    _template_spec(spec).setdefault("expireAfter", "720h")


def _nodepool_v1beta1(obj: dict[str, Any], _: Mapping[str, PriorityClassInfo]) -> None:
    spec = _child(obj, "spec")
    disruption = _child(spec, "disruption")
    disruption.setdefault("consolidationPolicy", "WhenUnderutilized")
    disruption.setdefault("expireAfter", "720h")
    _budgets(disruption)


def _nodeclaim_v1(obj: dict[str, Any], _: Mapping[str, PriorityClassInfo]) -> None:
    _child(obj, "spec").setdefault("expireAfter", "720h")


def _ec2nodeclass(obj: dict[str, Any], _: Mapping[str, PriorityClassInfo]) -> None:
    options = _child(_child(obj, "spec"), "metadataOptions")
    options.setdefault("httpEndpoint", "enabled")
    options.setdefault("httpProtocolIPv6", "disabled")
    options.setdefault("httpPutResponseHopLimit", 1)
    options.setdefault("httpTokens", "required")


_Defaulter = Callable[[dict[str, Any], Mapping[str, PriorityClassInfo]], None]

_BY_KIND: Mapping[str, _Defaulter] = {
    "Pod": _pod, "Deployment": _deployment, "ReplicaSet": _replica_set, "DaemonSet": _daemon_set,
    "StatefulSet": _stateful_set, "PriorityClass": _priority_class, "Namespace": _namespace_object,
    "Node": _node, "EC2NodeClass": _ec2nodeclass,
}
_BY_VERSION: Mapping[tuple[str, str], _Defaulter] = {
    ("karpenter.sh/v1", "NodePool"): _nodepool_v1,
    ("karpenter.sh/v1beta1", "NodePool"): _nodepool_v1beta1,
    ("karpenter.sh/v1", "NodeClaim"): _nodeclaim_v1,
}
