"""Durations as people write them in scenarios and read them in reports.

``parse_duration`` accepts Go's ``time.ParseDuration`` syntax (``90s``, ``1h30m``, ``1.5h``, ``500ms``),
because that is what Karpenter fields such as ``consolidateAfter`` and ``expireAfter`` use, so a scenario
reads the same as the manifests it drives. ``format_duration`` writes the shortest text that parses back
to the same value. ``format_age`` is kubectl's AGE / LAST SEEN column (apimachinery ``HumanDuration``),
which deliberately loses precision as durations grow.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from ekstwin.errors import InvalidInput

_NS_PER_UNIT = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 MICRO SIGN, as Go accepts
    "μs": 1_000,  # U+03BC GREEK SMALL LETTER MU, as Go accepts
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
# Longer units first so "ms" is not read as "m" followed by garbage.
_UNIT = "|".join(sorted(_NS_PER_UNIT, key=len, reverse=True))
_PART = re.compile(rf"(\d+\.?\d*|\.\d+)({_UNIT})")
_WHOLE = re.compile(rf"[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:{_UNIT}))+")

NS_PER_S = 1_000_000_000
_NS_PER_MIN = 60 * NS_PER_S
_NS_PER_HOUR = 60 * _NS_PER_MIN


def parse_duration(text: str) -> float:
    """Seconds in a Go duration string (``"4m"`` → 240.0).

    Raises:
        InvalidInput: the text is not a Go duration; the message quotes it.
    """
    s = text.strip()
    if s in ("0", "+0", "-0"):
        return 0.0
    if not _WHOLE.fullmatch(s):
        raise InvalidInput(f"invalid duration {text!r} (expected e.g. 90s, 4m, 1h30m, 1.5h, 500ms)")
    ns = sum(_part_ns(m.group(1), m.group(2)) for m in _PART.finditer(s))
    return (-ns if s.startswith("-") else ns) / NS_PER_S


def _part_ns(number: str, unit: str) -> int:
    # Decimal keeps "0.1h" exact; Go truncates below a nanosecond, and so do we.
    try:
        return int(Decimal(number) * _NS_PER_UNIT[unit])
    except InvalidOperation:  # pragma: no cover - the regex only lets digits through
        raise InvalidInput(f"invalid number {number!r} in duration") from None


def format_duration(seconds: float) -> str:
    """Compact Go-style text: ``"4m"``, ``"1h2m3s"``, ``"1.5s"``, ``"500ms"``, ``"0s"``.

    Zero components are left out (Go would print ``4m0s``) because reports read better without them;
    the result still parses back with ``parse_duration``.
    """
    ns = round(seconds * NS_PER_S)
    if ns < 0:
        return "-" + format_duration(-seconds)
    if ns == 0:
        return "0s"
    if ns < NS_PER_S:
        return _sub_second(ns)
    hours, rest = divmod(ns, _NS_PER_HOUR)
    minutes, rest = divmod(rest, _NS_PER_MIN)
    out = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    return out + (_decimal(rest, NS_PER_S) + "s" if rest else "")


def _sub_second(ns: int) -> str:
    for unit, size in (("ms", 1_000_000), ("us", 1_000)):
        if ns >= size:
            return _decimal(ns, size) + unit
    return f"{ns}ns"


def _decimal(value: int, unit: int) -> str:
    """``value / unit`` written exactly, without trailing zeros (1500, 1000 → "1.5")."""
    whole, frac = divmod(value, unit)
    if not frac:
        return str(whole)
    digits = len(str(unit)) - 1
    return f"{whole}.{frac:0{digits}d}".rstrip("0")


def format_age(seconds: float) -> str:
    """kubectl's human age: exact while small, coarser as it grows (``45s``, ``5m3s``, ``2d3h``).

    Follows apimachinery ``HumanDuration``: up to 1s of clock skew in the future reads as ``0s``,
    more than that as ``<invalid>``.
    """
    secs = int(seconds)  # truncates toward zero, as Go's int(d.Seconds()) does
    if secs < -1:
        return "<invalid>"
    if secs < 0:
        return "0s"
    if secs < 120:
        return f"{secs}s"
    minutes = secs // 60
    if minutes < 10:
        return _two_units(minutes, "m", secs % 60, "s")
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return _two_units(hours, "h", minutes % 60, "m")
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if days < 8:
        return _two_units(days, "d", hours % 24, "h")
    if days < 365 * 2:
        return f"{days}d"
    years = days // 365
    if years < 8:
        return _two_units(years, "y", days % 365, "d")
    return f"{years}y"


def _two_units(big: int, big_unit: str, small: int, small_unit: str) -> str:
    return f"{big}{big_unit}{small}{small_unit}" if small else f"{big}{big_unit}"
