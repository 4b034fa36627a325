"""The benchmark workload itself: Karpenter's five pod shapes, all placed, placements checked."""

from ekstwin.bench import karpenter_scheduling as bench


def test_the_workload_has_the_five_shapes_in_equal_parts() -> None:
    pods = bench.make_pods(500)
    assert sum(1 for p in pods if p.spread and p.spread[0].topology_key.endswith("zone")) == 100
    assert sum(1 for p in pods if p.anti_affinity) == 100
    assert sum(1 for p in pods if p.affinity) == 100


def test_a_small_run_places_every_pod_and_respects_the_lower_bound() -> None:
    metrics = bench.run(500)
    assert metrics["placed"] == 500
    assert metrics["price_per_hour"] >= metrics["lower_bound_per_hour"] > 0
    # each hostname-anti-affinity app (about 10 pods) needs its own node per pod
    assert metrics["nodes"] >= max(sum(1 for p in bench.make_pods(500) if p.labels["app"] == app)
                                   for app in {p.labels["app"] for p in bench.make_pods(500)
                                               if p.anti_affinity})
