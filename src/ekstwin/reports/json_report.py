"""The machine-readable report: ``ekstwin run --json``.

This is a contract for scripts and tests, so the shape is fixed (``time``, ``objects``, ``events``,
``logs``, ``decisions``, ``summary``) and the text is deterministic: keys sorted, objects of each kind
ordered by namespace then name, and only strict JSON values (no NaN/Infinity, which ``json.loads`` in
other languages rejects).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ekstwin.scenario.result import RunResult, rfc3339
from ekstwin.units.durations import format_duration

CONTRACT_KEYS = ("time", "objects", "events", "logs", "decisions", "summary")


def to_json(result: RunResult) -> dict[str, Any]:
    """The report as plain JSON-ready data."""
    objects = {kind: sorted(items, key=_object_key) for kind, items in result.objects.items()}
    return {
        "time": format_duration(result.time_s),
        "objects": jsonable(objects),
        "events": jsonable(result.events),
        "logs": jsonable(result.logs),
        "decisions": jsonable(result.decisions),
        "summary": jsonable(result.summary),
    }


def dumps(result: RunResult) -> str:
    """``to_json`` as indented text with sorted keys."""
    return encode(to_json(result))


def encode(value: Any) -> str:
    """Any report value as deterministic, strict JSON text (indent 2, sorted keys)."""
    return json.dumps(jsonable(value), indent=2, sort_keys=True, allow_nan=False)


def jsonable(value: Any) -> Any:
    """Copy ``value`` into strict JSON types: datetimes become RFC3339, sets sorted lists, ±inf/NaN null."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((jsonable(v) for v in value), key=str)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime):
        return rfc3339(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    # Anything else (a Fraction, an enum) is a simulator detail; its text is the honest rendering.
    return str(value)


def _object_key(obj: Mapping[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
