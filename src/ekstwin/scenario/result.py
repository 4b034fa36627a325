"""What a scenario run hands to the reports: the final cluster state and what was said along the way.

Everything is plain Kubernetes-shaped data (dicts as ``kubectl get -o json`` would show them) so the
text and JSON reports need nothing from the simulator, and a test can build a result by hand.
Timestamps inside objects, events and logs are RFC3339 strings of the simulated wall clock
(``epoch`` + simulated seconds); ``timestamp`` produces them the way the reports read them back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

KINDS = ("nodes", "nodeclaims", "pods", "nodepools", "ec2nodeclasses", "deployments", "replicasets",
         "daemonsets", "poddisruptionbudgets", "namespaces")
"""Keys of ``RunResult.objects`` the reports know about (plural, lowercase, as ``kubectl get`` takes)."""


@dataclass
class RunResult:
    """The outcome of one scenario run (filled by ``ekstwin.scenario.run.run_scenario``)."""

    name: str
    """Scenario name."""
    time_s: float
    """Simulated seconds at the end of the run."""
    epoch: datetime
    """Wall-clock instant of simulated t=0 (UTC)."""
    objects: dict[str, list[dict[str, Any]]]
    """Plural lowercase kind (see ``KINDS``) → objects as Kubernetes-shaped dicts."""
    events: list[dict[str, Any]]
    """core/v1 Event dicts: type, reason, message, count, involvedObject, first/lastTimestamp, source."""
    logs: list[dict[str, Any]]
    """Karpenter-style JSON log lines as dicts, keys in the order they should print."""
    decisions: list[dict[str, Any]]
    """Recorded decisions: free-form dicts with at least "time" (seconds), "kind" and "message"."""
    report: dict[str, Any] = field(default_factory=dict)
    """The scenario's ``spec.report`` settings (which sections to show); empty means everything."""
    summary: dict[str, Any] = field(default_factory=dict)
    """Headline numbers, e.g. cost_usd, price_per_hour, nodes, pods_running, pods_pending."""

    @property
    def end(self) -> datetime:
        """The simulated wall-clock instant the run ended at."""
        return at(self.epoch, self.time_s)


def at(epoch: datetime, seconds: float) -> datetime:
    """``epoch`` + simulated seconds, as an aware UTC datetime (a naive epoch is taken as UTC)."""
    base = epoch if epoch.tzinfo is not None else epoch.replace(tzinfo=UTC)
    return base.astimezone(UTC) + timedelta(seconds=seconds)


def rfc3339(instant: datetime, *, micro: bool = False) -> str:
    """Kubernetes' timestamp text: ``2024-01-01T00:04:00Z`` (``micro`` for MicroTime fields)."""
    utc = instant.astimezone(UTC) if instant.tzinfo is not None else instant
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if micro else "%Y-%m-%dT%H:%M:%SZ"
    return utc.strftime(fmt)


def timestamp(epoch: datetime, seconds: float, *, micro: bool = False) -> str:
    """RFC3339 text of simulated time ``seconds`` (what objects, events and logs should carry)."""
    return rfc3339(at(epoch, seconds), micro=micro)


def parse_timestamp(text: object) -> datetime | None:
    """An RFC3339 timestamp as an aware datetime; None when absent or unreadable (kubectl's "zero time")."""
    if not isinstance(text, str) or not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
