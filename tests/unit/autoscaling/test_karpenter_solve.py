"""Pins of Karpenter's provisioning scheduling simulation (kubernetes-sigs/karpenter provisioning/scheduling)."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.factories import ON_DEMAND_CMR, pod, table, template

from ekstwin.autoscaling.karpenter.scheduler import ExistingNode, pod_order, solve, template_domains
from ekstwin.model import requirements as rq
from ekstwin.model import taints as tn
from ekstwin.units.resources import Resources

SEED_POOL = [{"key": rq.CAPACITY_TYPE, "operator": "In", "values": ["spot"]},
             {"key": "karpenter.k8s.aws/instance-category", "operator": "In", "values": ["c", "m", "r"]},
             {"key": "karpenter.k8s.aws/instance-size", "operator": "NotIn",
              "values": ["nano", "micro", "small", "medium"]},
             {"key": "karpenter.k8s.aws/instance-hypervisor", "operator": "In", "values": ["nitro"]}]


def names(region: str, claim_options: np.ndarray) -> list[str]:
    return [table(region).names[i] for i in claim_options]


def test_pods_are_queued_by_cpu_then_memory_descending_then_creation() -> None:
    a, b, c = pod("1", "1Gi", created="t2"), pod("2", "1Gi", created="t3"), pod("1", "2Gi", created="t1")
    d = pod("1", "1Gi", created="t1")
    assert sorted([a, b, c, d], key=pod_order) == [b, c, d, a]


def test_five_inflate_pods_share_one_nodeclaim_of_8_vcpu_or_more() -> None:
    tpl = template(requirements=SEED_POOL, labels={"intent": "apps"}, region="eu-west-1",
                   overhead=Resources.parse({"cpu": "125m", "pods": 3}))
    pods = [pod("1", "1.5Gi", nodeSelector={"intent": "apps"}) for _ in range(5)]
    result = solve(pods, table("eu-west-1"), [tpl])
    assert len(result.new_claims) == 1 and len(result.new_claims[0].pods) == 5
    claim = result.new_claims[0]
    assert claim.requests == Resources.parse({"cpu": "5125m", "memory": "7680Mi", "pods": 8})
    cheapest = table("eu-west-1").types[int(claim.options[0])]
    assert cheapest.labels["karpenter.k8s.aws/instance-size"] == "2xlarge"
    assert cheapest.labels["karpenter.k8s.aws/instance-category"] in {"c", "m", "r"}


def test_options_are_price_ordered_and_cut_to_60() -> None:
    tpl = template(requirements=ON_DEMAND_CMR)
    result = solve([pod("1", "1Gi")], table(), [tpl])
    claim = result.new_claims[0]
    _, price = table().offering_mask(claim.requirements)
    prices = [price[i] for i in claim.options]
    assert len(claim.options) == 60
    assert prices == sorted(prices)


def test_an_existing_node_with_room_is_used_before_a_new_nodeclaim() -> None:
    node = ExistingNode("node-a", rq.Requirements.from_labels({rq.HOSTNAME: "node-a", "intent": "apps"}), (),
                        Resources.parse({"cpu": "4", "memory": "16Gi", "pods": 10}), Resources())
    result = solve([pod("1", "1Gi", nodeSelector={"intent": "apps"})], table(),
                   [template(requirements=ON_DEMAND_CMR, labels={"intent": "apps"})], [node])
    assert not result.new_claims and [p.name for p in result.existing["node-a"]]


def test_an_existing_node_without_room_is_skipped() -> None:
    node = ExistingNode("node-a", rq.Requirements.from_labels({rq.HOSTNAME: "node-a"}), (),
                        Resources.parse({"cpu": "500m", "memory": "16Gi", "pods": 10}), Resources())
    result = solve([pod("1", "1Gi")], table(), [template(requirements=ON_DEMAND_CMR)], [node])
    assert len(result.new_claims) == 1 and not result.existing


def test_higher_weight_nodepool_is_tried_first() -> None:
    low, high = template("a-low", ON_DEMAND_CMR, weight=1), template("b-high", ON_DEMAND_CMR, weight=50)
    result = solve([pod()], table(), [high, low])
    assert result.new_claims[0].template.nodepool == "b-high"


def test_nodepool_taint_blocks_pods_that_do_not_tolerate_it() -> None:
    tainted = template("gpu", ON_DEMAND_CMR, taints=(tn.Taint("dedicated", "gpu", tn.NO_SCHEDULE),))
    result = solve([pod()], table(), [tainted])
    assert not result.new_claims and "did not tolerate dedicated=gpu:NoSchedule" in next(iter(result.errors.values()))
    tolerant = pod(tolerations=[{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}])
    assert solve([tolerant], table(), [tainted]).new_claims


def test_limits_exclude_types_bigger_than_the_remaining_capacity() -> None:
    tpl = template(requirements=ON_DEMAND_CMR, limits={"cpu": 8000})
    result = solve([pod("1", "1Gi")], table(), [tpl])
    claim = result.new_claims[0]
    assert max(table().capacity[claim.options, 0]) <= 8000
    assert any("excluded because they would breach limits" in m for m in result.messages)


def test_exhausted_limits_give_karpenters_error() -> None:
    tpl = template(requirements=ON_DEMAND_CMR, limits={"cpu": 0})
    result = solve([pod()], table(), [tpl])
    assert next(iter(result.errors.values())) == 'all available instance types exceed limits for nodepool: "default"'


def test_a_new_nodeclaim_consumes_the_largest_capacity_of_its_options_from_the_limit() -> None:
    # 10 vCPU: the first claim's options go up to 8 vCPU, so later claims only get 2 vCPU, then nothing
    tpl = template(requirements=ON_DEMAND_CMR, limits={"cpu": 10000})
    result = solve([pod("1500m", "1Gi") for _ in range(7)], table(), [tpl])
    first, second = result.new_claims
    assert len(first.pods) == 5 and len(second.pods) == 1
    assert max(table().capacity[second.options, 0]) == 2000
    assert list(result.errors.values()) == ['all available instance types exceed limits for nodepool: "default"']


def test_daemonset_overhead_is_part_of_every_new_nodeclaims_requests() -> None:
    tpl = template(requirements=ON_DEMAND_CMR, overhead=Resources.parse({"cpu": "150m", "pods": 3}))
    claim = solve([pod("1", "1Gi")], table(), [tpl]).new_claims[0]
    assert claim.requests == Resources.parse({"cpu": "1150m", "memory": "1Gi", "pods": 4})
    assert (table().alloc[claim.options, 0] >= 1150).all()


def test_min_values_keeps_enough_distinct_instance_families() -> None:
    reqs = [*ON_DEMAND_CMR, {"key": "karpenter.k8s.aws/instance-family", "operator": "Exists", "minValues": 30}]
    claim = solve([pod()], table(), [template(requirements=reqs)]).new_claims[0]
    families = {table().types[int(i)].labels["karpenter.k8s.aws/instance-family"] for i in claim.options}
    assert len(families) >= 30


def test_min_values_that_cannot_be_met_leaves_the_pod_unscheduled() -> None:
    reqs = [*ON_DEMAND_CMR, {"key": "karpenter.k8s.aws/instance-family", "operator": "In",
                             "values": ["m5", "c5"], "minValues": 3}]
    result = solve([pod()], table(), [template(requirements=reqs)])
    assert not result.new_claims and "minValues" in next(iter(result.errors.values()))


def test_custom_label_the_nodepool_does_not_define_is_incompatible() -> None:
    result = solve([pod(nodeSelector={"team": "a"})], table(), [template(requirements=ON_DEMAND_CMR)])
    assert 'label "team" does not have known values' in next(iter(result.errors.values()))


def test_hostname_anti_affinity_gives_each_replica_its_own_nodeclaim() -> None:
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": rq.HOSTNAME}]}}
    pods = [pod("100m", "100Mi", labels={"app": "web"}, affinity=anti) for _ in range(4)]
    result = solve(pods, table(), [template(requirements=ON_DEMAND_CMR)])
    assert len(result.new_claims) == 4 and all(len(c.pods) == 1 for c in result.new_claims)


def test_zone_spread_balances_nodeclaims_across_zones() -> None:
    spread = [{"maxSkew": 1, "topologyKey": rq.ZONE, "whenUnsatisfiable": "DoNotSchedule",
               "labelSelector": {"matchLabels": {"app": "web"}}}]
    zones = ["us-east-1a", "us-east-1b", "us-east-1c"]
    reqs = [*ON_DEMAND_CMR, {"key": rq.ZONE, "operator": "In", "values": zones}]
    tpl = template(requirements=reqs)
    pods = [pod("100m", "100Mi", labels={"app": "web"}, topologySpreadConstraints=spread) for _ in range(6)]
    result = solve(pods, table(), [tpl], domains=template_domains(table(), [tpl]))
    per_zone: dict[str, int] = {}
    for c in result.new_claims:
        (zone,) = c.requirements[rq.ZONE].values
        per_zone[zone] = per_zone.get(zone, 0) + len(c.pods)
    assert sorted(per_zone.values()) == [2, 2, 2]


def test_unsatisfiable_preferred_node_affinity_is_relaxed() -> None:
    pref = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 10, "preference": {"matchExpressions": [
            {"key": rq.INSTANCE_TYPE, "operator": "In", "values": ["p5.48xlarge"]}]}}]}}
    result = solve([pod(affinity=pref)], table(), [template(requirements=ON_DEMAND_CMR)])
    assert len(result.new_claims) == 1 and not result.errors and result.relaxed


_pods = st.lists(st.tuples(st.sampled_from(["100m", "250m", "500m", "1", "1500m", "3"]),
                           st.sampled_from(["100Mi", "512Mi", "1Gi", "4Gi", "7Gi"])), min_size=1, max_size=60)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_pods)
def test_packing_never_overcommits_and_places_every_pod(shapes: list[tuple[str, str]]) -> None:
    tpl = template(requirements=ON_DEMAND_CMR, overhead=Resources.parse({"cpu": "125m", "pods": 3}))
    pods = [pod(c, m) for c, m in shapes]
    result = solve(pods, table(), [tpl])
    assert result.placed == len(pods) and not result.errors
    for claim in result.new_claims:
        total = Resources.parse({"cpu": "125m", "pods": 3})
        for p in claim.pods:
            total = total + p.requests
        assert total == claim.requests
        for i in claim.options:
            assert claim.requests.fits(table().types[int(i)].allocatable)


def test_pods_already_running_count_for_a_new_pods_zone_spread() -> None:
    spread = [{"maxSkew": 1, "topologyKey": rq.ZONE, "whenUnsatisfiable": "DoNotSchedule",
               "labelSelector": {"matchLabels": {"app": "web"}}}]
    zones = ["us-east-1a", "us-east-1b"]
    tpl = template(requirements=[*ON_DEMAND_CMR, {"key": rq.ZONE, "operator": "In", "values": zones}])
    running = pod("100m", "100Mi", labels={"app": "web"}, topologySpreadConstraints=spread)
    node = ExistingNode("node-a", rq.Requirements.from_labels({rq.HOSTNAME: "node-a", rq.ZONE: "us-east-1a"}), (),
                        Resources.parse({"cpu": "4", "memory": "16Gi", "pods": 10}), Resources(), bound=[running])
    new = pod("100m", "100Mi", labels={"app": "web"}, topologySpreadConstraints=spread)
    result = solve([new], table(), [tpl], [node], domains=template_domains(table(), [tpl]))
    (claim,) = result.new_claims  # 1a already has one: the new pod must go to 1b, so not onto node-a
    assert claim.requirements[rq.ZONE].values == {"us-east-1b"}


def test_an_in_flight_nodeclaim_is_a_hostname_domain_for_spread_pods() -> None:
    # the caller's domains hold node names only; an in-flight NodeClaim (no Node yet) is known to the
    # simulation by its own name as hostname, which must still count as an empty domain
    spread = [{"maxSkew": 1, "topologyKey": rq.HOSTNAME, "whenUnsatisfiable": "DoNotSchedule",
               "labelSelector": {"matchLabels": {"app": "web"}}}]
    tpl = template(requirements=ON_DEMAND_CMR)
    in_flight = [ExistingNode(f"default-{i}", rq.Requirements.from_labels({rq.HOSTNAME: f"default-{i}"}), (),
                              Resources.parse({"cpu": "2", "memory": "4Gi", "pods": 10}), Resources(),
                              initialized=False) for i in range(3)]
    pods = [pod("100m", "100Mi", labels={"app": "web"}, topologySpreadConstraints=spread) for _ in range(4)]
    result = solve(pods, table(), [tpl], in_flight, domains=template_domains(table(), [tpl]))
    assert not result.errors
    assert sorted(len(v) for v in result.existing.values()) == [1, 1, 1]  # one per in-flight NodeClaim
    assert [len(c.pods) for c in result.new_claims] == [1]  # only the fourth pod needs a new NodeClaim


def test_offerings_in_the_unavailable_cache_are_not_launchable_in_the_simulation() -> None:
    t = table()
    tpl_reqs = rq.Requirements.from_node_selector_terms(
        [{"key": rq.INSTANCE_TYPE, "operator": "In", "values": ["m5.large"]},
         {"key": rq.CAPACITY_TYPE, "operator": "In", "values": ["on-demand"]}])
    assert t.requirements_mask(tpl_reqs).sum() == 1
    iced = t.without(frozenset(("on-demand", "m5.large", z) for z in t.zones))
    assert iced.requirements_mask(tpl_reqs).sum() == 0
    assert t.without(frozenset()) is t and t.requirements_mask(tpl_reqs).sum() == 1  # the original is untouched
