"""Layer 3: time and execution, the only package that knows real time exists.

``clock`` (SimClock, WallClock), ``kernel`` (the event heap), ``reconcile`` (Result and the retry
errors controllers raise), ``workqueue`` (dedup + backoff), ``driver`` (the Driver protocol and Watch),
``sim_driver`` (SimDriver: controllers over the store in virtual time, as fast as possible).
"""
