"""ekstwin: a fast, faithful digital twin of an Amazon EKS cluster's compute layer.

The curated public API (everything else is internal and may change):

* ``run_scenario(path, until=None, seed=None)`` → ``RunResult``: run a scenario file to its horizon.
* ``load_scenario(path)`` → ``Scenario``: load and validate a scenario without running it.
* ``load_catalog(region, zones=None, seed=0)`` → ``Catalog``: the bundled EC2 catalog of a region.
* ``Twin.from_scenario(path, seed=None)`` → ``Twin``: step through Karpenter's decisions
  (``provision_once``, ``disrupt_once``, ``advance``, ``now``, ``objects``, ``decisions``).
* ``EkstwinError`` / ``InvalidInput`` / ``InvalidScenario``: the errors bad input raises.

Names are imported lazily so ``import ekstwin`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ekstwin.errors import EkstwinError, InvalidInput, InvalidScenario

if TYPE_CHECKING:
    from ekstwin.catalog.catalog import Catalog, load_catalog
    from ekstwin.scenario.config import Scenario
    from ekstwin.scenario.loader import load_scenario
    from ekstwin.scenario.result import RunResult
    from ekstwin.scenario.run import run_scenario
    from ekstwin.twin import Twin

__version__ = "0.1.0"
__all__ = ["Catalog", "EkstwinError", "InvalidInput", "InvalidScenario", "RunResult", "Scenario", "Twin",
           "__version__", "load_catalog", "load_scenario", "run_scenario"]

_LAZY = {
    "run_scenario": ("ekstwin.scenario.run", "run_scenario"),
    "load_scenario": ("ekstwin.scenario.loader", "load_scenario"),
    "Scenario": ("ekstwin.scenario.config", "Scenario"),
    "RunResult": ("ekstwin.scenario.result", "RunResult"),
    "load_catalog": ("ekstwin.catalog.catalog", "load_catalog"),
    "Catalog": ("ekstwin.catalog.catalog", "Catalog"),
    "Twin": ("ekstwin.twin", "Twin"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'ekstwin' has no attribute {name!r}")
