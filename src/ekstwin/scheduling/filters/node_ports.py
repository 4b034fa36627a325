"""NodePorts: the pod's ``hostPort``s (with protocol and hostIP) must be free on the node."""

from __future__ import annotations

import numpy as np

from ekstwin.scheduling import framework

NAME = "NodePorts"
REASON = "node(s) didn't have free ports for the requested pod ports"
FAILED = framework.Status(framework.Code.UNSCHEDULABLE, (REASON,), NAME)


def filter(state: framework.CycleState, candidates: framework.BoolArray) -> framework.FilterResult:
    """Fail candidate nodes where any wanted host port is taken (0.0.0.0 clashes with every IP)."""
    wanted = state.pod.host_ports
    if not wanted:
        return None
    nodes = state.snapshot.nodes
    ids = np.zeros(len(nodes), dtype=np.int64)
    # per-node Python work, so only for nodes the cheaper filters left in play
    for i in np.flatnonzero(candidates):
        node = nodes[i]
        if node.used_ports and any(node.port_conflict(ip, proto, port) for port, proto, ip in wanted):
            ids[i] = 1
    return ids, (FAILED,)
