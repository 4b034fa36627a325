"""The EC2 instance-type catalog: what Karpenter knows about every type it may launch in a region.

* ``load_catalog(region, zones, seed=, settings=)`` builds a ``Catalog``: the Karpenter-eligible types
  offered in the chosen zones, each an ``InstanceType`` with Karpenter's well-known labels, capacity,
  kube-reserved, system-reserved, eviction threshold, allocatable and priced ``Offering``s per
  (zone, capacity type).
* ``capacity`` holds the Karpenter formulas and ``CapacitySettings`` (memory overhead, reserved ENIs,
  AMI family, kubelet overrides); ``pricing`` the on-demand table look-up and the seeded spot model.
* ``overrides`` applies a scenario's ``spec.cloud`` (custom types, discounts, prices) and ``reservations`` resolves
  its capacity reservations into ``Catalog.reservations``.
* ``Catalog.index`` is a ``CatalogIndex``: read-only numpy matrices (allocatable, capacity, prices per
  (capacity type, zone)) and cached label columns for vectorised filtering.
* ``query.rows`` renders types as plain dicts for reports and the CLI.

The data is the project's EC2 reference tables shipped as package data in ``catalog/data`` (see its
README); it is parsed once per process.
"""

from ekstwin.catalog.capacity import DEFAULT_SETTINGS, CapacitySettings
from ekstwin.catalog.catalog import Catalog, load_catalog
from ekstwin.catalog.index import CatalogIndex
from ekstwin.catalog.instance_types import ON_DEMAND, SPOT, InstanceType, Offering

__all__ = ["DEFAULT_SETTINGS", "ON_DEMAND", "SPOT", "CapacitySettings", "Catalog", "CatalogIndex",
           "InstanceType", "Offering", "load_catalog"]
