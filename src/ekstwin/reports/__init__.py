"""Reports of a scenario run (``ekstwin.scenario.result.RunResult``), layer 6 above ``scenario``.

* ``text.render(result, console)`` prints kubectl-shaped tables and Karpenter-shaped logs with rich.
* ``json_report.to_json`` / ``dumps`` give the machine-readable contract of ``ekstwin run --json``.

``text`` is not imported here: it needs rich, which only the ``cli`` extra installs.
"""
