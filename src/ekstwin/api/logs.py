"""The pod ``log`` subresource: ``GET /api/v1/namespaces/{ns}/pods/{name}/log`` as plain text.

The lines come from a provider (``PodLogs``): ``ekstwin serve`` gives the twin's Karpenter log lines for the
Karpenter controller's pod and nothing for every other pod (the twin runs no containers). Query parameters:
``tailLines`` (the last N lines), ``timestamps`` (each line prefixed with its RFC 3339 time and a space, as
the kubelet does), ``follow`` (keep the response open and send new lines as the provider gains them, until
the client goes away, the pod is deleted or ``follow_timeout`` wall seconds pass). ``container``,
``previous``, ``sinceSeconds``, ``sinceTime`` and ``limitBytes`` are accepted and ignored.

A line's time is its own ``time`` field when the line is a JSON object that has one (Karpenter's lines do,
in simulated time); otherwise the store's current simulated time.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Mapping

from ekstwin.api import status as st

PodLogs = Callable[[str, str], list[str]]
"""``(namespace, pod name) -> lines`` in print order, without newlines; the list only ever grows."""

FOLLOW_POLL_S = 0.1
"""Wall seconds between looks for new lines while following."""


def tail_lines(params: Mapping[str, str]) -> int | None:
    """``tailLines`` as a non-negative int, None when absent; 400 when it is not a number."""
    raw = params.get("tailLines")
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise st.bad_request(f'tailLines: invalid value "{raw}": must be an integer') from None
    if value < 0:
        raise st.bad_request(f"tailLines: Invalid value: {value}: must be greater than or equal to 0")
    return value


def flag(params: Mapping[str, str], name: str) -> bool:
    return params.get(name, "").lower() in ("1", "true")


def select(lines: list[str], tail: int | None) -> list[str]:
    if tail is None:
        return lines
    return lines[len(lines) - tail:] if tail else []


def render(lines: list[str], *, timestamps: bool, now: Callable[[], str]) -> str:
    """The response text: one line per entry, each ending in a newline, optionally time-prefixed."""
    if timestamps:
        return "".join(f"{_nano(line_time(line) or now())} {line}\n" for line in lines)
    return "".join(f"{line}\n" for line in lines)


def line_time(line: str) -> str | None:
    """The ``time`` field of a JSON-object line, if it has a string one."""
    if not line.startswith("{"):
        return None
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    value = obj.get("time") if isinstance(obj, dict) else None
    return value if isinstance(value, str) else None


def _nano(ts: str) -> str:
    """RFC 3339 at whole seconds (``...:05Z``) as the kubelet's RFC3339Nano (``...:05.000000000Z``)."""
    if ts.endswith("Z") and "." not in ts:
        return ts[:-1] + ".000000000Z"
    return ts


async def follow(provider: PodLogs, namespace: str, name: str, *, tail: int | None, timestamps: bool,
                 now: Callable[[], str], pod_exists: Callable[[], bool], timeout_s: float,
                 poll_s: float = FOLLOW_POLL_S) -> AsyncIterator[bytes]:
    """The chunks of a ``follow=true`` response: the selected lines, then every new one as it appears."""
    lines = provider(namespace, name)
    sent = len(lines)
    first = render(select(lines, tail), timestamps=timestamps, now=now)
    if first:
        yield first.encode()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline and pod_exists():
        await asyncio.sleep(poll_s)
        lines = provider(namespace, name)
        if len(lines) > sent:
            yield render(lines[sent:], timestamps=timestamps, now=now).encode()
            sent = len(lines)
