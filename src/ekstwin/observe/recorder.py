"""Kubernetes Events, Karpenter-style JSON log lines, decision records and metric counters.

Events are written to the store as core/v1 ``Event`` objects (so the API can serve them) and de-duplicated
the way client-go's recorder does: the same (object, reason, message) bumps ``count`` and
``lastTimestamp`` instead of adding a new event. Log lines mimic Karpenter's zap JSON output. Everything
is timestamped from the simulation clock, never the wall clock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from ekstwin.store.store import Store

Obj = dict[str, Any]


class Recorder:
    """Collects events, logs and decisions for one run."""

    def __init__(self, store: Store, now: Callable[[], float]) -> None:
        self.store = store
        self.now = now
        self.logs: list[Obj] = []
        self.decisions: list[Obj] = []
        self.metrics: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
        self.gauges: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self.summaries: dict[tuple[str, tuple[tuple[str, str], ...]], list[float]] = {}
        self.series: list[Obj] = []
        self._events: dict[tuple[str, str, str, str], str] = {}
        self._seq = 0

    def event(self, obj: Obj, type_: str, reason: str, message: str, component: str = "karpenter") -> None:
        """Record a Kubernetes Event about ``obj`` (de-duplicated by object, reason and message)."""
        meta = obj["metadata"]
        involved = {"apiVersion": obj.get("apiVersion", "v1"), "kind": obj["kind"], "name": meta["name"],
                    "uid": meta.get("uid", "")}
        ns = meta.get("namespace")
        if ns:
            involved["namespace"] = ns
        key = (involved["kind"], meta.get("uid", meta["name"]), reason, message)
        ts = self.store.format_time()
        existing = self._events.get(key)
        if existing is not None:
            ev = self.store.try_get("Event", existing, ns or "default")
            if ev is not None:
                self.store.update({**ev, "count": int(ev.get("count", 1)) + 1, "lastTimestamp": ts})
                return
        self._seq += 1
        name = f"{meta['name']}.{self._seq:08x}"
        self.store.create({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": ns or "default"},
            "involvedObject": involved, "type": type_, "reason": reason, "message": message, "count": 1,
            "firstTimestamp": ts, "lastTimestamp": ts, "source": {"component": component},
            "reportingComponent": component,
        })
        self._events[key] = name

    def log(self, controller: str, message: str, level: str = "INFO", **fields: Any) -> None:
        """Append one Karpenter-style structured log line."""
        line: Obj = {"level": level, "time": self.store.format_time(), "logger": "controller",
                     "message": message, "commit": "ekstwin", "controller": controller}
        line.update(fields)
        self.logs.append(line)

    def decide(self, kind: str, message: str, **fields: Any) -> None:
        """Record a decision with its reason (rendered in reports, never recomputed)."""
        self.decisions.append({"time": self.store.format_time(), "t": round(self.now(), 3), "kind": kind,
                               "message": message, **fields})

    def count(self, metric: str, value: int = 1, **labels: str) -> None:
        """Increment a Prometheus-style counter (Karpenter's metric names)."""
        self.metrics[(metric, tuple(sorted(labels.items())))] += value

    def gauge(self, metric: str, value: float, **labels: str) -> None:
        """Set a Prometheus-style gauge to its current value."""
        self.gauges[(metric, tuple(sorted(labels.items())))] = value

    def observe(self, metric: str, value: float, **labels: str) -> None:
        """Add one observation to a Prometheus-style summary (e.g. pod startup seconds)."""
        self.summaries.setdefault((metric, tuple(sorted(labels.items()))), []).append(value)

    def sample(self, metric: str, value: float, **labels: str) -> None:
        """Record a gauge's value at the current simulated time (the time series in ``--json``)."""
        self.gauge(metric, value, **labels)
        self.series.append({"t": round(self.now(), 3), "name": metric, "labels": labels, "value": value})

    def metric_samples(self) -> list[Obj]:
        """Counters, gauges (last value) and summaries (count, sum, quantiles) as a sorted list."""
        merged: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {**self.gauges, **self.metrics}
        out: list[Obj] = [{"name": n, "labels": dict(lbl), "value": v} for (n, lbl), v in sorted(merged.items())]
        for (n, lbl), values in sorted(self.summaries.items()):
            ordered = sorted(values)
            quantiles = {q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] for q in (0.5, 0.9, 0.99)}
            out.append({"name": n, "labels": dict(lbl), "count": len(values), "sum": round(sum(values), 6),
                        "quantiles": {str(q): round(v, 6) for q, v in quantiles.items()}})
        return out
