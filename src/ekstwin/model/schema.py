"""Known-field trees for every manifest kind ekstwin accepts.

Each kind is a tree of ``Field`` nodes: a type, the known child fields, required names and, where the real
API server runs a rule that does not fit a type (CEL ``x-kubernetes-validations`` in the Karpenter CRDs,
hand-written checks in ``k8s.io/kubernetes/pkg/apis/*/validation``), a ``Rule``. The walker that applies
the trees lives in ``manifests.py``; this module only describes.

Typing follows what the API server's JSON decoder accepts, not what is merely convenient: a label value
written as a YAML number is rejected, ``replicas: "3"`` is rejected, a quantity may be a number or a string.

``opaque`` marks areas that are valid Kubernetes but that the twin does not model (volumes, probes, env,
security contexts...). They are accepted without inspection and listed once per path as "ignored" so a
reader knows the simulation did not look at them.

Baselines: Kubernetes core/apps/policy/scheduling v1 as of 1.30+, Karpenter ``karpenter.sh/v1`` and
``karpenter.k8s.aws/v1`` as of v1.4 (new HEAD-only fields such as ``NodePool.spec.replicas`` are unknown on
purpose), ``v1beta1`` as of v0.34-v0.37.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from enum import StrEnum
from fractions import Fraction
from types import MappingProxyType
from typing import Any

from ekstwin.errors import InvalidInput, InvalidQuantity
from ekstwin.model import requirements, selectors
from ekstwin.units import quantity

Problems = Iterator[tuple[str, str]]
"""(path relative to the node the rule is attached to, message); "" means the node itself."""

Rule = Callable[[Any], Problems]


class T(StrEnum):
    """Leaf and container types a field can have."""

    STRING = "string"
    INT = "int"
    NUMBER = "number"
    BOOL = "bool"
    QUANTITY = "quantity"
    INT_OR_STRING = "int-or-string"
    DURATION = "duration"
    TIME = "time"
    ENUM = "enum"
    MAP = "map"
    LIST = "list"
    OBJECT = "object"
    OPAQUE = "opaque"


_EMPTY: Mapping[str, Field] = MappingProxyType({})
_SIMPLE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def key_path(key: str) -> str:
    """A map key as a relative path step: ``cpu`` stays ``cpu`` (joined as ``.cpu``), a key with dots or
    slashes such as ``karpenter.sh/x`` becomes ``[karpenter.sh/x]``. ``manifests.join`` uses the same rule."""
    return key if _SIMPLE_KEY.match(key) else f"[{key}]"


def as_list(value: Any) -> list[Any]:
    """``value`` if it is a list, else [] (reading an optional field of an object that may lack it)."""
    return value if isinstance(value, list) else []


def as_map(value: Any) -> Mapping[str, Any]:
    """``value`` if it is a mapping, else {} (see ``as_list``)."""
    return value if isinstance(value, Mapping) else {}


def prune_nulls(value: Any) -> Any:
    """Drop null-valued keys everywhere: the API server's decoder treats ``field: null`` as absent."""
    if isinstance(value, dict):
        return {k: prune_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [prune_nulls(v) for v in value]
    return value


@dataclass(frozen=True, slots=True, eq=False)
class Field:
    """One node of a known-field tree."""

    type: T
    fields: Mapping[str, Field] = dataclass_field(default_factory=lambda: _EMPTY)
    """Known children of an OBJECT."""
    required: frozenset[str] = frozenset()
    item: Field | None = None
    """Element of a LIST, value of a MAP."""
    key: Field | None = None
    """Checks for the keys of a MAP (always strings)."""
    values: tuple[str, ...] = ()
    """Allowed values of an ENUM."""
    pattern: re.Pattern[str] | None = None
    """STRING / DURATION / INT_OR_STRING (string form): must match (searched, as OpenAPI does)."""
    minimum: int | None = None
    maximum: int | None = None
    max_length: int | None = None
    min_items: int | None = None
    max_items: int | None = None
    rules: tuple[Rule, ...] = ()
    """Cross-field checks; they only run once the node's whole subtree is free of type errors."""
    loose: bool = False
    """OBJECT accepts unknown children silently (server-written blobs such as Event)."""
    note: str = ""
    """For OPAQUE: why the twin does not look inside (shown in the ignored list)."""
    report: bool = True
    """For OPAQUE: list it as ignored (False for pure bookkeeping such as managedFields)."""


@dataclass(frozen=True, slots=True)
class KindSchema:
    """The known-field tree of one (apiVersion, kind) and the facts validation needs about it."""

    api_version: str
    kind: str
    namespaced: bool
    root: Field


# --------------------------------------------------------------------------------------------------------
# constructors (kept tiny so the trees below read like the API reference)


def obj(fields: Mapping[str, Field], *, required: Iterable[str] = (), rules: Iterable[Rule] = (),
        loose: bool = False) -> Field:
    return Field(T.OBJECT, fields=MappingProxyType(dict(fields)), required=frozenset(required),
                 rules=tuple(rules), loose=loose)


def lst(item: Field, *, min_items: int | None = None, max_items: int | None = None,
        rules: Iterable[Rule] = ()) -> Field:
    return Field(T.LIST, item=item, min_items=min_items, max_items=max_items, rules=tuple(rules))


def mapof(value: Field, *, key: Field | None = None, max_items: int | None = None,
          rules: Iterable[Rule] = ()) -> Field:
    return Field(T.MAP, item=value, key=key, max_items=max_items, rules=tuple(rules))


def enum(*values: str) -> Field:
    return Field(T.ENUM, values=values)


def opaque(note: str, *, report: bool = True) -> Field:
    return Field(T.OPAQUE, note=note, report=report)


def string(pattern: str | None = None, *, max_length: int | None = None,
           rules: Iterable[Rule] = ()) -> Field:
    return Field(T.STRING, pattern=re.compile(pattern) if pattern else None, max_length=max_length,
                 rules=tuple(rules))


def integer(minimum: int | None = None, maximum: int | None = None) -> Field:
    return Field(T.INT, minimum=minimum, maximum=maximum)


def duration(pattern: str) -> Field:
    return Field(T.DURATION, pattern=re.compile(pattern))


def qty(*, minimum: int | None = None) -> Field:
    return Field(T.QUANTITY, minimum=minimum)


STR = string()
INT = integer()
NONNEG = integer(0)
BOOL = Field(T.BOOL)
NUMBER = Field(T.NUMBER)
TIME = Field(T.TIME)
STRLIST = lst(STR)
INT_OR_PERCENT = Field(T.INT_OR_STRING, pattern=re.compile(r"^[0-9]+%$"), minimum=0)

# --------------------------------------------------------------------------------------------------------
# name and label grammar (k8s.io/apimachinery/pkg/util/validation), restated

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_NAME_PART = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def dns_label_problem(name: str) -> str | None:
    if len(name) > 63:
        return f"{name!r} is longer than 63 characters"
    if not _DNS_LABEL.match(name):
        return (f"{name!r} is not a DNS-1123 label: use lower-case letters, digits and '-', "
                "starting and ending with a letter or digit")
    return None


def dns_subdomain_problem(name: str) -> str | None:
    if len(name) > 253:
        return f"{name!r} is longer than 253 characters"
    if not _DNS_SUBDOMAIN.match(name):
        return (f"{name!r} is not a DNS-1123 subdomain: use lower-case letters, digits, '-' and '.', "
                "starting and ending with a letter or digit")
    return None


def qualified_name_problem(key: str) -> str | None:
    """Why ``key`` is not a valid label/annotation/taint key (``[prefix/]name``), or None."""
    parts = key.split("/")
    if len(parts) > 2:
        return f"{key!r} has more than one '/'; a key is an optional DNS-subdomain prefix, '/', and a name"
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix or dns_subdomain_problem(prefix):
            return f"prefix of {key!r} must be a lower-case DNS subdomain"
    if not name:
        return f"name part of {key!r} must not be empty"
    if len(name) > 63:
        return f"name part of {key!r} is longer than 63 characters"
    if not _NAME_PART.match(name):
        return (f"name part of {key!r} must consist of letters, digits, '-', '_' or '.', starting and "
                "ending with a letter or digit")
    return None


def label_value_problem(value: str) -> str | None:
    if len(value) > 63:
        return f"label value {value!r} is longer than 63 characters"
    if not _LABEL_VALUE.match(value):
        return (f"label value {value!r} must be empty or consist of letters, digits, '-', '_' or '.', "
                "starting and ending with a letter or digit")
    return None


def _leaf(check: Callable[[str], str | None]) -> Rule:
    def rule(value: Any) -> Problems:
        problem = check(value)
        if problem:
            yield "", problem
    return rule


QUALIFIED_KEY = string(rules=[_leaf(qualified_name_problem)])
LABEL_VALUE = string(rules=[_leaf(label_value_problem)])
DNS_LABEL = string(rules=[_leaf(dns_label_problem)])
LABELS = mapof(LABEL_VALUE, key=QUALIFIED_KEY)
ANNOTATIONS = mapof(STR, key=QUALIFIED_KEY)
STRMAP = mapof(STR)


def _nonnegative(value: Any) -> Problems:
    # Only reached for values that already parsed; a negative request or capacity is always a mistake.
    try:
        if quantity.parse(value) < 0:
            yield "", "must be greater than or equal to 0"
    except InvalidQuantity:
        return


RESOURCES = mapof(Field(T.QUANTITY, rules=(_nonnegative,)), key=QUALIFIED_KEY)
"""A core/v1 ResourceList: resource name -> quantity."""

# --------------------------------------------------------------------------------------------------------
# metadata


OWNER_REFERENCE = obj({
    "apiVersion": STR, "kind": STR, "name": STR, "uid": STR, "controller": BOOL, "blockOwnerDeletion": BOOL,
}, required=("apiVersion", "kind", "name", "uid"))

OBJECT_META = obj({
    "name": STR,
    "generateName": STR,
    "namespace": DNS_LABEL,
    "labels": LABELS,
    "annotations": ANNOTATIONS,
    "uid": STR,
    "resourceVersion": STR,
    "generation": INT,
    "creationTimestamp": TIME,
    "deletionTimestamp": TIME,
    "deletionGracePeriodSeconds": INT,
    "finalizers": lst(QUALIFIED_KEY),
    "ownerReferences": lst(OWNER_REFERENCE),
    "managedFields": opaque("server-side-apply bookkeeping", report=False),
    "selfLink": opaque("deprecated, never populated", report=False),
})


def _name_rule(name_format: str) -> Rule:
    check = dns_label_problem if name_format == "label" else dns_subdomain_problem

    def rule(meta: Mapping[str, Any]) -> Problems:
        name = meta.get("name")
        if name is None and not meta.get("generateName"):
            yield "name", "required field is missing (set name or generateName)"
        elif isinstance(name, str):
            problem = check(name)
            if problem:
                yield "name", problem
    return rule


def _root(spec_fields: Mapping[str, Field], *, required: Iterable[str] = (), rules: Iterable[Rule] = (),
          name_format: str = "subdomain", loose: bool = False) -> Field:
    metadata = dataclasses.replace(OBJECT_META, rules=(_name_rule(name_format),))
    fields: dict[str, Field] = {"apiVersion": STR, "kind": STR, "metadata": metadata}
    fields.update(spec_fields)
    return obj(fields, required=("apiVersion", "kind", "metadata", *required), rules=rules, loose=loose)


# --------------------------------------------------------------------------------------------------------
# selectors, affinity, tolerations, spread (core/v1)


def _values_for_operator(req: Mapping[str, Any], *, set_ops: tuple[str, ...]) -> Problems:
    op, values = req.get("operator"), as_list(req.get("values"))
    if op in set_ops and not values:
        yield "values", f"must be non-empty when operator is {op}"
    elif op in ("Exists", "DoesNotExist") and values:
        yield "values", f"must be empty when operator is {op}"
    elif op in ("Gt", "Lt"):
        if len(values) != 1:
            yield "values", f"must have exactly one value when operator is {op}"
        elif not _is_int(values[0]):
            yield "values[0]", f"must be an integer when operator is {op}"


def _is_int(text: Any) -> bool:
    return isinstance(text, str) and re.fullmatch(r"[-+]?[0-9]+", text) is not None


def _node_selector_requirement(req: Mapping[str, Any]) -> Problems:
    yield from _values_for_operator(req, set_ops=("In", "NotIn"))


def _label_selector_requirement(req: Mapping[str, Any]) -> Problems:
    yield from _values_for_operator(req, set_ops=("In", "NotIn"))


def _match_field(req: Mapping[str, Any]) -> Problems:
    # Only metadata.name is a selectable node field, and only as an exact (single value) match.
    if req.get("key") not in (None, "metadata.name"):
        yield "key", f"unsupported field {req.get('key')!r}; only metadata.name may be used in matchFields"
    if req.get("operator") not in (None, "In", "NotIn"):
        yield "operator", "only In and NotIn are allowed in matchFields"
    if len(as_list(req.get("values"))) != 1:
        yield "values", "must have exactly one value in matchFields"


NODE_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt")

NODE_SELECTOR_REQUIREMENT = obj({"key": QUALIFIED_KEY, "operator": enum(*NODE_OPERATORS), "values": STRLIST},
                                required=("key", "operator"), rules=(_node_selector_requirement,))
NODE_SELECTOR_TERM = obj({
    "matchExpressions": lst(NODE_SELECTOR_REQUIREMENT),
    "matchFields": lst(obj({"key": STR, "operator": enum(*NODE_OPERATORS), "values": STRLIST},
                           required=("key", "operator"), rules=(_match_field,))),
})
NODE_SELECTOR = obj({"nodeSelectorTerms": lst(NODE_SELECTOR_TERM, min_items=1)}, required=("nodeSelectorTerms",))

LABEL_SELECTOR = obj({
    "matchLabels": LABELS,
    "matchExpressions": lst(obj({"key": QUALIFIED_KEY, "operator": enum("In", "NotIn", "Exists", "DoesNotExist"),
                                 "values": lst(LABEL_VALUE)},
                                required=("key", "operator"), rules=(_label_selector_requirement,))),
})


def _topology_key_set(term: Mapping[str, Any]) -> Problems:
    if term.get("topologyKey") == "":
        yield "topologyKey", "must not be empty"


POD_AFFINITY_TERM = obj({
    "labelSelector": LABEL_SELECTOR,
    "namespaces": lst(DNS_LABEL),
    "topologyKey": QUALIFIED_KEY,
    "namespaceSelector": LABEL_SELECTOR,
    "matchLabelKeys": lst(QUALIFIED_KEY),
    "mismatchLabelKeys": lst(QUALIFIED_KEY),
}, required=("topologyKey",), rules=(_topology_key_set,))
WEIGHT = integer(1, 100)
POD_AFFINITY = obj({
    "requiredDuringSchedulingIgnoredDuringExecution": lst(POD_AFFINITY_TERM),
    "preferredDuringSchedulingIgnoredDuringExecution": lst(obj(
        {"weight": WEIGHT, "podAffinityTerm": POD_AFFINITY_TERM}, required=("weight", "podAffinityTerm"))),
})
AFFINITY = obj({
    "nodeAffinity": obj({
        "requiredDuringSchedulingIgnoredDuringExecution": NODE_SELECTOR,
        "preferredDuringSchedulingIgnoredDuringExecution": lst(obj(
            {"weight": WEIGHT, "preference": NODE_SELECTOR_TERM}, required=("weight", "preference"))),
    }),
    "podAffinity": POD_AFFINITY,
    "podAntiAffinity": POD_AFFINITY,
})

TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


def _toleration(tol: Mapping[str, Any]) -> Problems:
    op = tol.get("operator") or "Equal"
    if not tol.get("key") and op != "Exists":
        yield "operator", "must be Exists when key is empty (a key-less toleration matches every taint)"
    if op == "Exists" and tol.get("value"):
        yield "value", "must be empty when operator is Exists"
    if tol.get("tolerationSeconds") is not None and tol.get("effect") not in ("NoExecute", None):
        yield "effect", "must be NoExecute when tolerationSeconds is set"


TOLERATION = obj({
    "key": STR, "operator": enum("Exists", "Equal", ""), "value": STR,
    "effect": enum(*TAINT_EFFECTS, ""), "tolerationSeconds": INT,
}, rules=(_toleration,))

TAINT = obj({"key": QUALIFIED_KEY, "value": STR, "effect": enum(*TAINT_EFFECTS), "timeAdded": TIME},
            required=("key", "effect"))


def _spread_constraint(tsc: Mapping[str, Any]) -> Problems:
    if tsc.get("minDomains") is not None and tsc.get("whenUnsatisfiable") != "DoNotSchedule":
        yield "minDomains", "may only be set when whenUnsatisfiable is DoNotSchedule"


def _unique_spread(items: list[Mapping[str, Any]]) -> Problems:
    seen: set[tuple[Any, Any]] = set()
    for i, tsc in enumerate(items):
        pair = (tsc.get("topologyKey"), tsc.get("whenUnsatisfiable"))
        if pair in seen:
            yield f"[{i}]", f"duplicate constraint for topologyKey {pair[0]!r} and whenUnsatisfiable {pair[1]!r}"
        seen.add(pair)


TOPOLOGY_SPREAD_CONSTRAINT = obj({
    "maxSkew": integer(1),
    "topologyKey": QUALIFIED_KEY,
    "whenUnsatisfiable": enum("DoNotSchedule", "ScheduleAnyway"),
    "labelSelector": LABEL_SELECTOR,
    "minDomains": integer(1),
    "nodeAffinityPolicy": enum("Honor", "Ignore"),
    "nodeTaintsPolicy": enum("Honor", "Ignore"),
    "matchLabelKeys": lst(QUALIFIED_KEY),
}, required=("maxSkew", "topologyKey", "whenUnsatisfiable"), rules=(_spread_constraint,))

# --------------------------------------------------------------------------------------------------------
# containers and pod spec


def _requests_within_limits(res: Mapping[str, Any]) -> Problems:
    requests, limits = as_map(res.get("requests")), as_map(res.get("limits"))
    for name, limit in limits.items():
        if name in requests:
            try:
                over = quantity.parse(requests[name]) > quantity.parse(limit)
            except InvalidQuantity:
                continue  # the bad quantity is reported by its own field
            if over:
                yield f"requests.{name}", f"must be less than or equal to the {name} limit ({limit})"


RESOURCE_REQUIREMENTS = obj({
    "requests": RESOURCES, "limits": RESOURCES,
    "claims": opaque("dynamic resource allocation is not simulated"),
}, rules=(_requests_within_limits,))

CONTAINER_PORT = obj({
    "name": STR, "hostPort": integer(0, 65535), "containerPort": integer(1, 65535),
    "protocol": enum("TCP", "UDP", "SCTP"), "hostIP": STR,
}, required=("containerPort",))


def _container(*, init: bool) -> Field:
    fields: dict[str, Field] = {
        "name": DNS_LABEL, "image": STR, "command": STRLIST, "args": STRLIST, "workingDir": STR,
        "ports": lst(CONTAINER_PORT),
        "env": opaque("environment variables are not simulated"),
        "envFrom": opaque("environment variables are not simulated"),
        "resources": RESOURCE_REQUIREMENTS,
        "resizePolicy": opaque("in-place resize is not simulated"),
        "volumeMounts": opaque("volumes are not simulated"),
        "volumeDevices": opaque("volumes are not simulated"),
        "livenessProbe": opaque("probes are not simulated; containers become ready after a modelled delay"),
        "readinessProbe": opaque("probes are not simulated; containers become ready after a modelled delay"),
        "startupProbe": opaque("probes are not simulated; containers become ready after a modelled delay"),
        "lifecycle": opaque("lifecycle hooks are not simulated"),
        "terminationMessagePath": STR,
        "terminationMessagePolicy": enum("File", "FallbackToLogsOnError"),
        "imagePullPolicy": enum("Always", "Never", "IfNotPresent"),
        "securityContext": opaque("security settings are not simulated"),
        "stdin": BOOL, "stdinOnce": BOOL, "tty": BOOL,
    }
    if init:
        # Only init containers take a restartPolicy, and "Always" (a sidecar) is its only value.
        fields["restartPolicy"] = enum("Always")
    return obj(fields, required=("name", "image"))


def _unique_container_names(spec: Mapping[str, Any]) -> Problems:
    seen: set[str] = set()
    for group in ("initContainers", "containers"):
        for i, container in enumerate(as_list(spec.get(group))):
            name = container.get("name") if isinstance(container, Mapping) else None
            if isinstance(name, str):
                if name in seen:
                    yield f"{group}[{i}].name", f"duplicate container name {name!r}"
                seen.add(name)


POD_SPEC = obj({
    "volumes": opaque("volumes are not simulated"),
    "initContainers": lst(_container(init=True)),
    "containers": lst(_container(init=False), min_items=1),
    "ephemeralContainers": opaque("ephemeral debug containers are not simulated"),
    "restartPolicy": enum("Always", "OnFailure", "Never"),
    "terminationGracePeriodSeconds": NONNEG,
    "activeDeadlineSeconds": integer(1),
    "dnsPolicy": enum("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"),
    "nodeSelector": LABELS,
    "serviceAccountName": STR,
    "serviceAccount": STR,
    "automountServiceAccountToken": BOOL,
    "nodeName": STR,
    "hostNetwork": BOOL,
    "hostPID": BOOL,
    "hostIPC": BOOL,
    "shareProcessNamespace": BOOL,
    "securityContext": opaque("security settings are not simulated"),
    "imagePullSecrets": opaque("image pulls are not simulated"),
    "hostname": STR,
    "subdomain": STR,
    "affinity": AFFINITY,
    "schedulerName": STR,
    "tolerations": lst(TOLERATION),
    "hostAliases": opaque("DNS is not simulated"),
    "priorityClassName": STR,
    "priority": INT,
    "dnsConfig": opaque("DNS is not simulated"),
    "readinessGates": opaque("readiness gates are not simulated"),
    "runtimeClassName": STR,
    "enableServiceLinks": BOOL,
    "preemptionPolicy": enum("PreemptLowerPriority", "Never"),
    "overhead": RESOURCES,
    "topologySpreadConstraints": lst(TOPOLOGY_SPREAD_CONSTRAINT, rules=(_unique_spread,)),
    "setHostnameAsFQDN": BOOL,
    "os": obj({"name": enum("linux", "windows")}, required=("name",)),
    "hostUsers": BOOL,
    "schedulingGates": lst(obj({"name": QUALIFIED_KEY}, required=("name",))),
    "resourceClaims": opaque("dynamic resource allocation is not simulated"),
    "resources": RESOURCE_REQUIREMENTS,
    "hostnameOverride": STR,
}, required=("containers",), rules=(_unique_container_names,))

POD_TEMPLATE = obj({"metadata": OBJECT_META, "spec": POD_SPEC}, required=("spec",))

CONDITION_STATUS = enum("True", "False", "Unknown")
POD_STATUS = obj({
    "phase": enum("Pending", "Running", "Succeeded", "Failed", "Unknown"),
    "conditions": lst(obj({
        "type": STR, "status": CONDITION_STATUS, "lastProbeTime": TIME, "lastTransitionTime": TIME,
        "reason": STR, "message": STR, "observedGeneration": INT,
    }, required=("type", "status"))),
    "message": STR, "reason": STR, "nominatedNodeName": STR,
    "hostIP": STR, "hostIPs": opaque("addresses are not simulated"),
    "podIP": STR, "podIPs": opaque("addresses are not simulated"),
    "startTime": TIME,
    "initContainerStatuses": opaque("container statuses are derived by the twin"),
    "containerStatuses": opaque("container statuses are derived by the twin"),
    "ephemeralContainerStatuses": opaque("container statuses are derived by the twin"),
    "qosClass": enum("Guaranteed", "Burstable", "BestEffort"),
    "resize": STR,
    "resourceClaimStatuses": opaque("dynamic resource allocation is not simulated"),
    "observedGeneration": INT,
})

# --------------------------------------------------------------------------------------------------------
# nodes, namespaces, events, config


NODE_STATUS = obj({
    "capacity": RESOURCES,
    "allocatable": RESOURCES,
    "phase": STR,
    "conditions": lst(obj({
        "type": STR, "status": CONDITION_STATUS, "lastHeartbeatTime": TIME, "lastTransitionTime": TIME,
        "reason": STR, "message": STR,
    }, required=("type", "status"))),
    "addresses": opaque("addresses are not simulated"),
    "daemonEndpoints": opaque("kubelet endpoints are not simulated"),
    # nodeInfo is written by the kubelet and grows fields over releases; accept what is there.
    "nodeInfo": obj({name: STR for name in (
        "machineID", "systemUUID", "bootID", "kernelVersion", "osImage", "containerRuntimeVersion",
        "kubeletVersion", "kubeProxyVersion", "operatingSystem", "architecture")}, loose=True),
    "images": opaque("image caches are not simulated"),
    "volumesInUse": opaque("volumes are not simulated"),
    "volumesAttached": opaque("volumes are not simulated"),
    "config": opaque("dynamic kubelet config is not simulated"),
    "runtimeHandlers": opaque("runtime handlers are not simulated"),
    "features": opaque("node features are not simulated"),
    "declaredFeatures": opaque("node features are not simulated"),
})

NODE = _root({
    "spec": obj({
        "podCIDR": STR, "podCIDRs": STRLIST, "providerID": STR, "unschedulable": BOOL,
        "taints": lst(TAINT), "configSource": opaque("dynamic kubelet config is not simulated"),
        "externalID": STR,
    }),
    "status": NODE_STATUS,
})

NAMESPACE = _root({
    "spec": obj({"finalizers": STRLIST}),
    "status": obj({"phase": enum("Active", "Terminating"),
                   "conditions": opaque("namespace conditions are derived by the twin")}),
}, name_format="label")

EVENT = _root({}, loose=True)
"""Events are written by controllers, never simulated from input; any content is accepted."""

CONFIG_MAP = _root({"data": STRMAP, "binaryData": opaque("binary data is not used"), "immutable": BOOL})
LEASE = _root({"spec": opaque("leader election is not simulated")})

# --------------------------------------------------------------------------------------------------------
# workloads (apps/v1, policy/v1, scheduling.k8s.io/v1)


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    """Whether a LabelSelector selects ``labels`` (used to check a workload's template against its selector).

    A selector that does not even parse selects nothing (its own errors are reported separately).
    """
    try:
        parsed = selectors.LabelSelector.parse(selector)
    except (InvalidInput, KeyError, TypeError, AttributeError):
        return False
    return parsed.matches({str(k): str(v) for k, v in labels.items()})


def _workload(spec: Mapping[str, Any]) -> Problems:
    selector, template = spec.get("selector"), spec.get("template")
    if not isinstance(selector, Mapping) or not isinstance(template, Mapping):
        return
    if not selector.get("matchLabels") and not selector.get("matchExpressions"):
        yield "selector", "empty selector is not allowed: it would select every pod"
        return
    labels = as_map(as_map(template.get("metadata")).get("labels"))
    if not selector_matches(selector, labels):
        yield "template.metadata.labels", "selector does not match template labels"
    policy = as_map(template.get("spec")).get("restartPolicy")
    if policy not in (None, "Always"):
        yield "template.spec.restartPolicy", f"unsupported value {policy!r}: supported values: \"Always\""


def _is_zero(value: Any) -> bool:
    return value in (0, "0%")


def _rolling_update(strategy: Mapping[str, Any]) -> Problems:
    rolling = strategy.get("rollingUpdate")
    if strategy.get("type") == "Recreate" and rolling is not None:
        yield "rollingUpdate", "may not be specified when strategy type is Recreate"
    if isinstance(rolling, Mapping) and _is_zero(rolling.get("maxUnavailable")) \
            and _is_zero(rolling.get("maxSurge", "25%")):
        yield "rollingUpdate.maxUnavailable", "may not be 0 when maxSurge is 0"


WORKLOAD_STATUS = opaque("workload status is recomputed by the twin")

DEPLOYMENT = _root({
    "spec": obj({
        "replicas": NONNEG,
        "selector": LABEL_SELECTOR,
        "template": POD_TEMPLATE,
        "strategy": obj({"type": enum("Recreate", "RollingUpdate"),
                         "rollingUpdate": obj({"maxUnavailable": INT_OR_PERCENT, "maxSurge": INT_OR_PERCENT})},
                        rules=(_rolling_update,)),
        "minReadySeconds": NONNEG,
        "revisionHistoryLimit": NONNEG,
        "paused": BOOL,
        "progressDeadlineSeconds": NONNEG,
    }, required=("selector", "template"), rules=(_workload,)),
    "status": WORKLOAD_STATUS,
}, required=("spec",))

REPLICA_SET = _root({
    "spec": obj({"replicas": NONNEG, "minReadySeconds": NONNEG, "selector": LABEL_SELECTOR,
                 "template": POD_TEMPLATE}, required=("selector", "template"), rules=(_workload,)),
    "status": WORKLOAD_STATUS,
}, required=("spec",))

DAEMON_SET = _root({
    "spec": obj({
        "selector": LABEL_SELECTOR,
        "template": POD_TEMPLATE,
        "updateStrategy": obj({"type": enum("RollingUpdate", "OnDelete"),
                               "rollingUpdate": obj({"maxUnavailable": INT_OR_PERCENT,
                                                     "maxSurge": INT_OR_PERCENT})}),
        "minReadySeconds": NONNEG,
        "revisionHistoryLimit": NONNEG,
    }, required=("selector", "template"), rules=(_workload,)),
    "status": WORKLOAD_STATUS,
}, required=("spec",))

STATEFUL_SET = _root({
    "spec": obj({
        "replicas": NONNEG,
        "selector": LABEL_SELECTOR,
        "template": POD_TEMPLATE,
        "volumeClaimTemplates": opaque("persistent volumes are not simulated"),
        "serviceName": STR,
        "podManagementPolicy": enum("OrderedReady", "Parallel"),
        "updateStrategy": obj({"type": enum("RollingUpdate", "OnDelete"),
                               "rollingUpdate": obj({"partition": NONNEG, "maxUnavailable": INT_OR_PERCENT})}),
        "revisionHistoryLimit": NONNEG,
        "minReadySeconds": NONNEG,
        "persistentVolumeClaimRetentionPolicy": opaque("persistent volumes are not simulated"),
        "ordinals": obj({"start": NONNEG}),
    }, required=("selector", "template"), rules=(_workload,)),
    "status": WORKLOAD_STATUS,
}, required=("spec",))


def _pdb(spec: Mapping[str, Any]) -> Problems:
    if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
        yield "", "minAvailable and maxUnavailable cannot both be set"


PDB = _root({
    "spec": obj({"minAvailable": INT_OR_PERCENT, "maxUnavailable": INT_OR_PERCENT, "selector": LABEL_SELECTOR,
                 "unhealthyPodEvictionPolicy": enum("IfHealthyBudget", "AlwaysAllow")}, rules=(_pdb,)),
    "status": opaque("disruption status is recomputed by the twin"),
})

BUILTIN_PRIORITY_CLASSES: Mapping[str, int] = MappingProxyType({
    "system-cluster-critical": 2_000_000_000,
    "system-node-critical": 2_000_001_000,
})
HIGHEST_USER_PRIORITY = 1_000_000_000


def _priority_class(root: Mapping[str, Any]) -> Problems:
    name = as_map(root.get("metadata")).get("name")
    value = root.get("value")
    if isinstance(name, str) and name in BUILTIN_PRIORITY_CLASSES:
        if value != BUILTIN_PRIORITY_CLASSES[name]:
            yield "value", f"built-in class {name} must have value {BUILTIN_PRIORITY_CLASSES[name]}"
        return
    if isinstance(name, str) and name.startswith("system-"):
        yield "metadata.name", "names with the 'system-' prefix are reserved for built-in priority classes"
    if isinstance(value, int) and value > HIGHEST_USER_PRIORITY:
        yield "value", f"must be no more than {HIGHEST_USER_PRIORITY} for a user-defined priority class"


PRIORITY_CLASS = _root({
    "value": INT, "globalDefault": BOOL, "description": STR,
    "preemptionPolicy": enum("PreemptLowerPriority", "Never"),
}, required=("value",), rules=(_priority_class,))

POD = _root({"spec": POD_SPEC, "status": POD_STATUS}, required=("spec",))

# --------------------------------------------------------------------------------------------------------
# Karpenter: shared pieces


DURATION_OR_NEVER = r"^(([0-9]+(s|m|h))+|Never)$"
"""expireAfter / consolidateAfter."""
DURATION_ONLY = r"^([0-9]+(s|m|h))+$"
"""terminationGracePeriod (no Never)."""
BUDGET_DURATION = r"^((([0-9]+(h|m))|([0-9]+h[0-9]+m))(0s)?)$"
BUDGET_NODES = r"^((100|[0-9]{1,2})%|[0-9]+)$"
BUDGET_SCHEDULE = r"^(@(annually|yearly|monthly|weekly|daily|midnight|hourly))|((.+)\s(.+)\s(.+)\s(.+)\s(.+))$"
GO_DURATION = r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$"
"""metav1.Duration as written by users (kubelet evictionSoftGracePeriod)."""

def restricted_label_problem(key: str, *, allow_nodepool_key: bool = False) -> str | None:
    """Why Karpenter's CRDs refuse ``key`` as a NodePool label or requirement key, or None.

    NodeClaims (written by Karpenter itself) may carry ``karpenter.sh/nodepool``; NodePools may not.
    """
    if key == requirements.NODEPOOL and not allow_nodepool_key:
        return f'label "{requirements.NODEPOOL}" is restricted'
    return requirements.restricted_label_reason(key)


def _requirement(*, allow_nodepool_key: bool) -> Rule:
    def rule(req: Mapping[str, Any]) -> Problems:
        key, op = req.get("key"), req.get("operator")
        values = as_list(req.get("values"))
        if isinstance(key, str):
            problem = restricted_label_problem(key, allow_nodepool_key=allow_nodepool_key)
            if problem:
                yield "key", problem
        if op == "In" and not values:
            yield "values", "requirements with operator 'In' must have a value defined"
        if op in ("Gt", "Lt") and (len(values) != 1 or not _is_int(values[0]) or int(values[0]) < 0):
            yield "values", "requirements operator 'Gt' or 'Lt' must have a single positive integer value"
        min_values = req.get("minValues")
        if op == "In" and isinstance(min_values, int) and len(values) < min_values:
            yield "values", (f"requirements with 'minValues' must have at least that many values specified in "
                             f"the 'values' field ({len(values)} < {min_values})")
    return rule


def _requirements(*, allow_nodepool_key: bool) -> Field:
    return lst(obj({
        "key": string(max_length=316, rules=[_leaf(qualified_name_problem)]),
        "operator": enum(*NODE_OPERATORS),
        "values": lst(LABEL_VALUE),
        "minValues": integer(1, 50),
    }, required=("key", "operator"), rules=(_requirement(allow_nodepool_key=allow_nodepool_key),)),
        max_items=100)


def _taint_pairs(spec: Mapping[str, Any]) -> Problems:
    # Karpenter's webhook: a key/effect pair may appear once across taints and startupTaints together.
    seen: set[tuple[Any, Any]] = set()
    for group in ("taints", "startupTaints"):
        for i, taint in enumerate(as_list(spec.get(group))):
            if isinstance(taint, Mapping):
                pair = (taint.get("key"), taint.get("effect"))
                if pair in seen:
                    yield f"{group}[{i}]", f"duplicate taint Key/Effect pair {pair[0]}={pair[1]}"
                seen.add(pair)


def _template_labels(labels: Mapping[str, Any]) -> Problems:
    for key in labels:
        problem = restricted_label_problem(key)
        if problem:
            yield key_path(key), problem


NODEPOOL_TEMPLATE_META = obj({
    "labels": mapof(LABEL_VALUE, key=QUALIFIED_KEY, max_items=100, rules=(_template_labels,)),
    "annotations": ANNOTATIONS,
})

CONDITION = obj({
    "type": STR, "status": CONDITION_STATUS, "observedGeneration": INT, "lastTransitionTime": TIME,
    "reason": STR, "message": STR, "severity": STR,
}, required=("type", "status"))


def _not_empty(field_name: str) -> Rule:
    def rule(ref: Mapping[str, Any]) -> Problems:
        if ref.get(field_name) == "":
            yield field_name, f"{field_name} may not be empty"
    return rule


NODE_CLASS_REF_V1 = obj({"group": string(r"^[^/]*$"), "kind": STR, "name": STR},
                        required=("group", "kind", "name"),
                        rules=(_not_empty("group"), _not_empty("kind"), _not_empty("name")))
NODE_CLASS_REF_V1BETA1 = obj({"apiVersion": STR, "kind": STR, "name": STR}, required=("name",))

# kubelet block: EC2NodeClass.spec.kubelet in v1, NodePool/NodeClaim template in v1beta1

RESERVED_KEYS = ("cpu", "memory", "ephemeral-storage", "pid")
EVICTION_SIGNALS = ("memory.available", "nodefs.available", "nodefs.inodesFree", "imagefs.available",
                    "imagefs.inodesFree", "pid.available")


def _key_in(allowed: tuple[str, ...], what: str) -> Rule:
    def rule(key: str) -> Problems:
        if key not in allowed:
            yield "", f"valid keys for {what} are {list(allowed)}"
    return rule


def _reserved_value(value: str) -> Problems:
    if value.startswith("-"):
        yield "", "reserved value cannot be a negative resource quantity"
        return
    try:
        quantity.parse(value)
    except InvalidQuantity as e:
        yield "", e.reason


def _threshold_value(value: str) -> Problems:
    if re.fullmatch(r"[0-9]+(\.[0-9]+)?%", value):
        return
    try:
        quantity.parse(value)
    except InvalidQuantity as e:
        yield "", f"must be a percentage like '10%' or a quantity: {e.reason}"


def _sub(key: str) -> str:
    rel = key_path(key)
    return rel if rel.startswith("[") else f".{rel}"


def _kubelet(kubelet: Mapping[str, Any]) -> Problems:
    high, low = kubelet.get("imageGCHighThresholdPercent"), kubelet.get("imageGCLowThresholdPercent")
    if isinstance(high, int) and isinstance(low, int) and high <= low:
        yield "", "imageGCHighThresholdPercent must be greater than imageGCLowThresholdPercent"
    soft = set(as_map(kubelet.get("evictionSoft")))
    grace = set(as_map(kubelet.get("evictionSoftGracePeriod")))
    for signal in sorted(soft - grace):
        yield f"evictionSoft{_sub(signal)}", "evictionSoft OwnerKey does not have a matching evictionSoftGracePeriod"
    for signal in sorted(grace - soft):
        yield f"evictionSoftGracePeriod{_sub(signal)}", \
            "evictionSoftGracePeriod OwnerKey does not have a matching evictionSoft"


def _keyed(allowed: tuple[str, ...], what: str, value: Field) -> Field:
    return mapof(value, key=string(rules=[_key_in(allowed, what)]))


KUBELET = obj({
    "clusterDNS": STRLIST,
    "maxPods": NONNEG,
    "podsPerCore": NONNEG,
    "systemReserved": _keyed(RESERVED_KEYS, "systemReserved", string(rules=[_reserved_value])),
    "kubeReserved": _keyed(RESERVED_KEYS, "kubeReserved", string(rules=[_reserved_value])),
    "evictionHard": _keyed(EVICTION_SIGNALS, "evictionHard", string(rules=[_threshold_value])),
    "evictionSoft": _keyed(EVICTION_SIGNALS, "evictionSoft", string(rules=[_threshold_value])),
    "evictionSoftGracePeriod": _keyed(EVICTION_SIGNALS, "evictionSoftGracePeriod", duration(GO_DURATION)),
    "evictionMaxPodGracePeriod": INT,
    "imageGCHighThresholdPercent": integer(0, 100),
    "imageGCLowThresholdPercent": integer(0, 100),
    "cpuCFSQuota": BOOL,
}, rules=(_kubelet,))

# --------------------------------------------------------------------------------------------------------
# NodePool


def _schedule_with_duration(budgets: list[Mapping[str, Any]]) -> Problems:
    for i, budget in enumerate(budgets):
        if isinstance(budget, Mapping) and ("schedule" in budget) != ("duration" in budget):
            yield f"[{i}]", "'schedule' must be set with 'duration'"


def _budgets(*, reasons: bool) -> Field:
    fields: dict[str, Field] = {
        "nodes": string(BUDGET_NODES),
        "schedule": string(BUDGET_SCHEDULE),
        "duration": duration(BUDGET_DURATION),
    }
    if reasons:
        fields["reasons"] = lst(enum("Underutilized", "Empty", "Drifted"), max_items=50)
    # nodes is required by the CRD but defaulted to "10%" first, so an absent nodes is never an error.
    return lst(obj(fields), max_items=50, rules=(_schedule_with_duration,))


def _v1beta1_disruption(disruption: Mapping[str, Any]) -> Problems:
    # v1beta1 CEL rules; consolidationPolicy defaults to WhenUnderutilized before they run.
    policy = disruption.get("consolidationPolicy", "WhenUnderutilized")
    after = disruption.get("consolidateAfter")
    if after is not None and policy == "WhenUnderutilized" and after != "Never":
        yield "consolidateAfter", "consolidateAfter cannot be combined with consolidationPolicy=WhenUnderutilized"
    if policy == "WhenEmpty" and after is None:
        yield "consolidateAfter", "consolidateAfter must be specified with consolidationPolicy=WhenEmpty"


NODEPOOL_V1 = _root({
    "spec": obj({
        "template": obj({
            "metadata": NODEPOOL_TEMPLATE_META,
            "spec": obj({
                "taints": lst(TAINT), "startupTaints": lst(TAINT),
                "requirements": _requirements(allow_nodepool_key=False),
                "nodeClassRef": NODE_CLASS_REF_V1,
                "expireAfter": duration(DURATION_OR_NEVER),
                "terminationGracePeriod": duration(DURATION_ONLY),
            }, required=("requirements", "nodeClassRef"), rules=(_taint_pairs,)),
        }, required=("spec",)),
        # consolidateAfter has no field default: only an absent disruption block is defaulted as a whole.
        "disruption": obj({
            "consolidateAfter": duration(DURATION_OR_NEVER),
            "consolidationPolicy": enum("WhenEmpty", "WhenEmptyOrUnderutilized"),
            "budgets": _budgets(reasons=True),
        }, required=("consolidateAfter",)),
        "limits": RESOURCES,
        "weight": integer(1, 100),
    }, required=("template",)),
    "status": opaque("NodePool status is recomputed by the twin"),
}, required=("spec",))

NODEPOOL_V1BETA1 = _root({
    "spec": obj({
        "template": obj({
            "metadata": NODEPOOL_TEMPLATE_META,
            "spec": obj({
                "taints": lst(TAINT), "startupTaints": lst(TAINT),
                "requirements": _requirements(allow_nodepool_key=False),
                "resources": obj({"requests": mapof(Field(T.QUANTITY), max_items=0)}),
                "kubelet": KUBELET,
                "nodeClassRef": NODE_CLASS_REF_V1BETA1,
            }, required=("requirements", "nodeClassRef"), rules=(_taint_pairs,)),
        }, required=("spec",)),
        "disruption": obj({
            "consolidateAfter": duration(DURATION_OR_NEVER),
            "consolidationPolicy": enum("WhenEmpty", "WhenUnderutilized"),
            "expireAfter": duration(DURATION_OR_NEVER),
            "budgets": _budgets(reasons=False),
        }, rules=(_v1beta1_disruption,)),
        "limits": RESOURCES,
        "weight": integer(1, 100),
    }, required=("template",)),
    "status": opaque("NodePool status is recomputed by the twin"),
}, required=("spec",))

# --------------------------------------------------------------------------------------------------------
# NodeClaim


NODECLAIM_STATUS_FIELDS: dict[str, Field] = {
    "nodeName": STR, "providerID": STR, "imageID": STR, "capacity": RESOURCES, "allocatable": RESOURCES,
    "conditions": lst(CONDITION),
}

NODECLAIM_V1 = _root({
    "spec": obj({
        "taints": lst(TAINT), "startupTaints": lst(TAINT),
        "requirements": _requirements(allow_nodepool_key=True),
        "resources": obj({"requests": RESOURCES}),
        "nodeClassRef": NODE_CLASS_REF_V1,
        "expireAfter": duration(DURATION_OR_NEVER),
        "terminationGracePeriod": duration(DURATION_ONLY),
    }, required=("requirements", "nodeClassRef"), rules=(_taint_pairs,)),
    "status": obj({**NODECLAIM_STATUS_FIELDS, "lastPodEventTime": TIME}),
}, required=("spec",))

NODECLAIM_V1BETA1 = _root({
    "spec": obj({
        "taints": lst(TAINT), "startupTaints": lst(TAINT),
        "requirements": _requirements(allow_nodepool_key=True),
        "resources": obj({"requests": RESOURCES}),
        "kubelet": KUBELET,
        "nodeClassRef": NODE_CLASS_REF_V1BETA1,
    }, required=("requirements", "nodeClassRef"), rules=(_taint_pairs,)),
    "status": obj(NODECLAIM_STATUS_FIELDS),
}, required=("spec",))

# --------------------------------------------------------------------------------------------------------
# EC2NodeClass


AMI_FAMILIES_V1 = ("AL2", "AL2023", "Bottlerocket", "Custom", "Windows2019", "Windows2022")
AMI_FAMILIES_V1BETA1 = ("AL2", "AL2023", "Bottlerocket", "Ubuntu", "Custom", "Windows2019", "Windows2022")
ALIAS_FAMILIES = {"al2": "AL2", "al2023": "AL2023", "bottlerocket": "Bottlerocket",
                  "windows2019": "Windows2019", "windows2022": "Windows2022"}


def _selector_tags(tags: Mapping[str, Any]) -> Problems:
    for key, value in tags.items():
        if key == "" or value == "":
            yield key_path(key), "empty tag keys or values aren't supported"


SELECTOR_TAGS = mapof(STR, max_items=20, rules=(_selector_tags,))


def _selector_terms(names: tuple[str, ...], exclusive: tuple[str, ...], *, what: str,
                    required: bool = True) -> Rule:
    """One CEL family shared by every *SelectorTerms list: non-empty, each term says something, ids alone."""
    def rule(terms: list[Mapping[str, Any]]) -> Problems:
        if required and not terms:
            yield "", f"{what} cannot be empty"
        for i, term in enumerate(terms):
            if not isinstance(term, Mapping):
                continue
            if not any(n in term for n in names):
                yield f"[{i}]", f"expected at least one, got none, {list(names)}"
            for alone in exclusive:
                if alone in term and len(term) > 1:
                    yield f"[{i}]", (f"'{alone}' is mutually exclusive, cannot be set with a combination of "
                                     f"other fields in a {what} term")
    return rule


def _alias(alias: str) -> Problems:
    if not re.fullmatch(r"[a-zA-Z0-9]+@.+", alias):
        yield "", "'alias' is improperly formatted, must match the format 'family@version'"
        return
    family, version = alias.split("@", 1)
    if family not in ALIAS_FAMILIES:
        yield "", ("family is not supported, must be one of the following: "
                   "'al2', 'al2023', 'bottlerocket', 'windows2019', 'windows2022'")
    elif family.startswith("windows") and version != "latest":
        yield "", "windows families may only specify version 'latest'"


def _restricted_tags(tags: Mapping[str, Any]) -> Problems:
    for key in tags:
        if key == "":
            yield "", "empty tag keys aren't supported"
        elif key in ("eks:eks-cluster-name", "karpenter.sh/nodepool", "karpenter.sh/nodeclaim",
                     "karpenter.k8s.aws/ec2nodeclass") or key.startswith("kubernetes.io/cluster"):
            yield key_path(key), f"tag contains a restricted tag matching {key}"


def _root_volumes(mappings: list[Mapping[str, Any]]) -> Problems:
    if sum(1 for m in mappings if isinstance(m, Mapping) and m.get("rootVolume") is True) > 1:
        yield "", "must have only one blockDeviceMappings with rootVolume"


def _ebs(ebs: Mapping[str, Any]) -> Problems:
    if "snapshotID" not in ebs and "volumeSize" not in ebs:
        yield "", "snapshotID or volumeSize must be defined"


VOLUME_SIZE = (r"^((?:[1-9][0-9]{0,3}|[1-4][0-9]{4}|[5][0-8][0-9]{3}|59000)Gi|(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|"
               r"[6][0-3][0-9]{3}|64000)G|([1-9]||[1-5][0-7]|58)Ti|([1-9]||[1-5][0-9]|6[0-3]|64)T)$")

BLOCK_DEVICE_MAPPINGS = lst(obj({
    "deviceName": STR,
    "ebs": obj({
        "deleteOnTermination": BOOL, "encrypted": BOOL, "iops": INT, "kmsKeyID": STR, "snapshotID": STR,
        "throughput": INT, "volumeSize": string(VOLUME_SIZE),
        "volumeType": enum("standard", "io1", "io2", "gp2", "sc1", "st1", "gp3"),
        "volumeInitializationRate": integer(100, 300),
    }, rules=(_ebs,)),
    "rootVolume": BOOL,
}), max_items=50, rules=(_root_volumes,))

METADATA_OPTIONS = obj({
    "httpEndpoint": enum("enabled", "disabled"),
    "httpProtocolIPv6": enum("enabled", "disabled"),
    "httpPutResponseHopLimit": integer(1, 64),
    "httpTokens": enum("required", "optional"),
})


def _role_or_profile(spec: Mapping[str, Any]) -> Problems:
    if ("role" in spec) == ("instanceProfile" in spec):
        yield "", "must specify exactly one of ['role', 'instanceProfile']"
    for name in ("role", "instanceProfile"):
        if spec.get(name) == "":
            yield name, f"{name} cannot be empty"


def _ami_family_v1(spec: Mapping[str, Any]) -> Problems:
    terms = [t for t in as_list(spec.get("amiSelectorTerms")) if isinstance(t, Mapping)]
    aliases = [t["alias"] for t in terms if isinstance(t.get("alias"), str)]
    family = spec.get("amiFamily")
    if aliases and len(terms) != 1:
        yield "amiSelectorTerms", ("'alias' is mutually exclusive, cannot be set with a combination of other "
                                   "amiSelectorTerms")
    if not aliases:
        if family is None:
            yield "amiFamily", "must specify amiFamily if amiSelectorTerms does not contain an alias"
        return
    alias_family = ALIAS_FAMILIES.get(aliases[0].split("@", 1)[0])
    if family is not None and alias_family is not None and family not in (alias_family, "Custom"):
        yield "amiFamily", f"if set, amiFamily must be '{alias_family}' or 'Custom' when using an {alias_family} alias"


def _ami_family_v1beta1(spec: Mapping[str, Any]) -> Problems:
    if spec.get("amiFamily") == "Custom" and not spec.get("amiSelectorTerms"):
        yield "amiSelectorTerms", "amiSelectorTerms is required when amiFamily == 'Custom'"


def _ec2nodeclass(*, v1: bool) -> Field:
    ami_term: dict[str, Field] = {"tags": SELECTOR_TAGS, "id": string("ami-[0-9a-z]+"), "name": STR, "owner": STR}
    ami_names: tuple[str, ...] = ("tags", "id", "name")
    if v1:
        ami_term.update(alias=string(max_length=30, rules=[_alias]), ssmParameter=STR)
        ami_names = ("tags", "id", "name", "alias", "ssmParameter")
    fields: dict[str, Field] = {
        "amiFamily": enum(*(AMI_FAMILIES_V1 if v1 else AMI_FAMILIES_V1BETA1)),
        "amiSelectorTerms": lst(obj(ami_term), max_items=30, min_items=1 if v1 else None,
                                rules=[_selector_terms(ami_names, ("id", "alias"), what="amiSelectorTerms",
                                                       required=v1)]),
        "subnetSelectorTerms": lst(obj({"tags": SELECTOR_TAGS, "id": string("subnet-[0-9a-z]+")}), max_items=30,
                                   rules=[_selector_terms(("tags", "id"), ("id",), what="subnetSelectorTerms")]),
        "securityGroupSelectorTerms": lst(
            obj({"tags": SELECTOR_TAGS, "id": string("sg-[0-9a-z]+"), "name": STR}), max_items=30,
            rules=[_selector_terms(("tags", "id", "name"), ("id", "name"), what="securityGroupSelectorTerms")]),
        "role": STR,
        "instanceProfile": STR,
        "tags": mapof(STR, rules=(_restricted_tags,)),
        "userData": STR,
        "blockDeviceMappings": BLOCK_DEVICE_MAPPINGS,
        "instanceStorePolicy": enum("RAID0"),
        "detailedMonitoring": BOOL,
        "associatePublicIPAddress": BOOL,
        "metadataOptions": METADATA_OPTIONS,
        "context": STR,
    }
    if v1:
        fields["kubelet"] = KUBELET
        fields["capacityReservationSelectorTerms"] = lst(obj({
            "tags": SELECTOR_TAGS, "id": string("^cr-[0-9a-z]+$"), "ownerID": string("^[0-9]{12}$"),
            "instanceMatchCriteria": enum("open", "targeted"),
        }), max_items=30, rules=[_selector_terms(("tags", "id", "instanceMatchCriteria"), ("id",),
                                                  what="capacity reservation selector", required=False)])
    rules: list[Rule] = [_role_or_profile, _ami_family_v1 if v1 else _ami_family_v1beta1]
    required = ("amiSelectorTerms", "subnetSelectorTerms", "securityGroupSelectorTerms") if v1 else \
        ("amiFamily", "subnetSelectorTerms", "securityGroupSelectorTerms")
    return _root({
        "spec": obj(fields, required=required, rules=rules),
        "status": opaque("EC2NodeClass status (resolved subnets, AMIs) is recomputed by the twin"),
    }, required=("spec",))


EC2NODECLASS_V1 = _ec2nodeclass(v1=True)
EC2NODECLASS_V1BETA1 = _ec2nodeclass(v1=False)

# --------------------------------------------------------------------------------------------------------
# registry


def _kind(api_version: str, kind: str, namespaced: bool, root: Field) -> KindSchema:
    return KindSchema(api_version, kind, namespaced, root)


KINDS: Mapping[tuple[str, str], KindSchema] = MappingProxyType({(k.api_version, k.kind): k for k in (
    _kind("v1", "Namespace", False, NAMESPACE),
    _kind("v1", "Pod", True, POD),
    _kind("v1", "Node", False, NODE),
    _kind("v1", "Event", True, EVENT),
    _kind("events.k8s.io/v1", "Event", True, EVENT),
    _kind("v1", "ConfigMap", True, CONFIG_MAP),
    _kind("coordination.k8s.io/v1", "Lease", True, LEASE),
    _kind("apps/v1", "Deployment", True, DEPLOYMENT),
    _kind("apps/v1", "ReplicaSet", True, REPLICA_SET),
    _kind("apps/v1", "DaemonSet", True, DAEMON_SET),
    _kind("apps/v1", "StatefulSet", True, STATEFUL_SET),
    _kind("policy/v1", "PodDisruptionBudget", True, PDB),
    _kind("scheduling.k8s.io/v1", "PriorityClass", False, PRIORITY_CLASS),
    _kind("karpenter.sh/v1", "NodePool", False, NODEPOOL_V1),
    _kind("karpenter.sh/v1beta1", "NodePool", False, NODEPOOL_V1BETA1),
    _kind("karpenter.sh/v1", "NodeClaim", False, NODECLAIM_V1),
    _kind("karpenter.sh/v1beta1", "NodeClaim", False, NODECLAIM_V1BETA1),
    _kind("karpenter.k8s.aws/v1", "EC2NodeClass", False, EC2NODECLASS_V1),
    _kind("karpenter.k8s.aws/v1beta1", "EC2NodeClass", False, EC2NODECLASS_V1BETA1),
)})


def lookup(api_version: str, kind: str) -> KindSchema | None:
    """The schema for a manifest's (apiVersion, kind), or None."""
    return KINDS.get((api_version, kind))


def served_versions(kind: str) -> list[str]:
    """apiVersions under which ``kind`` is known (empty when the kind is unknown)."""
    return sorted(api for api, k in KINDS if k == kind)


def known_kinds() -> list[str]:
    """Every known "apiVersion Kind", sorted, for error messages."""
    return sorted(f"{api} {kind}" for api, kind in KINDS)


def is_namespaced(kind: str) -> bool:
    """Whether objects of ``kind`` live in a namespace (same answer for every served version).

    Raises:
        KeyError: the kind is unknown.
    """
    for (_, k), schema in KINDS.items():
        if k == kind:
            return schema.namespaced
    raise KeyError(kind)


def fraction_or_none(value: Any) -> Fraction | None:
    """A quantity as a Fraction, or None when it does not parse (helper for rules and defaults)."""
    try:
        return quantity.parse(value)
    except InvalidQuantity:
        return None
