"""NodePool disruption budgets: how many of a pool's nodes Karpenter may disrupt now, per reason.

Pure values in, values out. The disruption controller counts the pool's nodes and the ones already
disrupting; this module turns the pool's ``spec.disruption.budgets`` into the number it may still take.

Semantics (Karpenter v1, ``NodePool.MustGetAllowedDisruptions`` and the disruption helpers):

* A budget without a schedule is always active. A scheduled one is active at ``now`` when its cron (UTC)
  fired in the half-open window ``(now - duration, now]``: active from the firing instant itself, inactive
  again exactly ``duration`` later. Karpenter asks robfig for the first firing after ``now - duration``; a
  schedule with no firing within robfig's five-year horizon (e.g. ``0 0 30 2 *``) makes robfig return its
  zero time, which is "not after now", so such a budget counts as always active. That quirk is kept.
* An active budget allows its integer, or ``ceil(total × pct / 100)`` for ``N%``, so 10% of 5 nodes is 1.
* Budgets whose ``reasons`` are absent apply to every reason; ``reasons: []`` applies to none.
* The pool's allowance for a reason is the minimum over the active budgets that apply to it. When none
  applies Karpenter uses MaxInt32; here that is ``None`` (unbounded), see ``MAX_INT32`` for metrics.
* A budget that cannot be evaluated fails closed, and for the whole pool: a schedule that does not parse
  (the CRD pattern is looser than the parser, so ``60 * * * *`` gets through) or, while active, a ``nodes``
  value that is not a number or percentage makes every reason's allowance 0, whichever budget is broken.
* What is left to disrupt is ``max(allowance − disrupting, 0)``, where ``disrupting`` counts the pool's
  nodes that are NotReady or already marked for deletion.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ekstwin.errors import InvalidInput
from ekstwin.units.cron import Cron
from ekstwin.units.durations import parse_duration

UNDERUTILIZED, EMPTY, DRIFTED = "Underutilized", "Empty", "Drifted"
REASONS = (DRIFTED, EMPTY, UNDERUTILIZED)
"""Every budget reason, in the order Karpenter updates its allowed-disruptions gauge."""

DEFAULT_NODES = "10%"
MAX_INT32 = 2**31 - 1
"""What Karpenter reports (gauge ``karpenter_nodepools_allowed_disruptions``) for an unbounded pool."""

BLOCKED_EVENT = "No allowed disruptions for disruption reason {reason} due to blocking budget"
"""Message of the ``DisruptionBlocked`` event on a NodePool; format with ``reason=``."""

# Go's strconv.Atoi, which Karpenter and apimachinery use on the nodes value: optional sign, ASCII digits.
_ATOI = re.compile(r"[+-]?[0-9]+")


@dataclass(frozen=True)
class Budget:
    """One entry of ``spec.disruption.budgets``."""

    nodes: str = DEFAULT_NODES
    schedule: Cron | None = None
    duration_s: float | None = None
    reasons: frozenset[str] | None = None
    """None: applies to every reason."""
    schedule_error: str | None = None
    """Why the schedule cannot be evaluated (the budget then fails closed), or None."""

    @classmethod
    def from_spec(cls, raw: Mapping[str, Any]) -> Budget:
        """Read one budget as written in a NodePool (v1 or v1beta1).

        A schedule that does not parse is kept as ``schedule_error`` rather than raised, because Karpenter
        accepts such a NodePool and then blocks its disruptions.

        Raises:
            InvalidInput: a duration or reason the NodePool CRD would refuse; ``field`` names it.
        """
        schedule, schedule_error = _schedule(raw)
        return cls(nodes=_nodes(raw.get("nodes", DEFAULT_NODES)), schedule=schedule,
                   duration_s=_duration(raw.get("duration")), reasons=_reasons(raw.get("reasons")),
                   schedule_error=schedule_error)

    def applies_to(self, reason: str) -> bool:
        """Whether this budget constrains disruptions for ``reason``."""
        return self.reasons is None or reason in self.reasons

    def active(self, now: datetime) -> bool:
        """Whether the budget constrains at ``now`` (see the module notes for the window's edges)."""
        if self.schedule_error is not None:
            return False
        if self.schedule is None:
            return True
        now = now.replace(tzinfo=UTC) if now.tzinfo is None else now  # naive times are UTC
        # Karpenter's own test: the first firing after (now - duration) is not after now.
        fire = self.schedule.next_fire_after(now - timedelta(seconds=self.duration_s or 0.0))
        return fire is None or fire <= now

    def next_change(self, now: datetime) -> datetime | None:
        """The next instant after ``now`` at which ``active`` may flip (None: never, it is unscheduled)."""
        if self.schedule is None or self.schedule_error is not None:
            return None
        now = now.replace(tzinfo=UTC) if now.tzinfo is None else now
        duration = timedelta(seconds=self.duration_s or 0.0)
        changes = [t for t in (self.schedule.next_fire_after(now),) if t is not None]
        last = self.schedule.last_fire_at_or_before(now)
        if last is not None and last + duration > now:
            changes.append(last + duration)
        return min(changes) if changes else None

    def allowed(self, total_nodes: int) -> int:
        """Nodes this budget lets go out of ``total_nodes`` (ignoring the schedule); 0 when malformed."""
        value = _scaled(self.nodes, total_nodes)
        return 0 if value is None else value

    def limit(self, now: datetime, total_nodes: int) -> tuple[int | None, bool]:
        """``(limit, well_formed)`` at ``now``: limit None while inactive; a malformed budget is (0, False)."""
        if self.schedule_error is not None:
            return 0, False
        if not self.active(now):
            return None, True
        value = _scaled(self.nodes, total_nodes)
        return (0, False) if value is None else (value, True)


def parse_budgets(raw: object) -> tuple[Budget, ...]:
    """``spec.disruption.budgets`` as Budgets; absent (None) means the CRD default, one ``10%`` budget.

    Raises:
        InvalidInput: the list or one of its budgets is not readable; ``field`` locates it.
    """
    if raw is None:
        return (Budget(),)
    if not isinstance(raw, list):
        raise InvalidInput("budgets must be a list", field="spec.disruption.budgets")
    budgets = []
    for i, item in enumerate(raw):
        where = f"spec.disruption.budgets[{i}]"
        if not isinstance(item, Mapping):
            raise InvalidInput("a budget must be a mapping", field=where)
        try:
            budgets.append(Budget.from_spec(item))
        except InvalidInput as err:
            raise err.located(field_prefix=where) from None
    return tuple(budgets)


def nodepool_budgets(nodepool: Mapping[str, Any]) -> tuple[Budget, ...]:
    """The budgets of a NodePool object (its ``spec.disruption.budgets``, defaulted when absent)."""
    spec = nodepool.get("spec")
    disruption = spec.get("disruption") if isinstance(spec, Mapping) else None
    return parse_budgets(disruption.get("budgets") if isinstance(disruption, Mapping) else None)


def pool_allowance(budgets: Iterable[Budget], reason: str, now: datetime, total_nodes: int) -> int | None:
    """Karpenter's allowed disruptions for one pool and reason, before subtracting disrupting nodes.

    This is the value of the allowed-disruptions gauge and the one the blocked event tests. None means
    unbounded (no active budget applies to ``reason``).
    """
    allowance: int | None = None
    broken = False
    for budget in budgets:
        value, well_formed = budget.limit(now, total_nodes)
        # A broken budget blocks every reason, even one it does not apply to.
        broken = broken or not well_formed
        if value is not None and budget.applies_to(reason):
            allowance = value if allowance is None else min(allowance, value)
    return 0 if broken else allowance


def allowed_disruptions(budgets: Iterable[Budget], reason: str, now: datetime, total_nodes: int,
                        disrupting: int) -> int | None:
    """How many more of the pool's nodes may be disrupted for ``reason`` now; None = unbounded.

    ``total_nodes`` counts the pool's managed, initialized nodes that are not already terminating;
    ``disrupting`` those of them NotReady or marked for deletion. Floored at 0.
    """
    allowance = pool_allowance(budgets, reason, now, total_nodes)
    return None if allowance is None else max(allowance - disrupting, 0)


def blocked(allowance: int | None, total_nodes: int) -> bool:
    """Whether Karpenter publishes the NodePool ``DisruptionBlocked`` event for this allowance.

    It tests the allowance before disrupting nodes are subtracted, and never for an empty pool.
    """
    return total_nodes != 0 and allowance == 0


def blocked_message(reason: str) -> str:
    """The NodePool ``DisruptionBlocked`` event message for ``reason``."""
    return BLOCKED_EVENT.format(reason=reason)


# ---------------------------------------------------------------------------------------------------------
# reading and evaluating fields


def _nodes(value: object) -> str:
    # YAML may hand over `nodes: 5` as an int; anything else is kept as text and fails closed when used.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) else repr(value)


def _schedule(raw: Mapping[str, Any]) -> tuple[Cron | None, str | None]:
    text = raw.get("schedule")
    if text is None:
        # A duration alone leaves Karpenter parsing an empty cron, which fails.
        return None, ("duration is set without a schedule" if raw.get("duration") is not None else None)
    if not isinstance(text, str):
        return None, f"schedule must be a string, not {type(text).__name__}"
    try:
        return Cron.parse(text), None
    except InvalidInput as err:
        return None, err.reason


def _duration(value: object) -> float | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"duration must be a string such as 8h or 30m, not {value!r}", field="duration")
    try:
        return parse_duration(value)
    except InvalidInput as err:
        raise err.located(field_prefix="duration") from None


def _reasons(value: object) -> frozenset[str] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise InvalidInput("reasons must be a list", field="reasons")
    unknown = [r for r in value if r not in REASONS]
    if unknown:
        raise InvalidInput(f"unknown disruption reason {unknown[0]!r} (expected one of {', '.join(REASONS)})",
                           field="reasons")
    return frozenset(value)


def _scaled(nodes: str, total: int) -> int | None:
    """The integer, or ``ceil(total × pct / 100)`` for ``N%``; None when the text is neither."""
    if _ATOI.fullmatch(nodes):
        return int(nodes)
    if nodes.endswith("%") and _ATOI.fullmatch(nodes[:-1]):
        # Exact integer ceiling; Go's float ceil gives the same for any realistic node count.
        return -(-int(nodes[:-1]) * total // 100)
    return None
