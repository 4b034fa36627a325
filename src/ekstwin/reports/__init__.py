"""Reports of a scenario run: the ``RunResult`` contract, the terminal report and the JSON report.

* ``result.RunResult`` is what ``run_scenario`` returns: final objects, events, logs, decisions, summary.
* ``text.render(result, console)`` prints kubectl-shaped tables and Karpenter-shaped logs with rich.
* ``json_report.to_json`` / ``dumps`` give the machine-readable contract of ``ekstwin run --json``.
* ``durations`` parses Go durations (``4m``) and formats them, and kubectl ages (``5m3s``).

``text`` is not imported here: it needs rich, which only the ``cli`` extra installs, while the
simulator imports ``RunResult`` from this package.
"""

from ekstwin.reports.durations import format_age, format_duration, parse_duration
from ekstwin.reports.json_report import dumps, to_json
from ekstwin.reports.result import RunResult, timestamp

__all__ = ["RunResult", "dumps", "format_age", "format_duration", "parse_duration", "timestamp", "to_json"]
