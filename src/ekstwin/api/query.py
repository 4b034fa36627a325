"""Label and field selectors as they arrive in a query string, turned into predicates.

Label selectors use the set-based grammar (``a=b``, ``a==b``, ``a!=b``, ``a in (x,y)``, ``a notin (x)``,
``a``, ``!a``) and become a ``model.selectors.LabelSelector``. Field selectors (``a=b``, ``a==b``, ``a!=b``)
follow any dotted path into the object, a superset of the fields the API server indexes
(``metadata.name``, ``metadata.namespace``, ``spec.nodeName``, ``status.phase``, ``involvedObject.*``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from ekstwin.api.status import bad_request
from ekstwin.model.selectors import Expression, LabelSelector

LabelPredicate = Callable[[dict[str, str]], bool]
ObjPredicate = Callable[[Mapping[str, Any]], bool]

# a term is everything up to a comma that is not inside parentheses
_TERM = re.compile(r"\s*((?:[^,(]|\([^)]*\))+)\s*(?:,|$)")
_SET = re.compile(r"^(\S+)\s+(in|notin)\s*\(([^)]*)\)$")
_EQ = re.compile(r"^([^!=\s]+)\s*(==|=|!=)\s*([^\s]*)$")


def _terms(text: str) -> list[str]:
    return [m.group(1).strip() for m in _TERM.finditer(text) if m.group(1).strip()]


def label_selector(text: str | None) -> LabelPredicate | None:
    """A predicate over labels, or None for an absent/empty selector.

    Raises:
        ApiError: 400 for a term the grammar does not allow.
    """
    if not text:
        return None
    exprs: list[Expression] = []
    for term in _terms(text):
        exprs.append(_label_term(term))
    return LabelSelector((), tuple(exprs)).matches


def _label_term(term: str) -> Expression:
    if m := _SET.match(term):
        values = frozenset(v.strip() for v in m.group(3).split(",") if v.strip())
        return Expression(m.group(1), "In" if m.group(2) == "in" else "NotIn", values)
    if m := _EQ.match(term):
        return Expression(m.group(1), "NotIn" if m.group(2) == "!=" else "In", frozenset({m.group(3)}))
    if term.startswith("!") and _is_key(term[1:]):
        return Expression(term[1:], "DoesNotExist", frozenset())
    if _is_key(term):
        return Expression(term, "Exists", frozenset())
    raise bad_request(f"unable to parse requirement: invalid label selector term {term!r}")


def _is_key(text: str) -> bool:
    return bool(text) and not any(c in text for c in " =!(),<>")


def field_selector(text: str | None) -> ObjPredicate | None:
    """A predicate over whole objects, or None for an absent/empty selector.

    Raises:
        ApiError: 400 for a term that is not ``path=value``, ``path==value`` or ``path!=value``.
    """
    if not text:
        return None
    checks: list[tuple[list[str], bool, str]] = []
    for term in _terms(text):
        m = _EQ.match(term)
        if m is None:
            raise bad_request(f"invalid field selector term {term!r}: expected field=value or field!=value")
        checks.append((m.group(1).split("."), m.group(2) != "!=", m.group(3)))

    def matches(obj: Mapping[str, Any]) -> bool:
        return all((_field(obj, path) == value) == want for path, want, value in checks)

    return matches


def field_equals(text: str | None, path: str) -> str | None:
    """The value a field selector requires ``path`` to equal (``path=v`` or ``path==v``), if any.

    Lets a LIST use an index (e.g. pods by ``spec.nodeName``) before the full predicate runs.
    """
    for term in _terms(text or ""):
        m = _EQ.match(term)
        if m is not None and m.group(1) == path and m.group(2) != "!=":
            return m.group(3)
    return None


def _field(obj: Mapping[str, Any], path: list[str]) -> str:
    """The field's text, or "" when absent (an unset spec.nodeName matches ``spec.nodeName=``)."""
    cur: Any = obj
    for part in path:
        if not isinstance(cur, Mapping):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)
