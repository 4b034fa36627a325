"""Score plugins (soft preferences), one per module, each with ``NAME`` and ``score``.

Called by ``registry``/``cycle``. ``score(state, feasible)`` gets the indices of the feasible nodes and
returns their scores already normalized to 0–100 (the plugin's NormalizeScore included), or ``None``
for Skip. Integer arithmetic follows kube-scheduler's int64 formulas (truncating division), and the
few float formulas use float64 like Go, so scores match the real scheduler exactly.
"""
