"""The three PATCH body types the API server accepts, applied to a stored object.

* ``application/merge-patch+json``: RFC 7386 (``store.merge_patch``).
* ``application/json-patch+json``: RFC 6902 operations with JSON pointers.
* ``application/strategic-merge-patch+json``: a subset of Kubernetes' strategic merge. It is a merge patch
  except that lists whose field name is in ``MERGE_KEYS`` (containers by ``name``, ports by
  ``containerPort``, ...) merge element by element on that key, and the directives kubectl emits are
  honoured: ``$patch: delete`` / ``$patch: replace`` on maps and list elements, ``$retainKeys``;
  ``$setElementOrder/<field>`` and ``$deleteFromPrimitiveList/<field>`` are read as ordering hints / deletions
  of primitive list values. Keys are chosen by field name alone, not by the OpenAPI schema, so a custom
  resource field that happens to be called ``containers`` merges by name too.
"""

from __future__ import annotations

import copy
from typing import Any

from ekstwin.api.status import bad_request
from ekstwin.store.store import merge_patch

MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY = "application/apply-patch+yaml"

MERGE_KEYS: dict[str, str] = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name", "env": "name",
    "volumes": "name", "volumeMounts": "mountPath", "ports": "containerPort", "imagePullSecrets": "name",
    "conditions": "type", "hostAliases": "ip", "topologySpreadConstraints": "topologyKey",
    "ownerReferences": "uid", "taints": "key",
}


def apply_patch(content_type: str, target: dict[str, Any], patch: Any) -> dict[str, Any]:
    """The patched object (``target`` is not mutated).

    Raises:
        ApiError: 400 for a malformed patch or a failed JSON-patch ``test``.
    """
    media = content_type.split(";")[0].strip()
    if media == JSON_PATCH:
        result = json_patch(target, patch)
    elif media == STRATEGIC:
        result = strategic_merge(target, patch)
    else:
        result = merge_patch(target, patch)
    if not isinstance(result, dict):
        raise bad_request("the patch must produce a JSON object")
    return result


# ---- RFC 6902 -------------------------------------------------------------------------------------------


def json_patch(target: Any, ops: Any) -> Any:
    if not isinstance(ops, list):
        raise bad_request("a json patch must be a list of operations")
    doc = copy.deepcopy(target)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise bad_request(f"invalid json patch operation {op!r}")
        doc = _json_op(doc, op)
    return doc


def _json_op(doc: Any, op: dict[str, Any]) -> Any:
    kind, path = op["op"], _pointer(op["path"])
    if kind == "test":
        if _resolve(doc, path) != op.get("value"):
            raise bad_request(f"json patch test failed at {op['path']}")
        return doc
    if kind in ("move", "copy"):
        value = copy.deepcopy(_resolve(doc, _pointer(op.get("from", ""))))
        if kind == "move":
            doc = _remove(doc, _pointer(op["from"]))
        return _add(doc, path, value)
    if kind == "remove":
        return _remove(doc, path)
    if kind == "add":
        return _add(doc, path, copy.deepcopy(op.get("value")))
    if kind == "replace":
        _resolve(doc, path)  # the target must exist
        return _add(_remove(doc, path), path, copy.deepcopy(op.get("value")))
    raise bad_request(f"unknown json patch operation {kind!r}")


def _pointer(text: Any) -> list[str]:
    if not isinstance(text, str) or (text and not text.startswith("/")):
        raise bad_request(f"invalid JSON pointer {text!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in text.split("/")[1:]]


def _resolve(doc: Any, path: list[str]) -> Any:
    for part in path:
        doc = _child(doc, part)
    return doc


def _child(doc: Any, part: str) -> Any:
    try:
        if isinstance(doc, list):
            return doc[int(part)]
        if isinstance(doc, dict):
            return doc[part]
    except (KeyError, IndexError, ValueError):
        pass
    raise bad_request(f"json patch path element {part!r} does not exist")


def _add(doc: Any, path: list[str], value: Any) -> Any:
    if not path:
        return value
    parent, last = _resolve(doc, path[:-1]), path[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        index = len(parent) if last == "-" else _index(last, len(parent) + 1)
        parent.insert(index, value)
    else:
        raise bad_request(f"json patch cannot add under a {type(parent).__name__}")
    return doc


def _remove(doc: Any, path: list[str]) -> Any:
    if not path:
        raise bad_request("json patch cannot remove the whole document")
    parent, last = _resolve(doc, path[:-1]), path[-1]
    if isinstance(parent, dict) and last in parent:
        del parent[last]
    elif isinstance(parent, list):
        del parent[_index(last, len(parent))]
    else:
        raise bad_request(f"json patch path element {last!r} does not exist")
    return doc


def _index(text: str, bound: int) -> int:
    if not text.isdigit() or int(text) >= bound:
        raise bad_request(f"json patch index {text!r} out of range")
    return int(text)


# ---- strategic merge ------------------------------------------------------------------------------------


def strategic_merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return patch
    if patch.get("$patch") == "replace":
        return {k: v for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    result = dict(target) if isinstance(target, dict) else {}
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key.startswith("$setElementOrder/") or key in ("$retainKeys", "$patch"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            result[field] = [v for v in result.get(field) or () if v not in value]
        elif value is None:
            result.pop(key, None)
        elif key in MERGE_KEYS and isinstance(value, list) and isinstance(result.get(key), list):
            result[key] = _merge_list(result[key], value, MERGE_KEYS[key])
        else:
            merged = strategic_merge(result.get(key), value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _merge_list(current: list[Any], patch: list[Any], key: str) -> list[Any]:
    """Merge elements that share ``key``; new ones are appended; ``$patch: delete`` removes one."""
    if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
        return [p for p in patch if not (isinstance(p, dict) and p.get("$patch") == "replace")]
    out = list(current)
    positions = {item.get(key): i for i, item in enumerate(out) if isinstance(item, dict)}
    deleted: set[int] = set()
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            out.append(item)
            continue
        at = positions.get(item[key])
        if item.get("$patch") == "delete":
            if at is not None:
                deleted.add(at)
        elif at is None:
            positions[item[key]] = len(out)
            out.append(strategic_merge({}, item))
        else:
            out[at] = strategic_merge(out[at], item)
    return [v for i, v in enumerate(out) if i not in deleted]
