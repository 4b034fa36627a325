"""EC2-initiated spot interruptions: when EC2 reclaims a spot instance, and the notices it sends first.

For each spot instance, when the process is in ``advisor`` mode, the moment EC2 decides to take it back is
drawn from an exponential distribution whose rate comes from the spot-advisor interruption bucket of the
instance's (type, zone) offering. What follows that decision is fixed by AWS:

* an **interruption warning** (EventBridge ``EC2 Spot Instance Interruption Warning``) at the decision;
* the **reclaim** two minutes later: EC2 terminates the instance (``shutting-down`` → ``terminated``), whatever
  the cluster did meanwhile (EC2 user guide, "Spot Instance interruption notices");
* a **rebalance recommendation** before the warning. AWS gives no lead time: the signal "can arrive sooner
  than" the warning and sometimes "along with" it (EC2 user guide, "EC2 instance rebalance
  recommendations"). We send it ``REBALANCE_LEAD_S`` = 10 minutes ahead (an assumption; see below), never
  before the instance is running. Karpenter only records an event for it, so the value changes no decision.

Rates. The advisor publishes, per region and type, the share of spot capacity "reclaimed during the trailing
month" as one of five ranges (<5 %, 5-10 %, 10-15 %, 15-20 %, >20 %). We read a bucket as a monthly
probability ``p`` that a given instance is interrupted, take each closed range's midpoint (the mean of a value
known only to lie in the range), and for the open-ended ">20 %" bucket 25 % (20 % plus half a bucket width,
the same step as the others; the feed itself only caps it at 100 %). A constant hazard that interrupts with
probability ``p`` within 30 days has rate λ = −ln(1 − p) / 30 d. An offering without a bucket uses
``CloudSettings.unknown_bucket`` (the middle bucket, 12.5 %), the same default the spot capacity model uses.

Draws do not depend on launch order or on any other stream: each instance's draw comes from its own
generator, derived from the seed and its instance id (``ekstwin.rng.stable_random``).

``SpotInterruptions`` is a pure timetable (no clock, no store): ``EC2`` plans an instance's notices at launch,
cancels them when the instance is terminated by other means, and pops them as time passes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ekstwin.cloud.lifecycle import Lifecycle
from ekstwin.errors import InvalidInput
from ekstwin.rng import stable_random

NONE = "none"
ADVISOR = "advisor"
MODES = (NONE, ADVISOR)
"""``none``: EC2 never interrupts on its own (forced interruptions still work); ``advisor``: it does, at the
advisor bucket's rate."""

# Notice kinds, named like Karpenter's interruption message kinds so a controller can use them as labels.
REBALANCE_RECOMMENDATION = "rebalance_recommendation"
SPOT_INTERRUPTED = "spot_interrupted"
INSTANCE_TERMINATED = "instance_terminated"
KINDS = (REBALANCE_RECOMMENDATION, SPOT_INTERRUPTED, INSTANCE_TERMINATED)

WARNING_S = 120.0
"""The interruption warning comes two minutes before EC2 reclaims the instance (EC2 user guide)."""

REBALANCE_LEAD_S = 600.0
"""Rebalance recommendation this long before the warning. Assumption: AWS documents no lead time, only that
the signal may come earlier than the warning or with it; ten minutes is long enough to be visibly "earlier"
in a timeline and short next to the hours-to-weeks an instance lives before its warning."""

MONTH_S = 30 * 86_400.0
"""The advisor's "trailing month", taken as 30 days."""

BUCKET_MONTHLY_PROBABILITY = (0.025, 0.075, 0.125, 0.175, 0.25)
"""Monthly interruption probability assumed for advisor buckets 0..4 (see the module docstring)."""


@dataclass(frozen=True, slots=True)
class Notice:
    """Something EC2 tells EventBridge about ``instance_id`` at virtual time ``at`` (seconds).

    ``kind`` is one of ``KINDS``; ``instance_terminated`` is the state-change notification of an instance EC2
    itself reclaimed (it is ``shutting-down`` from ``at``).
    """

    kind: str
    instance_id: str
    at: float


@dataclass(frozen=True, slots=True)
class Interruption:
    """The planned interruption of one instance: rebalance recommendation, warning and reclaim times."""

    instance_id: str
    rebalance_at: float
    warning_at: float
    reclaim_at: float
    forced: bool = False


def monthly_probability(bucket: int | None, unknown_bucket: int = 2) -> float:
    """Monthly interruption probability of an advisor bucket (0..4); None means unknown.

    Raises:
        InvalidInput: a bucket outside 0..4.
    """
    b = unknown_bucket if bucket is None else bucket
    if not 0 <= b < len(BUCKET_MONTHLY_PROBABILITY):
        raise InvalidInput(f"interruption bucket {b} is not in 0..4", field="interruption_bucket")
    return BUCKET_MONTHLY_PROBABILITY[b]


def hazard_rate(p_month: float) -> float:
    """Interruptions per second of a constant hazard that interrupts with probability ``p_month`` in 30 days."""
    if not 0.0 <= p_month < 1.0:
        raise InvalidInput("must be >= 0 and < 1", field="p_month")
    return -math.log1p(-p_month) / MONTH_S


def warning_delay(seed: int, instance_id: str, rate: float) -> float:
    """Seconds from the start of an instance's exposure to its interruption warning (inf when rate is 0).

    The draw is the first number of the instance's own generator, so it depends on (seed, id) only.
    """
    if rate <= 0.0:
        return math.inf
    return stable_random(seed, f"spot.interruption:{instance_id}").expovariate(rate)


def plan_interruption(seed: int, instance_id: str, running_at: float, bucket: int | None,
                      unknown_bucket: int = 2) -> Interruption:
    """EC2's own interruption of a spot instance that is running from ``running_at``."""
    warning_at = running_at + warning_delay(seed, instance_id,
                                            hazard_rate(monthly_probability(bucket, unknown_bucket)))
    return Interruption(instance_id, max(running_at, warning_at - REBALANCE_LEAD_S), warning_at,
                        warning_at + WARNING_S)


def forced_interruption(instance_id: str, warning_at: float) -> Interruption:
    """A forced interruption: warning at ``warning_at``, reclaim two minutes later.

    The rebalance recommendation comes with the warning (AWS: it "can arrive along with" it), as when a
    fault-injection tool interrupts an instance without notice.
    """
    return Interruption(instance_id, warning_at, warning_at, warning_at + WARNING_S, forced=True)


class SpotInterruptions:
    """The timetable of spot notices for every instance; see the module docstring.

    ``mode`` decides whether ``on_launch`` plans anything; ``force`` works in every mode.
    """

    __slots__ = ("_planned", "_table", "mode", "seed", "unknown_bucket")

    def __init__(self, mode: str = NONE, seed: int = 0, unknown_bucket: int = 2) -> None:
        monthly_probability(None, unknown_bucket)  # validates the fallback bucket up front
        self.mode = NONE
        self.seed = 0
        self.configure(mode, seed)
        self.unknown_bucket = unknown_bucket
        self._table = Lifecycle()  # the same lazily-cancelled timetable the boot milestones use
        self._planned: dict[str, Interruption] = {}

    def configure(self, mode: str, seed: int) -> None:
        """Set the mode and seed for instances launched from now on (planned notices stay).

        Raises:
            InvalidInput: an unknown mode.
        """
        if mode not in MODES:
            raise InvalidInput(f"unknown spot interruption mode {mode!r}; valid: {', '.join(MODES)}",
                               field="spotInterruptions")
        self.mode = mode
        self.seed = seed

    def on_launch(self, instance_id: str, running_at: float, bucket: int | None) -> Interruption | None:
        """Plan a new spot instance's interruption (``advisor`` mode only); None when nothing is planned."""
        if self.mode != ADVISOR:
            return None
        plan = plan_interruption(self.seed, instance_id, running_at, bucket, self.unknown_bucket)
        if math.isinf(plan.warning_at):
            return None
        self._schedule(plan)
        return plan

    def force(self, instance_id: str, warning_at: float) -> Interruption:
        """Replace whatever was planned for the instance with a warning at ``warning_at``."""
        plan = forced_interruption(instance_id, warning_at)
        self._schedule(plan)
        return plan

    def cancel(self, instance_id: str) -> None:
        """Forget the instance's notices that have not been sent (it was terminated by other means)."""
        self._table.cancel(instance_id, KINDS)
        self._planned.pop(instance_id, None)

    def planned(self, instance_id: str) -> Interruption | None:
        """The instance's interruption, if one is planned and not cancelled."""
        return self._planned.get(instance_id)

    def due(self, now: float) -> list[Notice]:
        """Pop every notice with ``at <= now``, earliest first (same instant: rebalance, warning, reclaim)."""
        out = [Notice(t.what, t.instance_id, t.at) for t in self._table.due(now)]
        for n in out:
            if n.kind == INSTANCE_TERMINATED:
                self._planned.pop(n.instance_id, None)
        return out

    def next_at(self) -> float | None:
        """Time of the next notice, or None when none is planned."""
        return self._table.next_due()

    def _schedule(self, plan: Interruption) -> None:
        self.cancel(plan.instance_id)
        # Insertion order breaks ties, so a rebalance sent with the warning still comes first.
        self._table.schedule(plan.instance_id, {REBALANCE_RECOMMENDATION: plan.rebalance_at,
                                                SPOT_INTERRUPTED: plan.warning_at,
                                                INSTANCE_TERMINATED: plan.reclaim_at})
        self._planned[plan.instance_id] = plan
