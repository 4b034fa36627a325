"""Scale runs for `make bench` (excluded from `make test`): the issue's performance bars."""

import pytest

from ekstwin.bench import karpenter_scheduling as bench

pytestmark = pytest.mark.slow


def test_karpenter_scheduling_places_20k_diverse_pods_at_over_1000_pods_per_second() -> None:
    metrics = bench.run(20_000)
    assert metrics["placed"] == 20_000
    assert metrics["pods_per_second"] >= 1000
