"""``ekstwin explain``: why a node exists, what happened to it, and why it was (not) disrupted.

Rendered from a ``RunResult`` only (decisions, events and objects the run recorded), never recomputed.
"""

from __future__ import annotations

from typing import Any

from ekstwin.scenario.result import RunResult


def _names(result: RunResult, name: str) -> tuple[set[str], set[str]]:
    """The node names and NodeClaim names that refer to ``name`` (a node or a NodeClaim)."""
    nodes, claims = {name}, {name}
    for d in result.decisions:
        if d.get("node") in nodes or d.get("nodeclaim") in claims:
            if d.get("node"):
                nodes.add(str(d["node"]))
            if d.get("nodeclaim"):
                claims.add(str(d["nodeclaim"]))
    return nodes, claims


def _mentions(d: dict[str, Any], nodes: set[str], claims: set[str]) -> bool:
    return (d.get("node") in nodes or d.get("nodeclaim") in claims
            or any(n in nodes for n in d.get("nodes") or ()) or any(c in claims for c in d.get("replacements") or ()))


def explain_node(result: RunResult, name: str) -> list[str]:
    """Lines describing everything the run recorded about node (or NodeClaim) ``name``."""
    nodes, claims = _names(result, name)
    decisions = [d for d in result.decisions if _mentions(d, nodes, claims)]
    events = [e for e in result.events if (e.get("involvedObject") or {}).get("name") in nodes | claims]
    if not decisions and not events:
        return [f"nothing was recorded about {name!r} (nodes and NodeClaims are named in `ekstwin run` output)"]
    out = [f"node {', '.join(sorted(n for n in nodes if n != name) or [name])} / "
           f"nodeclaim {', '.join(sorted(c for c in claims if c != name) or [name])}", "", "decisions:"]
    for d in decisions:
        extra = f" ({d['why']})" if d.get("why") and d["why"] not in d["message"] else ""
        out.append(f"  {d['time']}  {d['kind']:<12} {d['message']}{extra}")
    out += ["", "events:"]
    for e in sorted(events, key=lambda e: (e.get("firstTimestamp", ""), e["metadata"]["name"])):
        kind = (e.get("involvedObject") or {}).get("kind", "")
        count = f" (x{e['count']})" if int(e.get("count", 1)) > 1 else ""
        out.append(f"  {e.get('lastTimestamp', '')}  {kind:<9} {e['reason']:<28} {e['message']}{count}")
    alive = [n for n in result.objects.get("nodes", []) if n["metadata"]["name"] in nodes]
    out += ["", "at the end: " + ("still running" if alive else "gone")]
    return out
