"""kube-scheduler semantics: filters, scores and one scheduling cycle over a node snapshot.

Called by the scheduler controller (``controllers/scheduler.py``, which binds pending pods) and by the
autoscalers' what-if simulations (will this pod fit on that node or template?). Typical use::

    snap = snapshot.Snapshot.build(node_dicts, pod_dicts)
    decision = cycle.schedule_one(pod_info, snap, registry.default_profile(), rngs.stream("scheduler"))
    if decision.node is not None:
        snap.assume(pod_info, decision.node)

This package must not read or write the store, read a clock, or use global randomness: it gets values
(nodes, pods, a seeded ``random.Random``) and returns values (``Decision``, ``Status``). Module map:
``framework`` (codes, statuses, cycle state), ``snapshot`` (NodeInfo, Snapshot), ``filters/`` and
``scores/`` (one plugin per module), ``topology`` (domain arithmetic), ``registry`` (profiles), ``cycle``.
"""
