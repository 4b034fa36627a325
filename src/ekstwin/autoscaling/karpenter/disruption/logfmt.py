"""Karpenter's decision log line ("disrupting ...") in the shape each version printed it (spec 7.12)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ekstwin.autoscaling.karpenter.disruption.methods import version_tuple
from ekstwin.autoscaling.karpenter.disruption.types import Command
from ekstwin.autoscaling.karpenter.instancetypes import TypeTable
from ekstwin.autoscaling.karpenter.scheduler import PlannedClaim
from ekstwin.model import requirements as rq

_V1BETA1_METHOD = {"emptiness": "emptiness", "drift": "drift", "multi": "consolidation", "single": "consolidation"}


def type_list(names: Sequence[str]) -> str:
    """First five names, then `` and N other(s)`` (Karpenter's instance-type list helper)."""
    shown = ", ".join(names[:5])
    return f"{shown} and {len(names) - 5} other(s)" if len(names) > 5 else shown


def _capacity(claim: PlannedClaim) -> str | None:
    r = claim.requirements.get_or_exists(rq.CAPACITY_TYPE)
    spot, od = r.has("spot"), r.has("on-demand")
    return "spot" if spot and not od else "on-demand" if od and not spot else None


def _replacing(cmd: Command, table: TypeTable) -> str:
    if not cmd.replacements:
        return ""
    if len(cmd.replacements) == 1:
        claim = cmd.replacements[0]
        ct = _capacity(claim)
        names = [table.names[i] for i in claim.options]
        what = f"{ct} node" if ct else "node"
        return f" and replacing with {what} from types {type_list(names)}"
    spot = sum(1 for c in cmd.replacements if _capacity(c) == "spot")
    names = sorted({table.names[i] for c in cmd.replacements for i in c.options})
    return (f" and replacing with {spot} spot and {len(cmd.replacements) - spot} on-demand, "
            f"from types {type_list(names)}")


def decision_log(cmd: Command, table: TypeTable, version: str, command_id: str) -> tuple[str, dict[str, Any]]:
    """(message, structured fields) for the decision, as ``version`` of Karpenter logs it."""
    v = version_tuple(version)
    nodes = ", ".join(c.describe() for c in cmd.candidates)
    pods = sum(len(c.pods) for c in cmd.candidates)
    n = len(cmd.candidates)
    if v < (0, 37):
        return (f"disrupting via {_V1BETA1_METHOD[cmd.method]} {cmd.decision}, terminating {n} candidates {nodes}"
                f"{_replacing(cmd, table)}", {})
    if v < (1, 0):
        return (f"disrupting via {_V1BETA1_METHOD[cmd.method]} {cmd.decision}, terminating {n} nodes ({pods} pods) "
                f"{nodes}{_replacing(cmd, table)}", {})
    if v < (1, 3):
        return (f"disrupting nodeclaim(s) via {cmd.decision}, terminating {n} nodes ({pods} pods) {nodes}"
                f"{_replacing(cmd, table)}", {"command-id": command_id, "reason": cmd.reason.lower()})
    replacements: list[dict[str, Any]] = []
    for claim in cmd.replacements:
        entry: dict[str, Any] = {"capacity-type": _capacity(claim) or "spot, on-demand"}
        if len(cmd.replacements) == 1:
            entry["instance-types"] = type_list([table.names[i] for i in claim.options])
        replacements.append(entry)
    return ("disrupting node(s)", {
        "command-id": command_id, "reason": cmd.reason.lower(), "decision": cmd.decision,
        "disrupted-node-count": n, "replacement-node-count": len(cmd.replacements), "pod-count": pods,
        "disrupted-nodes": [{"Node": {"name": c.node}, "NodeClaim": {"name": c.nodeclaim},
                             "instance-type": c.instance_type, "capacity-type": c.capacity_type}
                            for c in cmd.candidates],
        "replacement-nodes": replacements})
