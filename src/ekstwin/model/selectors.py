"""Kubernetes label selectors (``matchLabels`` + ``matchExpressions``) as hashable values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ekstwin.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class Expression:
    """One ``matchExpressions`` entry (In, NotIn, Exists, DoesNotExist)."""

    key: str
    operator: str
    values: frozenset[str]

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Label-selector semantics: NotIn and DoesNotExist pass when the key is absent."""
        v = labels.get(self.key)
        if self.operator == "In":
            return v is not None and v in self.values
        if self.operator == "NotIn":
            return v is None or v not in self.values
        if self.operator == "Exists":
            return v is not None
        return v is None  # DoesNotExist


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A label selector. The empty selector matches everything; ``NOTHING`` matches nothing."""

    match_labels: tuple[tuple[str, str], ...] = ()
    expressions: tuple[Expression, ...] = ()
    matches_nothing: bool = False

    @staticmethod
    def parse(raw: Mapping[str, Any] | None) -> LabelSelector:
        """From a Kubernetes ``LabelSelector`` dict; ``None`` gives the match-nothing selector.

        Raises:
            InvalidInput: an unknown operator.
        """
        if raw is None:
            return NOTHING
        exprs = []
        for i, e in enumerate(raw.get("matchExpressions") or ()):
            op = e.get("operator")
            if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
                raise InvalidInput(f"unknown label selector operator {op!r}", field=f"matchExpressions[{i}]")
            exprs.append(Expression(str(e["key"]), op, frozenset(str(v) for v in e.get("values") or ())))
        labels = tuple(sorted((str(k), str(v)) for k, v in (raw.get("matchLabels") or {}).items()))
        return LabelSelector(labels, tuple(exprs))

    def matches(self, labels: Mapping[str, str]) -> bool:
        """True when ``labels`` satisfy every term."""
        if self.matches_nothing:
            return False
        for k, v in self.match_labels:
            if labels.get(k) != v:
                return False
        return all(e.matches(labels) for e in self.expressions)

    def with_labels(self, extra: Mapping[str, str]) -> LabelSelector:
        """Add ``key=value`` terms (used for matchLabelKeys)."""
        merged = dict(self.match_labels)
        merged.update(extra)
        return LabelSelector(tuple(sorted(merged.items())), self.expressions, self.matches_nothing)


NOTHING = LabelSelector(matches_nothing=True)
EVERYTHING = LabelSelector()
