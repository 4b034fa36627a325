"""Cron schedules as Karpenter reads them for NodePool disruption budgets.

Karpenter hands ``"TZ=UTC " + schedule`` to robfig/cron v3's standard parser, so this module accepts
exactly what that parser accepts and means the same by it:

* five fields, ``minute hour day-of-month month day-of-week``, split on any run of whitespace; no seconds
  field and no year field;
* in every field ``*`` or ``?`` (a synonym), numbers, ``a-b`` ranges, ``/step`` steps (``n/step`` runs from
  ``n`` to the field's maximum), comma lists (empty list items are skipped); month names ``jan``-``dec``
  and weekday names ``sun``-``sat`` in any letter case; day-of-week is 0-6 (``7`` is an error);
* day-of-month and day-of-week combine with OR, except when either field carries the "star" mark, then
  with AND. The mark comes from a ``*``/``?`` item whose step is at most 1, so ``*/2`` does not carry it
  and ``5,*`` does;
* the macros ``@yearly @annually @monthly @weekly @daily @midnight @hourly``, case-sensitive.

``@every <duration>`` is refused: robfig would accept it, but no such text can pass the NodePool schema
pattern and still parse, so Karpenter never evaluates one.

All times are UTC (naive datetimes are taken as UTC). Schedules fire at second 0 of each matching minute.
"""

from __future__ import annotations

import calendar
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from ekstwin.errors import InvalidInput

_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

_MONTH_NAMES = {name.lower(): i for i, name in enumerate(calendar.month_abbr) if name}
_WEEKDAY_NAMES = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}

# Go's strconv.Atoi: an optional sign, then ASCII digits.
_ATOI = re.compile(r"[+-]?[0-9]+")

# robfig gives up looking forward after the fifth calendar year past the start and returns its zero time.
_FORWARD_YEARS = 5
# Looking back, 8 years is the longest gap any satisfiable schedule has: a Feb-29-only schedule skips
# century years that are not leap years (2096 -> 2104).
_LOOKBACK_YEARS = 8

_MINUTE = timedelta(minutes=1)
_SECOND = timedelta(seconds=1)


@dataclass(frozen=True)
class _FieldSpec:
    name: str
    lo: int
    hi: int
    names: dict[str, int] | None = None


_FIELDS = (
    _FieldSpec("minute", 0, 59),
    _FieldSpec("hour", 0, 23),
    _FieldSpec("day-of-month", 1, 31),
    _FieldSpec("month", 1, 12, _MONTH_NAMES),
    _FieldSpec("day-of-week", 0, 6, _WEEKDAY_NAMES),
)


class _FieldError(Exception):
    """A problem inside one cron field; ``Cron.parse`` adds the field name and the whole text."""


@dataclass(frozen=True)
class Cron:
    """A parsed schedule. Build it with ``Cron.parse``; the value sets are sorted tuples."""

    text: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    """0 = Sunday."""
    days_and: bool
    """Day-of-month and day-of-week must both match (one of them carries the star mark); else either."""

    @classmethod
    def parse(cls, text: str) -> Cron:
        """Parse a 5-field cron line or a macro.

        Raises:
            InvalidInput: the text does not parse; the message names the offending field.
        """
        # Karpenter's "TZ=UTC " prefix makes robfig trim the schedule before looking at it.
        spec = text.strip()
        if spec.startswith("@"):
            spec = _expand_macro(text, spec)
        fields = spec.split()
        if len(fields) != len(_FIELDS):
            raise InvalidInput(_field_count_problem(text, len(fields)))
        parsed: list[tuple[frozenset[int], bool]] = []
        for raw, field in zip(fields, _FIELDS, strict=True):
            try:
                parsed.append(_parse_field(raw, field))
            except _FieldError as err:
                raise InvalidInput(f"invalid cron schedule {text!r}: {field.name} field {raw!r}: {err}") from None
        (minutes, _), (hours, _), (days, dom_star), (months, _), (weekdays, dow_star) = parsed
        return cls(text=text, minutes=tuple(sorted(minutes)), hours=tuple(sorted(hours)), days=days,
                   months=months, weekdays=weekdays, days_and=dom_star or dow_star)

    def __str__(self) -> str:
        return self.text

    def matches(self, t: datetime) -> bool:
        """Whether the schedule fires in the minute containing ``t`` (seconds are ignored)."""
        t = _utc(t)
        return t.minute in self.minutes and t.hour in self.hours and self._day_fires(t.date())

    def last_fire_at_or_before(self, t: datetime) -> datetime | None:
        """The latest firing instant ``<= t`` (UTC), or None if there is none within the look-back window.

        The window is 8 years, which holds at least one firing of every schedule that can fire at all.
        """
        t = _utc(t).replace(second=0, microsecond=0)
        if not self._can_fire():
            return None
        if self._day_fires(t.date()):
            hm = self._latest_time(t.hour, t.minute)
            if hm is not None:
                return _at(t.date(), hm)
        if t.date() == date.min:
            return None
        day = self._last_day_from(t.date() - timedelta(days=1), max(1, t.year - _LOOKBACK_YEARS))
        return None if day is None else _at(day, (self.hours[-1], self.minutes[-1]))

    def next_fire_after(self, t: datetime) -> datetime | None:
        """The earliest firing instant strictly after ``t`` (UTC), as robfig's ``Next`` finds it.

        Like robfig, the search gives up after the fifth calendar year past ``t``'s; None stands for the
        zero time it returns then (a schedule such as ``0 0 30 2 *`` never fires).
        """
        start = _utc(t).replace(microsecond=0) + _SECOND  # robfig starts at the next whole second
        last_year = min(start.year + _FORWARD_YEARS, date.max.year)
        first = start if start.second == 0 else start.replace(second=0) + _MINUTE
        if not self._can_fire() or first.year > last_year:
            return None
        if self._day_fires(first.date()):
            hm = self._earliest_time(first.hour, first.minute)
            if hm is not None:
                return _at(first.date(), hm)
        if first.date() == date.max:
            return None
        day = self._first_day_from(first.date() + timedelta(days=1), last_year)
        return None if day is None else _at(day, (self.hours[0], self.minutes[0]))

    # -- days -------------------------------------------------------------------------------------------

    def _can_fire(self) -> bool:
        # An all-commas field such as "," parses to an empty set; such a schedule never fires.
        return bool(self.minutes and self.hours and self.months)

    def _day_fires(self, d: date) -> bool:
        if d.month not in self.months:
            return False
        dom = d.day in self.days
        dow = d.isoweekday() % 7 in self.weekdays
        return (dom and dow) if self.days_and else (dom or dow)

    def _first_day_from(self, start: date, last_year: int) -> date | None:
        """The first firing day on or after ``start``, walking month by month up to ``last_year``."""
        for year, month, first, last in _months_forward(start, last_year):
            if month in self.months:
                for day in range(first, last + 1):
                    if self._day_fires(date(year, month, day)):
                        return date(year, month, day)
        return None

    def _last_day_from(self, start: date, first_year: int) -> date | None:
        """The last firing day on or before ``start``, walking month by month back to ``first_year``."""
        for year, month, last in _months_backward(start, first_year):
            if month in self.months:
                for day in range(last, 0, -1):
                    if self._day_fires(date(year, month, day)):
                        return date(year, month, day)
        return None

    # -- times of day -----------------------------------------------------------------------------------

    def _earliest_time(self, hour: int, minute: int) -> tuple[int, int] | None:
        """The earliest (hour, minute) of the schedule at or after ``hour:minute`` on one day."""
        for h in self.hours[bisect_left(self.hours, hour):]:
            if h > hour:
                return h, self.minutes[0]
            i = bisect_left(self.minutes, minute)
            if i < len(self.minutes):
                return h, self.minutes[i]
        return None

    def _latest_time(self, hour: int, minute: int) -> tuple[int, int] | None:
        """The latest (hour, minute) of the schedule at or before ``hour:minute`` on one day."""
        for h in reversed(self.hours[:bisect_right(self.hours, hour)]):
            if h < hour:
                return h, self.minutes[-1]
            i = bisect_right(self.minutes, minute)
            if i:
                return h, self.minutes[i - 1]
        return None


# ---------------------------------------------------------------------------------------------------------
# parsing


def _expand_macro(text: str, spec: str) -> str:
    if spec in _MACROS:
        return _MACROS[spec]
    if spec.startswith("@every"):
        raise InvalidInput(f"invalid cron schedule {text!r}: descriptor: @every is not supported "
                           "(a NodePool budget schedule cannot be an interval)")
    raise InvalidInput(f"invalid cron schedule {text!r}: descriptor: unknown macro {spec!r} "
                       f"(expected one of {', '.join(_MACROS)})")


def _field_count_problem(text: str, found: int) -> str:
    hint = " (a seconds field is not supported)" if found == len(_FIELDS) + 1 else ""
    return (f"invalid cron schedule {text!r}: expected 5 fields (minute hour day-of-month month "
            f"day-of-week), found {found}{hint}")


def _parse_field(raw: str, field: _FieldSpec) -> tuple[frozenset[int], bool]:
    """The values one field selects, and whether it carries the star mark."""
    values: set[int] = set()
    star = False
    for item in raw.split(","):
        if item:  # robfig skips empty list items ("1,,2", a trailing comma)
            item_values, item_star = _parse_item(item, field)
            values |= item_values
            star = star or item_star
    return frozenset(values), star


def _parse_item(item: str, field: _FieldSpec) -> tuple[frozenset[int], bool]:
    parts = item.split("/")
    if len(parts) > 2:
        raise _FieldError(f"{item!r} has more than one '/'")
    bounds = parts[0].split("-")
    star = bounds[0] in ("*", "?")
    if star:
        # robfig looks no further than the wildcard: "*-5" reads as "*".
        start, end = field.lo, field.hi
    elif len(bounds) > 2:
        raise _FieldError(f"{item!r} has more than one '-'")
    else:
        start = _value(bounds[0], field)
        end = _value(bounds[1], field) if len(bounds) == 2 else start
    step = 1
    if len(parts) == 2:
        step = _number(parts[1])
        if len(bounds) == 1:
            end = field.hi  # "n/step" runs to the field's maximum
        star = star and step <= 1
    _check_range(item, field, start, end, step)
    return frozenset(range(start, end + 1, step)), star


def _check_range(item: str, field: _FieldSpec, start: int, end: int, step: int) -> None:
    if start < field.lo:
        raise _FieldError(f"{start} is below the minimum {field.lo}")
    if end > field.hi:
        raise _FieldError(f"{end} is above the maximum {field.hi}")
    if start > end:
        raise _FieldError(f"range {item!r} starts at {start}, after its end {end}")
    if step == 0:
        raise _FieldError(f"step in {item!r} must be positive")


def _value(text: str, field: _FieldSpec) -> int:
    if field.names is not None and text.lower() in field.names:
        return field.names[text.lower()]
    return _number(text)


def _number(text: str) -> int:
    if not _ATOI.fullmatch(text):
        raise _FieldError(f"{text!r} is not a number")
    value = int(text)
    if value < 0:
        raise _FieldError(f"{text!r} is negative")
    return value


# ---------------------------------------------------------------------------------------------------------
# calendar walking


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _at(d: date, hm: tuple[int, int]) -> datetime:
    return datetime(d.year, d.month, d.day, hm[0], hm[1], tzinfo=UTC)


def _months_forward(start: date, last_year: int) -> Iterator[tuple[int, int, int, int]]:
    """(year, month, first day, last day) from ``start``'s month through December of ``last_year``."""
    year, month, first = start.year, start.month, start.day
    while year <= last_year:
        yield year, month, first, calendar.monthrange(year, month)[1]
        year, month, first = (year + 1, 1, 1) if month == 12 else (year, month + 1, 1)


def _months_backward(start: date, first_year: int) -> Iterator[tuple[int, int, int]]:
    """(year, month, last day) from ``start``'s month back through January of ``first_year``."""
    year, month, last = start.year, start.month, start.day
    while year >= first_year:
        yield year, month, last
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
        if year >= 1:
            last = calendar.monthrange(year, month)[1]
