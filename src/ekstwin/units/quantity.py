"""Exact Kubernetes resource quantities.

Parses the Kubernetes quantity grammar (``<sign><digits>[.<digits>][<suffix>]`` with binary suffixes
Ki..Ei, decimal SI suffixes n, u, m, k, M, G, T, P, E, or a decimal exponent ``e3``/``E-2``) into an
exact ``Fraction`` and converts it the way the API server does: ``Value()`` rounds up to a whole unit,
``MilliValue()`` rounds up to a thousandth. No floating point is involved anywhere.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

from ekstwin.errors import InvalidQuantity

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000), "": Fraction(1),
            "k": Fraction(10**3), "M": Fraction(10**6), "G": Fraction(10**9), "T": Fraction(10**12),
            "P": Fraction(10**15), "E": Fraction(10**18)}
_RE = re.compile(r"^([+-]?)(\d+\.?\d*|\.\d+)(?:(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)|[eE]([+-]?\d+))?$")

_cache: dict[str, Fraction] = {}


def parse(value: str | int | float) -> Fraction:
    """Parse a quantity into an exact Fraction of base units (cores, bytes, counts).

    Raises:
        InvalidQuantity: the text is not a Kubernetes quantity; the message names the bad part.
    """
    if isinstance(value, bool):
        raise InvalidQuantity(f"quantity must be a number or string, got boolean {value!r}")
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidQuantity(f"quantity {value!r} is not finite")
        return Fraction(str(value))
    if not isinstance(value, str):
        raise InvalidQuantity(f"quantity must be a number or string, got {type(value).__name__}")
    hit = _cache.get(value)
    if hit is not None:
        return hit
    text = value.strip()
    m = _RE.match(text)
    if m is None:
        raise InvalidQuantity(_explain(text))
    sign, number, suffix, exponent = m.groups()
    amount = Fraction(number)
    if exponent is not None:
        amount *= Fraction(10) ** int(exponent)
    elif suffix in _BINARY:
        amount *= _BINARY[suffix]
    else:
        amount *= _DECIMAL[suffix or ""]
    if sign == "-":
        amount = -amount
    if len(_cache) < 100_000:
        _cache[value] = amount
    return amount


def _explain(text: str) -> str:
    m = re.match(r"^[+-]?(\d+\.?\d*|\.\d+)(.*)$", text)
    if not m:
        return f"quantity {text!r} does not start with a number"
    return (f"quantity {text!r} has unknown suffix {m.group(2)!r} "
            "(expected one of Ki Mi Gi Ti Pi Ei, n u m k M G T P E, or an exponent like e3)")


def milli(value: str | int | float) -> int:
    """The quantity in thousandths, rounded up (Kubernetes ``MilliValue``); used for CPU."""
    return math.ceil(parse(value) * 1000)


def whole(value: str | int | float) -> int:
    """The quantity in whole base units, rounded up (Kubernetes ``Value``); used for memory, pods."""
    return math.ceil(parse(value))


def format_cpu(cpu_m: int) -> str:
    """Render millicores the way kubectl does: ``2`` for whole cores, ``1930m`` otherwise."""
    return str(cpu_m // 1000) if cpu_m % 1000 == 0 else f"{cpu_m}m"


def format_bytes(value: int) -> str:
    """Render bytes with the largest exact binary suffix (``1536Mi``, ``8Gi``), else ``Ki`` or bytes."""
    for suffix, size in (("Ei", 2**60), ("Pi", 2**50), ("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20),
                         ("Ki", 2**10)):
        if value != 0 and value % size == 0:
            return f"{value // size}{suffix}"
    return str(value)
