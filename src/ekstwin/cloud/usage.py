"""Billed usage per clock hour: what a Savings Plan is applied to.

AWS applies Savings Plans hour by hour to the eligible usage of that hour. The EC2 emulator bills per second
(``ec2.billed_seconds``); this module cuts the same billed intervals into clock-hour buckets, per
``UsageKey`` (instance type, family, hourly rate), in USD at the on-demand rate.

Eligible usage is on-demand: instances launched on-demand and, for instances in an On-Demand Capacity
Reservation, the reservation itself (billed at the on-demand rate for every reserved slot, used or not, for as
long as it exists — AWS: "Capacity Reservations are charged at the equivalent On-Demand rate whether you run
instances in reserved capacity or not"; Savings Plans discounts apply to them). An instance in a reservation
therefore adds nothing of its own. Spot usage is not eligible: it is summed apart.

Cost: each interval adds to at most two partial buckets and marks its whole hours in a difference array, so a
window of H hours with N intervals costs O(N + H·keys), never one step per second or per instance-hour.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

HOUR_S = 3600.0


@dataclass(frozen=True, slots=True, order=True)
class UsageKey:
    """One kind of eligible usage: Savings Plans are priced and ordered per instance type (and rate)."""

    instance_type: str
    family: str
    rate: float
    """On-demand USD per instance-hour (after the account's price overrides and discounts)."""


@dataclass(frozen=True, slots=True)
class Interval:
    """``count`` instances of one ``UsageKey`` billed from ``start`` to ``end`` (virtual seconds)."""

    key: UsageKey
    start: float
    end: float
    count: int = 1
    min_billed_s: float = 0.0
    """Billed at least this long (EC2's 60-second minimum); the extra is charged in the first hour."""


@dataclass(frozen=True)
class HourlyUsage:
    """Eligible on-demand usage per clock hour of a window [0, end)."""

    end: float
    hour_lengths: tuple[float, ...]
    """Seconds of each bucket inside the window (3600, except a partial last hour)."""
    on_demand: dict[UsageKey, tuple[float, ...]]
    """USD at the on-demand rate per bucket."""
    spot_usd: float
    """Spot usage over the whole window (never covered by a Savings Plan)."""

    @property
    def on_demand_usd(self) -> float:
        """Eligible usage of the whole window at on-demand rates."""
        return sum(sum(v) for v in self.on_demand.values())


def hour_lengths(end: float) -> tuple[float, ...]:
    """Bucket lengths of the window [0, end): whole hours, then the rest."""
    if end <= 0:
        return ()
    n = math.ceil(end / HOUR_S)
    return tuple(min(HOUR_S, end - h * HOUR_S) for h in range(n))


def bucket(intervals: Iterable[Interval], end: float, spot_usd: float = 0.0) -> HourlyUsage:
    """Cut ``intervals`` (clipped to [0, end)) into clock-hour buckets per key."""
    lengths = hour_lengths(end)
    n = len(lengths)
    seconds: dict[UsageKey, list[float]] = {}
    starts: dict[UsageKey, list[int]] = {}  # difference array of whole hours, per key
    for iv in intervals:
        if iv.start >= end or iv.count <= 0:
            continue  # not billed yet
        start, stop = max(0.0, iv.start), min(end, iv.end)
        secs = seconds.setdefault(iv.key, [0.0] * n)
        diff = starts.setdefault(iv.key, [0] * (n + 1))
        h0 = int(start // HOUR_S)
        if stop > start:
            h1 = math.ceil(stop / HOUR_S) - 1  # the bucket holding the last billed instant
            if h0 == h1:
                secs[h0] += (stop - start) * iv.count
            else:
                secs[h0] += ((h0 + 1) * HOUR_S - start) * iv.count
                secs[h1] += (stop - h1 * HOUR_S) * iv.count
                diff[h0 + 1] += iv.count
                diff[h1] -= iv.count
        extra = iv.min_billed_s - max(0.0, stop - start)
        if extra > 0:
            secs[h0] += extra * iv.count
    usage: dict[UsageKey, tuple[float, ...]] = {}
    for key, secs in seconds.items():
        diff, running, out = starts[key], 0, []
        for h in range(n):
            running += diff[h]
            out.append((secs[h] + running * HOUR_S) * key.rate / HOUR_S)
        usage[key] = tuple(out)
    return HourlyUsage(end, lengths, usage, spot_usd)
