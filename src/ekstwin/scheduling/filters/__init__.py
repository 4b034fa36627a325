"""Filter plugins (hard constraints), one per module, each with ``NAME``, reason constants and ``filter``.

Called by ``registry``/``cycle``. Every ``filter(state, candidates)`` returns ``None`` (skip: all nodes
pass) or ``(status_ids, statuses)`` as described in ``framework``. Reasons are worded exactly as
kube-scheduler words them, because FailedScheduling messages are compared against real clusters.
"""
