"""Layer 5: controllers — small reconcile functions over the store (one job each).

Each module exposes ``NAME``, ``WATCHES`` (which store events wake which keys) and
``reconcile(deps, key, now) -> Result``. ``manager.py`` binds ``deps`` and registers them with a driver;
controllers cannot tell whether the simulation or the real-time driver runs them.
"""
