"""Load Kubernetes/Karpenter manifests, check them against ``schema``, and bring them to storage versions.

Pipeline, as ``load_manifests`` runs it (the API server does the same steps in the same order, except that
defaulting lives in ``defaults.py`` and is applied by whoever creates the object):

1. ``load_file`` parses YAML (multi-document) or JSON into ``Document`` objects, flattening ``kind: List``,
   skipping empty documents, and remembering the line of every field so messages can point at it.
2. ``validate`` walks a document with its kind's known-field tree: wrong types, bad quantities, bad enum
   values, missing required fields and CEL-equivalent rules are errors; unknown fields are reported apart
   (the caller decides whether they are fatal); opaque-but-valid fields are listed as ignored.
3. ``to_storage_version`` converts ``v1beta1`` Karpenter objects to ``v1`` (see its docstring for the rules).

Nothing here reads the clock or touches global state.
"""

from __future__ import annotations

import copy
import datetime as dt
import difflib
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ekstwin.errors import InvalidQuantity, InvalidScenario
from ekstwin.model import schema
from ekstwin.model.schema import Field, T
from ekstwin.units import quantity

ORIGINAL_API_VERSION_ANNOTATION = "ekstwin.dev/original-api-version"
"""Set on every converted object: the apiVersion it was written in."""
V1BETA1_KUBELET_ANNOTATION = "ekstwin.dev/v1beta1-kubelet"
"""JSON of a v1beta1 ``spec.template.spec.kubelet`` (NodePool) or ``spec.kubelet`` (NodeClaim).

v1 moved the kubelet block to the EC2NodeClass. Karpenter v1.0 kept the same JSON in the annotation
``compatibility.karpenter.sh/v1beta1-kubelet-conversion`` and let it override the EC2NodeClass block for
that NodePool; the twin keeps it under its own key so the capacity code can choose to honour it."""

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def safe_load(stream: Any) -> Any:
    """``yaml.safe_load`` with libyaml when PyYAML has it: an imported cluster is a ~10 MB scenario, which the
    pure-Python parser takes tens of seconds to read."""
    return yaml.load(stream, Loader=_Loader)


def safe_load_all(stream: Any) -> list[Any]:
    """Every document of ``stream`` (see ``safe_load``)."""
    return list(yaml.load_all(stream, Loader=_Loader))


def safe_dump(data: Any, stream: Any = None, **kwargs: Any) -> Any:
    """``yaml.safe_dump`` with libyaml when available (same output; ``ekstwin import`` writes large files)."""
    return yaml.dump(data, stream, Dumper=_Dumper, **kwargs)


@dataclass(frozen=True, slots=True)
class Document:
    """One object read from a manifest file."""

    obj: dict[str, Any]
    file: str
    index: int
    """Position of the object in its file, counting List items, starting at 0."""
    line: int | None = None
    """1-based line where the object starts (None for JSON and for objects built in code)."""
    lines: Mapping[str, int] = field(default_factory=dict)
    """Field path (``spec.template.spec.containers[0].name``) to 1-based line."""


@dataclass(slots=True)
class Report:
    """What ``validate`` found in one document."""

    errors: list[InvalidScenario] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    """``"file:line: Kind/ns/name: path: unknown field"`` lines; warnings unless the caller says otherwise."""
    ignored: list[str] = field(default_factory=list)
    """Opaque-but-valid fields the twin accepts and does not simulate, once per (normalised) path."""

    @property
    def ok(self) -> bool:
        return not self.errors


class ManifestErrors(InvalidScenario):
    """Raised by ``load_manifests``: the first error's location and text, then a summary of all of them."""

    errors: list[InvalidScenario]


# --------------------------------------------------------------------------------------------------------
# paths


def join(path: str, key: str) -> str:
    """``path.key`` for identifier-like keys, ``path[key]`` for keys with dots or slashes (label keys)."""
    return _join_relative(path, schema.key_path(key))


def _join_relative(path: str, rel: str) -> str:
    if not rel:
        return path
    if rel.startswith("["):
        return path + rel
    return f"{path}.{rel}" if path else rel


def _parent(path: str) -> str:
    if path.endswith("]"):
        return path[:path.rindex("[")]
    return path[:path.rindex(".")] if "." in path else ""


def _generic(path: str) -> str:
    """Path with list indices replaced by ``[*]`` so a field repeated per container is listed once."""
    return re.sub(r"\[[0-9]+\]", "[*]", path)


# --------------------------------------------------------------------------------------------------------
# loading


def load_file(path: str | os.PathLike[str]) -> list[Document]:
    """Read every object in a YAML (multi-document) or JSON file.

    Raises:
        InvalidScenario: unreadable file, syntax error (with line), duplicate key, or a document that is
            not an object.
    """
    name = os.fspath(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise InvalidScenario(f"cannot read manifest file: {e.strerror or e}", file=name) from None
    except UnicodeDecodeError:
        raise InvalidScenario("manifest file is not UTF-8 text", file=name) from None
    if name.lower().endswith(".json"):
        return _load_json(text, name)
    return load_text(text, name)


def load_text(text: str, file: str = "<inline>") -> list[Document]:
    """Like ``load_file`` for YAML text already in memory (``file`` only labels messages)."""
    docs: list[Document] = []
    for data, line, lines in _parse_yaml(text, file):
        _flatten(data, file, line, lines, docs)
    return docs


def _parse_yaml(text: str, file: str) -> list[tuple[Any, int, dict[str, int]]]:
    loader = _Loader(text)
    out: list[tuple[Any, int, dict[str, int]]] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            lines: dict[str, int] = {}
            _record_lines(node, "", lines, file)
            out.append((loader.construct_document(node), node.start_mark.line + 1, lines))
    except yaml.MarkedYAMLError as e:
        raise _syntax_error(e, file) from None
    except yaml.YAMLError as e:
        raise InvalidScenario(f"YAML error: {e}", file=file) from None
    finally:
        loader.dispose()
    return out


def _syntax_error(e: yaml.MarkedYAMLError, file: str) -> InvalidScenario:
    mark = e.problem_mark or e.context_mark
    where = f"{file}:{mark.line + 1}" if mark is not None else file
    reason = f"YAML syntax error: {e.problem or e.context}"
    if e.problem and e.context and e.context_mark is not None:
        reason += f" ({e.context} started on line {e.context_mark.line + 1})"
    return InvalidScenario(reason, file=where)


def _record_lines(node: yaml.Node, path: str, lines: dict[str, int], file: str) -> None:
    """Map each field path to its line, and refuse duplicate keys as kubectl's YAML decoder does."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key, line = str(key_node.value), key_node.start_mark.line + 1
            if key in seen:
                raise InvalidScenario(f"duplicate key {key!r} (first set on line {seen[key]})",
                                      file=f"{file}:{line}")
            seen[key] = line
            child = join(path, key)
            lines[child] = line
            _record_lines(value_node, child, lines, file)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            child = f"{path}[{i}]"
            lines[child] = item.start_mark.line + 1
            _record_lines(item, child, lines, file)


def _load_json(text: str, file: str) -> list[Document]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise InvalidScenario(f"JSON syntax error: {e.msg}", file=f"{file}:{e.lineno}") from None
    docs: list[Document] = []
    for item in data if isinstance(data, list) else [data]:
        _flatten(item, file, None, {}, docs)
    return docs


def _flatten(data: Any, file: str, line: int | None, lines: Mapping[str, int], out: list[Document]) -> None:
    if data is None:
        return  # an empty document, e.g. a trailing "---"
    where = f"{file}:{line}" if line else file
    if not isinstance(data, dict):
        raise InvalidScenario(f"a manifest document must be an object with apiVersion and kind, got "
                              f"{_describe(data)}", file=where)
    if data.get("kind") != "List":
        out.append(Document(data, file, len(out), line, dict(lines)))
        return
    items = data.get("items")
    if not isinstance(items, list):
        raise InvalidScenario("kind List needs an items list", file=where, field="items")
    for i, item in enumerate(items):
        prefix = f"items[{i}]"
        sub = {p[len(prefix) + 1:]: n for p, n in lines.items() if p.startswith(prefix + ".")}
        _flatten(item, file, lines.get(prefix, line), sub, out)


# --------------------------------------------------------------------------------------------------------
# validation


def object_ref(obj: Mapping[str, Any]) -> str:
    """``Kind/namespace/name`` for namespaced kinds, ``Kind/name`` otherwise (as messages name objects)."""
    kind = obj.get("kind") or "<no kind>"
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    name = meta.get("name") or (f"{meta['generateName']}*" if meta.get("generateName") else "<no name>")
    try:
        namespaced = schema.is_namespaced(str(kind))
    except KeyError:
        namespaced = bool(meta.get("namespace"))
    if namespaced:
        return f"{kind}/{meta.get('namespace') or 'default'}/{name}"
    return f"{kind}/{name}"


@dataclass(slots=True)
class _Findings:
    errors: list[tuple[str, str]] = field(default_factory=list)
    unknown: list[tuple[str, str]] = field(default_factory=list)
    ignored: dict[str, tuple[str, str]] = field(default_factory=dict)
    """generic path -> (note, first concrete path, used for the line number)."""


def validate(doc: Document, *, unknown_fields_are_errors: bool = False) -> Report:
    """Check one document against its kind's known-field tree.

    Never raises for bad content: every problem is in the returned report.
    """
    report = Report()
    found = _Findings()
    kind_schema = _kind_schema(doc.obj, found)
    if kind_schema is not None:
        _walk(kind_schema.root, doc.obj, "", found)
        namespace = schema.as_map(doc.obj.get("metadata")).get("namespace")
        if not kind_schema.namespaced and namespace:
            found.ignored["metadata.namespace"] = (f"{kind_schema.kind} is cluster-scoped", "metadata.namespace")
    ref = object_ref(doc.obj)
    for path, message in found.errors:
        report.errors.append(InvalidScenario(message, file=_where(doc, path), obj=ref, field=path or None))
    for path, message in found.unknown:
        if unknown_fields_are_errors:
            report.errors.append(InvalidScenario(message, file=_where(doc, path), obj=ref, field=path))
        else:
            report.unknown.append(f"{_where(doc, path)}: {ref}: {path}: {message}")
    for path, (note, first) in found.ignored.items():
        report.ignored.append(f"{_where(doc, first)}: {ref}: {path}: ignored ({note})")
    return report


def _kind_schema(obj: Mapping[str, Any], found: _Findings) -> schema.KindSchema | None:
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    for name, value in (("apiVersion", api_version), ("kind", kind)):
        if value is None:
            found.errors.append((name, "required field is missing"))
        elif not isinstance(value, str):
            found.errors.append((name, f"must be a string, got {_describe(value)}"))
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return None
    hit = schema.lookup(api_version, kind)
    if hit is not None:
        return hit
    served = schema.served_versions(kind)
    if served:
        found.errors.append(("apiVersion", f"{kind} is not served as {api_version!r}; use one of: "
                                           f"{', '.join(served)}"))
    else:
        found.errors.append(("kind", f"unknown kind {kind!r} (apiVersion {api_version!r}); known kinds: "
                                     f"{', '.join(schema.known_kinds())}"))
    return None


def _where(doc: Document, path: str) -> str:
    probe = path
    while probe:
        line = doc.lines.get(probe)
        if line is not None:
            return f"{doc.file}:{line}"
        probe = _parent(probe)
    return f"{doc.file}:{doc.line}" if doc.line else doc.file


def _walk(f: Field, value: Any, path: str, out: _Findings) -> None:
    if value is None:
        return  # JSON null decodes to "absent"; a required field is reported by its parent
    before = len(out.errors)
    # Rules assume a well-typed subtree, as the API server skips CEL rules on structurally invalid input.
    if _CHECKS[f.type](f, value, path, out) and len(out.errors) == before:
        for rule in f.rules:
            for rel, message in rule(value):
                out.errors.append((_join_relative(path, rel), message))


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"number {value}"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _type_error(out: _Findings, path: str, expected: str, value: Any) -> bool:
    hint = " (quote it)" if expected == "a string" and isinstance(value, int | float | bool) else ""
    out.errors.append((path, f"must be {expected}, got {_describe(value)}{hint}"))
    return False


def _check_object(f: Field, value: Any, path: str, out: _Findings) -> bool:
    if not isinstance(value, dict):
        return _type_error(out, path, "an object", value)
    for name in sorted(f.required):
        if value.get(name) is None:
            out.errors.append((join(path, name), "required field is missing"))
    for key, child_value in value.items():
        if not isinstance(key, str):
            out.errors.append((path, f"field names must be strings, got {_describe(key)}"))
            continue
        child = f.fields.get(key)
        if child is not None:
            _walk(child, child_value, join(path, key), out)
        elif not f.loose:
            close = difflib.get_close_matches(key, list(f.fields), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            out.unknown.append((join(path, key), f"unknown field{hint}"))
    return True


def _check_list(f: Field, value: Any, path: str, out: _Findings) -> bool:
    if not isinstance(value, list):
        return _type_error(out, path, "a list", value)
    if f.min_items is not None and len(value) < f.min_items:
        out.errors.append((path, f"must have at least {f.min_items} item(s)"))
    if f.max_items is not None and len(value) > f.max_items:
        out.errors.append((path, f"must have at most {f.max_items} items, got {len(value)}"))
    assert f.item is not None
    for i, item in enumerate(value):
        if item is None:
            out.errors.append((f"{path}[{i}]", "list items must not be null"))
        else:
            _walk(f.item, item, f"{path}[{i}]", out)
    return True


def _check_map(f: Field, value: Any, path: str, out: _Findings) -> bool:
    if not isinstance(value, dict):
        return _type_error(out, path, "an object (a map)", value)
    if f.max_items is not None and len(value) > f.max_items:
        out.errors.append((path, f"must have at most {f.max_items} entries, got {len(value)}"))
    assert f.item is not None
    for key, item in value.items():
        if not isinstance(key, str):
            out.errors.append((path, f"keys must be strings, got {_describe(key)} (quote it)"))
            continue
        child = join(path, key)
        if f.key is not None:
            _walk(f.key, key, child, out)
        _walk(f.item, item, child, out)
    return True


def _check_string(f: Field, value: Any, path: str, out: _Findings) -> bool:
    if not isinstance(value, str):
        return _type_error(out, path, "a string", value)
    if f.max_length is not None and len(value) > f.max_length:
        out.errors.append((path, f"must be no more than {f.max_length} characters"))
        return False
    if f.pattern is not None and not f.pattern.search(value):
        out.errors.append((path, f"{value!r} does not match the pattern {f.pattern.pattern}"))
        return False
    return True


def _check_duration(f: Field, value: Any, path: str, out: _Findings) -> bool:
    if not isinstance(value, str):
        return _type_error(out, path, "a duration string such as '30s' or '720h'", value)
    if f.pattern is not None and not f.pattern.search(value):
        out.errors.append((path, f"{value!r} is not a valid duration here (pattern {f.pattern.pattern})"))
        return False
    return True


def _check_int(f: Field, value: Any, path: str, out: _Findings) -> bool:
    if isinstance(value, bool) or not isinstance(value, int):
        return _type_error(out, path, "an integer", value)
    return _in_range(f, value, path, out)


def _in_range(f: Field, value: int, path: str, out: _Findings) -> bool:
    if f.minimum is not None and value < f.minimum:
        out.errors.append((path, f"must be greater than or equal to {f.minimum}, got {value}"))
        return False
    if f.maximum is not None and value > f.maximum:
        out.errors.append((path, f"must be less than or equal to {f.maximum}, got {value}"))
        return False
    return True


def _check_number(f: Field, value: Any, path: str, out: _Findings) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _type_error(out, path, "a number", value)
    return True


def _check_bool(f: Field, value: Any, path: str, out: _Findings) -> bool:
    if not isinstance(value, bool):
        return _type_error(out, path, "true or false", value)
    return True


def _check_quantity(f: Field, value: Any, path: str, out: _Findings) -> bool:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return _type_error(out, path, "a quantity such as '500m' or '1.5Gi'", value)
    try:
        amount = quantity.parse(value)
    except InvalidQuantity as e:
        out.errors.append((path, e.reason))
        return False
    if f.minimum is not None and amount < f.minimum:
        out.errors.append((path, f"must be greater than or equal to {f.minimum}"))
        return False
    return True


def _check_int_or_string(f: Field, value: Any, path: str, out: _Findings) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return _in_range(f, value, path, out)
    if not isinstance(value, str):
        return _type_error(out, path, "an integer or a percentage such as '25%'", value)
    if f.pattern is not None and not f.pattern.search(value):
        out.errors.append((path, f"{value!r} must be an integer or a percentage such as '25%'"))
        return False
    return True


def _check_time(f: Field, value: Any, path: str, out: _Findings) -> bool:
    if isinstance(value, dt.datetime | dt.date):
        return True  # YAML already parsed an unquoted timestamp
    if not isinstance(value, str):
        return _type_error(out, path, "an RFC 3339 timestamp", value)
    try:
        dt.datetime.fromisoformat(value)
    except ValueError:
        out.errors.append((path, f"{value!r} is not an RFC 3339 timestamp such as '2024-01-02T15:04:05Z'"))
        return False
    return True


def _check_enum(f: Field, value: Any, path: str, out: _Findings) -> bool:
    if not isinstance(value, str) or value not in f.values:
        supported = ", ".join(f'"{v}"' for v in f.values if v)
        out.errors.append((path, f"unsupported value {value!r}: supported values: {supported}"))
        return False
    return True


def _check_opaque(f: Field, value: Any, path: str, out: _Findings) -> bool:
    if f.report and value not in ({}, []):  # an empty block (e.g. a defaulted securityContext) says nothing
        out.ignored.setdefault(_generic(path), (f.note, path))
    return False


_CHECKS: Mapping[T, Callable[[Field, Any, str, _Findings], bool]] = {
    T.OBJECT: _check_object, T.LIST: _check_list, T.MAP: _check_map, T.STRING: _check_string,
    T.DURATION: _check_duration, T.INT: _check_int, T.NUMBER: _check_number, T.BOOL: _check_bool,
    T.QUANTITY: _check_quantity, T.INT_OR_STRING: _check_int_or_string, T.TIME: _check_time,
    T.ENUM: _check_enum, T.OPAQUE: _check_opaque,
}

# --------------------------------------------------------------------------------------------------------
# conversion to storage versions


def to_storage_version(obj: Mapping[str, Any], *,
                       nodepools: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """A deep copy of ``obj`` in the version the twin stores (v1 for every Karpenter kind).

    Objects already in a storage version come back unchanged. Converted objects carry
    ``ekstwin.dev/original-api-version``. Rules (facts from Karpenter's conversion webhooks, with the two
    departures marked):

    NodePool ``karpenter.sh/v1beta1`` -> ``v1``
      * ``consolidationPolicy: WhenUnderutilized`` (also the v1beta1 default) -> ``WhenEmptyOrUnderutilized``
        with ``consolidateAfter: 0s``; ``WhenEmpty`` keeps its ``consolidateAfter``. Departure: a v1beta1
        ``consolidateAfter: Never`` is kept (Karpenter's webhook writes 0s, which would turn consolidation
        on for a pool that had it off).
      * ``spec.disruption.expireAfter`` -> ``spec.template.spec.expireAfter``.
      * budgets keep nodes/schedule/duration.
      * ``spec.template.spec.kubelet`` -> annotation ``ekstwin.dev/v1beta1-kubelet`` (compact JSON, sorted
        keys); v1 has no kubelet block in the NodePool. The empty ``resources`` block is dropped.
      * ``nodeClassRef {apiVersion?, kind?, name}`` -> ``{group, kind, name}``; group is the apiVersion's
        group, defaulting to ``karpenter.k8s.aws``; kind defaults to ``EC2NodeClass``.
    NodeClaim ``v1beta1`` -> ``v1``: kubelet to the annotation, nodeClassRef as above, condition
      ``severity`` dropped, and ``spec.expireAfter`` copied from the owning NodePool (label
      ``karpenter.sh/nodepool``) when that pool is in ``nodepools`` (keyed by name, already v1).
    EC2NodeClass ``karpenter.k8s.aws/v1beta1`` -> ``v1``: same fields. A family with an EKS alias (AL2,
      AL2023, Bottlerocket, Windows2019/2022) and no amiSelectorTerms gets ``[{alias: <family>@latest}]``.
      Departure: ``amiFamily`` is kept (still valid in v1, and it saves readers a lookup; Karpenter drops
      it). ``Ubuntu`` becomes ``AL2`` (same user-data format) with Karpenter's Ubuntu root volume when none
      is given; Ubuntu without amiSelectorTerms has no v1 equivalent and is refused.

    Raises:
        InvalidScenario: the object cannot be expressed in v1 (Ubuntu without amiSelectorTerms).
    """
    out = copy.deepcopy(dict(obj))
    original = obj.get("apiVersion")
    converter = _CONVERTERS.get((str(original), str(obj.get("kind"))))
    if converter is None:
        return out
    converter(out, nodepools or {})
    _annotate(out, ORIGINAL_API_VERSION_ANNOTATION, str(original))
    return out


def _annotate(obj: dict[str, Any], key: str, value: str) -> None:
    meta = obj.setdefault("metadata", {})
    annotations = meta.get("annotations")
    if not isinstance(annotations, dict):
        annotations = meta["annotations"] = {}
    annotations[key] = value


def _child(parent: dict[str, Any], key: str) -> dict[str, Any]:
    value = parent.get(key)
    if not isinstance(value, dict):
        value = parent[key] = {}
    return value


def _node_class_ref_v1(ref: Any) -> dict[str, Any]:
    ref = ref if isinstance(ref, Mapping) else {}
    api_version = ref.get("apiVersion") or ""
    return {"group": api_version.split("/")[0] if api_version else "karpenter.k8s.aws",
            "kind": ref.get("kind") or "EC2NodeClass",
            "name": ref.get("name")}


def _move_kubelet(spec: dict[str, Any], obj: dict[str, Any]) -> None:
    kubelet = spec.pop("kubelet", None)
    if kubelet is not None:
        _annotate(obj, V1BETA1_KUBELET_ANNOTATION, json.dumps(kubelet, sort_keys=True, separators=(",", ":")))


def _nodepool_v1beta1(np: dict[str, Any], _: Mapping[str, Mapping[str, Any]]) -> None:
    np["apiVersion"] = "karpenter.sh/v1"
    spec = _child(np, "spec")
    template_spec = _child(_child(spec, "template"), "spec")
    old = spec.pop("disruption", None)
    old = old if isinstance(old, dict) else {}
    policy = old.get("consolidationPolicy", "WhenUnderutilized")
    after = old.get("consolidateAfter")
    disruption: dict[str, Any] = {
        "consolidationPolicy": "WhenEmptyOrUnderutilized" if policy == "WhenUnderutilized" else policy,
        "consolidateAfter": "0s" if policy == "WhenUnderutilized" and after != "Never" else after,
    }
    if isinstance(old.get("budgets"), list):
        disruption["budgets"] = [{k: b[k] for k in ("nodes", "schedule", "duration") if k in b}
                                 for b in old["budgets"] if isinstance(b, Mapping)]
    spec["disruption"] = {k: v for k, v in disruption.items() if v is not None}
    if old.get("expireAfter") is not None:
        template_spec["expireAfter"] = old["expireAfter"]
    _move_kubelet(template_spec, np)
    template_spec.pop("resources", None)
    template_spec["nodeClassRef"] = _node_class_ref_v1(template_spec.get("nodeClassRef"))


def _nodeclaim_v1beta1(nc: dict[str, Any], nodepools: Mapping[str, Mapping[str, Any]]) -> None:
    nc["apiVersion"] = "karpenter.sh/v1"
    spec = _child(nc, "spec")
    _move_kubelet(spec, nc)
    spec["nodeClassRef"] = _node_class_ref_v1(spec.get("nodeClassRef"))
    pool_name = schema.as_map(schema.as_map(nc.get("metadata")).get("labels")).get("karpenter.sh/nodepool")
    pool = nodepools.get(str(pool_name)) if pool_name else None
    expire = schema.as_map(schema.as_map(schema.as_map(schema.as_map(pool).get("spec")).get("template"))
                           .get("spec")).get("expireAfter")
    if expire is not None and "expireAfter" not in spec:
        spec["expireAfter"] = expire
    for condition in schema.as_list(schema.as_map(nc.get("status")).get("conditions")):
        if isinstance(condition, dict):
            condition.pop("severity", None)


_UBUNTU_ROOT_VOLUME = {"deviceName": "/dev/sda1", "rootVolume": True,
                       "ebs": {"encrypted": True, "volumeType": "gp3", "volumeSize": "20Gi"}}


def _ec2nodeclass_v1beta1(nc: dict[str, Any], _: Mapping[str, Mapping[str, Any]]) -> None:
    nc["apiVersion"] = "karpenter.k8s.aws/v1"
    spec = _child(nc, "spec")
    family, terms = spec.get("amiFamily"), spec.get("amiSelectorTerms")
    if family in schema.ALIAS_FAMILIES.values() and not terms:
        spec["amiSelectorTerms"] = [{"alias": f"{str(family).lower()}@latest"}]
    elif family == "Ubuntu":
        if not terms:
            raise InvalidScenario("amiFamily Ubuntu without amiSelectorTerms has no karpenter.k8s.aws/v1 "
                                  "equivalent (Karpenter v1 marks such an EC2NodeClass incompatible and never "
                                  "launches from it); add amiSelectorTerms or choose another amiFamily",
                                  obj=object_ref(nc), field="spec.amiFamily")
        spec["amiFamily"] = "AL2"
        if not spec.get("blockDeviceMappings"):
            spec["blockDeviceMappings"] = [copy.deepcopy(_UBUNTU_ROOT_VOLUME)]


_CONVERTERS: Mapping[tuple[str, str], Callable[[dict[str, Any], Mapping[str, Mapping[str, Any]]], None]] = {
    ("karpenter.sh/v1beta1", "NodePool"): _nodepool_v1beta1,
    ("karpenter.sh/v1beta1", "NodeClaim"): _nodeclaim_v1beta1,
    ("karpenter.k8s.aws/v1beta1", "EC2NodeClass"): _ec2nodeclass_v1beta1,
}

# --------------------------------------------------------------------------------------------------------
# the convenience entry point


def load_manifests(paths: Iterable[str | os.PathLike[str]], *,
                   unknown_fields_are_errors: bool = False) -> tuple[list[dict[str, Any]], list[str]]:
    """Load, validate and convert every object in ``paths``.

    Returns the objects in storage versions (file order, nulls dropped) and the warnings: unknown-field
    lines, then ignored-field lines.

    Raises:
        ManifestErrors: any document is invalid; located at the first error, all errors summarised.
        InvalidScenario: a file cannot be read or parsed.
    """
    docs = [doc for path in paths for doc in load_file(path)]
    return load_documents(docs, unknown_fields_are_errors=unknown_fields_are_errors)


def load_documents(docs: Iterable[Document], *,
                   unknown_fields_are_errors: bool = False) -> tuple[list[dict[str, Any]], list[str]]:
    """``load_manifests`` for documents already parsed (scenario files with inline objects use this).

    Raises:
        ManifestErrors: any document is invalid, or two documents define the same object.
    """
    docs = list(docs)
    errors: list[InvalidScenario] = []
    unknown: list[str] = []
    ignored: list[str] = []
    for doc in docs:
        report = validate(doc, unknown_fields_are_errors=unknown_fields_are_errors)
        errors += report.errors
        unknown += report.unknown
        ignored += report.ignored
    errors += _duplicates(docs)
    if errors:
        raise _summarise(errors)
    objects = _convert_all(docs)
    return objects, unknown + ignored


def _convert_all(docs: list[Document]) -> list[dict[str, Any]]:
    # NodePools first, so converted v1beta1 NodeClaims can take expireAfter from their pool.
    converted: dict[int, dict[str, Any]] = {}
    pools: dict[str, dict[str, Any]] = {}
    for i, doc in enumerate(docs):
        if doc.obj.get("kind") == "NodePool":
            converted[i] = _storage(doc)
            pools[str(schema.as_map(converted[i].get("metadata")).get("name"))] = converted[i]
    for i, doc in enumerate(docs):
        if i not in converted:
            converted[i] = _storage(doc, pools)
    return [converted[i] for i in range(len(docs))]


def _storage(doc: Document, pools: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    try:
        return dict(schema.prune_nulls(to_storage_version(doc.obj, nodepools=pools)))
    except InvalidScenario as e:
        raise e.located(file=_where(doc, e.field or "")) from None


def _duplicates(docs: list[Document]) -> list[InvalidScenario]:
    first: dict[tuple[str, str], str] = {}
    errors: list[InvalidScenario] = []
    for doc in docs:
        meta = schema.as_map(doc.obj.get("metadata"))
        if not meta.get("name"):
            continue  # generateName objects get distinct names when created
        ref = object_ref(doc.obj)
        key = (ref, str(doc.obj.get("kind")))
        where = _where(doc, "metadata.name")
        if key in first:
            errors.append(InvalidScenario(f"duplicate object; first defined at {first[key]}", file=where,
                                          obj=ref, field="metadata.name"))
        else:
            first[key] = where
    return errors


def _summarise(errors: list[InvalidScenario]) -> ManifestErrors:
    head = errors[0]
    reason = head.reason
    if len(errors) > 1:
        rest = "\n".join(f"  - {e}" for e in errors[1:])
        reason = f"{reason}\n{len(errors) - 1} more error(s):\n{rest}"
    err = ManifestErrors(reason, file=head.file, obj=head.obj, field=head.field)
    err.errors = errors
    return err


# --------------------------------------------------------------------------------------------------------
# back to a served legacy version (the API reads v1beta1 Karpenter objects through their v1beta1 URLs)


def to_served_version(obj: Mapping[str, Any], api_version: str) -> dict[str, Any]:
    """The stored (v1) object as ``api_version`` shows it: the inverse of ``to_storage_version`` for the
    Karpenter v1beta1 kinds, so ``kubectl apply`` of a v1beta1 manifest can diff and patch what it reads.

    Other kinds and versions only get the apiVersion label. Fields v1beta1 cannot express are dropped
    (they are recomputed by ``to_storage_version`` on the next write).
    """
    out = copy.deepcopy(dict(obj))
    out["apiVersion"] = api_version
    if not api_version.endswith("/v1beta1"):
        return out
    if out.get("kind") == "NodePool":
        _nodepool_to_v1beta1(out)
    elif out.get("kind") == "EC2NodeClass":
        spec = _child(out, "spec")
        family = spec.get("amiFamily")
        if family and spec.get("amiSelectorTerms") == [{"alias": f"{str(family).lower()}@latest"}]:
            del spec["amiSelectorTerms"]  # added by the forward conversion
    return out


def _nodepool_to_v1beta1(np: dict[str, Any]) -> None:
    spec = _child(np, "spec")
    template_spec = _child(_child(spec, "template"), "spec")
    disruption = dict(spec.get("disruption") or {})
    if disruption.get("consolidationPolicy") == "WhenEmptyOrUnderutilized":
        disruption["consolidationPolicy"] = "WhenUnderutilized"
        if disruption.get("consolidateAfter") == "0s":
            del disruption["consolidateAfter"]  # v1beta1 allows consolidateAfter only with WhenEmpty
    if "expireAfter" in template_spec:
        disruption["expireAfter"] = template_spec.pop("expireAfter")
    spec["disruption"] = disruption
    ref = template_spec.get("nodeClassRef")
    if isinstance(ref, dict):
        group = ref.get("group", "karpenter.k8s.aws")
        template_spec["nodeClassRef"] = {"apiVersion": f"{group}/v1beta1", "kind": ref.get("kind", "EC2NodeClass"),
                                         "name": ref.get("name")}
    annotations = _child(_child(np, "metadata"), "annotations")
    kubelet = annotations.pop(V1BETA1_KUBELET_ANNOTATION, None)
    if kubelet is not None:
        template_spec["kubelet"] = json.loads(kubelet)
