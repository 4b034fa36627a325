"""Each filter plugin against a table of pass/fail cases, with kube-scheduler's exact reasons."""

from __future__ import annotations

from typing import Any

import pytest
from sched_factories import HOSTNAME, ZONE, node, pod, pod_dict

from ekstwin.model.pod import PodInfo
from ekstwin.scheduling import cycle, registry
from ekstwin.scheduling.filters import (
    fit,
    node_affinity,
    node_name,
    node_ports,
    node_unschedulable,
    pod_affinity,
    taint_toleration,
    topology_spread,
)
from ekstwin.scheduling.framework import Code, Status
from ekstwin.scheduling.snapshot import Snapshot


def verdicts(plugin: str, nodes: list[dict[str, Any]], incoming: PodInfo, bound: list[dict[str, Any]] | None = None,
             **profile: Any) -> dict[str, Status]:
    snap = Snapshot.build(nodes, bound or [])
    return cycle.filter_statuses(incoming, snap, registry.Profile(filters=(plugin,), scores=(), **profile))


def reasons(statuses: dict[str, Status]) -> dict[str, tuple[str, ...]]:
    return {name: s.reasons for name, s in statuses.items()}


# -- NodeUnschedulable -------------------------------------------------------------------------------------
UNSCHEDULABLE_TOLERATION = [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists",
                             "effect": "NoSchedule"}]


@pytest.mark.parametrize(("case", "cordoned", "tolerations", "passes"), [
    ("a schedulable node passes", False, [], True),
    ("a cordoned node fails", True, [], False),
    ("a cordoned node passes for a pod tolerating the unschedulable taint", True, UNSCHEDULABLE_TOLERATION, True),
])
def test_node_unschedulable(case: str, cordoned: bool, tolerations: list[dict[str, str]], passes: bool) -> None:
    out = verdicts(node_unschedulable.NAME, [node("n", unschedulable=cordoned)], pod("p", tolerations=tolerations))
    assert out["n"].is_success is passes, case
    if not passes:
        assert out["n"] == Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, ("node(s) were unschedulable",),
                                  "NodeUnschedulable")


# -- NodeName ------------------------------------------------------------------------------------------------
def test_node_name_only_allows_the_named_node() -> None:
    out = verdicts(node_name.NAME, [node("a"), node("b")], pod("p", nodeName="b"))
    assert out["b"].is_success
    assert out["a"].reasons == ("node(s) didn't match the requested node name",)


def test_node_name_is_skipped_when_the_pod_names_no_node() -> None:
    assert all(s.is_success for s in verdicts(node_name.NAME, [node("a")], pod("p")).values())


# -- TaintToleration -----------------------------------------------------------------------------------------
def taint(key: str, value: str, effect: str) -> dict[str, str]:
    return {"key": key, "value": value, "effect": effect}


@pytest.mark.parametrize(("case", "taints", "tolerations", "reason"), [
    ("an untainted node passes", [], [], None),
    ("a NoSchedule taint blocks", [taint("team", "a", "NoSchedule")], [], "node(s) had untolerated taint {team: a}"),
    ("a NoExecute taint blocks", [taint("gpu", "", "NoExecute")], [], "node(s) had untolerated taint {gpu: }"),
    ("a PreferNoSchedule taint never filters", [taint("team", "a", "PreferNoSchedule")], [], None),
    ("an Equal toleration with the same value tolerates", [taint("team", "a", "NoSchedule")],
     [{"key": "team", "operator": "Equal", "value": "a", "effect": "NoSchedule"}], None),
    ("an Equal toleration with another value does not", [taint("team", "a", "NoSchedule")],
     [{"key": "team", "operator": "Equal", "value": "b"}], "node(s) had untolerated taint {team: a}"),
    ("an Exists toleration without key tolerates everything", [taint("x", "1", "NoSchedule")],
     [{"operator": "Exists"}], None),
    ("a toleration for another effect does not tolerate", [taint("team", "a", "NoSchedule")],
     [{"key": "team", "operator": "Exists", "effect": "NoExecute"}], "node(s) had untolerated taint {team: a}"),
    ("the first untolerated taint is named", [taint("ok", "1", "NoSchedule"), taint("bad", "2", "NoSchedule")],
     [{"key": "ok", "operator": "Exists"}], "node(s) had untolerated taint {bad: 2}"),
])
def test_taint_toleration(case: str, taints: list[dict[str, str]], tolerations: list[dict[str, str]],
                          reason: str | None) -> None:
    status = verdicts(taint_toleration.NAME, [node("n", taints=taints)], pod("p", tolerations=tolerations))["n"]
    if reason is None:
        assert status.is_success, case
    else:
        assert status == Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, (reason,), "TaintToleration"), case


def test_taint_toleration_can_use_the_redacted_wording_of_newer_patch_releases() -> None:
    out = verdicts(taint_toleration.NAME, [node("n", taints=[taint("team", "a", "NoSchedule")])], pod("p"),
                   redact_taint_values=True)
    assert out["n"].reasons == ("node(s) had untolerated taint(s)",)


# -- NodeAffinity --------------------------------------------------------------------------------------------
def required(*terms: list[dict[str, Any]], fields: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    selector_terms: list[dict[str, Any]] = [{"matchExpressions": t} for t in terms]
    if fields is not None:
        selector_terms.append({"matchFields": fields})
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": selector_terms}}}


def expr(key: str, op: str, *values: str) -> dict[str, Any]:
    return {"key": key, "operator": op, "values": list(values)}


LABELLED = {"team": "a", "cores": "8"}


@pytest.mark.parametrize(("case", "spec", "passes"), [
    ("a matching nodeSelector passes", {"nodeSelector": {"team": "a"}}, True),
    ("a nodeSelector needs every pair", {"nodeSelector": {"team": "a", "tier": "web"}}, False),
    ("In with the node's value passes", {"affinity": required([expr("team", "In", "a", "b")])}, True),
    ("In without the node's value fails", {"affinity": required([expr("team", "In", "b")])}, False),
    ("NotIn passes when the label is absent", {"affinity": required([expr("tier", "NotIn", "web")])}, True),
    ("NotIn fails on the listed value", {"affinity": required([expr("team", "NotIn", "a")])}, False),
    ("Exists needs the label", {"affinity": required([expr("tier", "Exists")])}, False),
    ("DoesNotExist passes without the label", {"affinity": required([expr("tier", "DoesNotExist")])}, True),
    ("Gt compares integers", {"affinity": required([expr("cores", "Gt", "4")])}, True),
    ("Lt compares integers", {"affinity": required([expr("cores", "Lt", "4")])}, False),
    ("expressions in one term are AND-ed",
     {"affinity": required([expr("team", "In", "a"), expr("cores", "Gt", "16")])}, False),
    ("terms are OR-ed", {"affinity": required([expr("team", "In", "b")], [expr("cores", "Gt", "4")])}, True),
    ("an empty term matches nothing", {"affinity": required([])}, False),
    ("matchFields metadata.name selects the node by name",
     {"affinity": required(fields=[expr("metadata.name", "In", "n")])}, True),
    ("nodeSelector and required affinity must both match",
     {"nodeSelector": {"team": "b"}, "affinity": required([expr("team", "In", "a")])}, False),
])
def test_node_affinity(case: str, spec: dict[str, Any], passes: bool) -> None:
    status = verdicts(node_affinity.NAME, [node("n", labels=LABELLED)], pod("p", **spec))["n"]
    assert status.is_success is passes, case
    if not passes:
        assert status == Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
                                ("node(s) didn't match Pod's node affinity/selector",), "NodeAffinity")


def test_node_affinity_matchfields_pin_reports_other_nodes_as_not_satisfying_the_plugin() -> None:
    daemon = pod("ds", cpu="8", affinity=required(fields=[expr("metadata.name", "In", "a")]))
    out = verdicts(node_affinity.NAME, [node("a"), node("b"), node("c")], daemon)
    assert out["a"].is_success
    assert out["b"].reasons == out["c"].reasons == ("node(s) didn't satisfy plugin(s) [NodeAffinity]",)


# -- NodePorts -----------------------------------------------------------------------------------------------
def port_pod(name: str, port: int, protocol: str = "TCP", ip: str | None = None, node_name: str | None = None
             ) -> dict[str, Any]:
    d = pod_dict(name, node_name=node_name)
    entry: dict[str, Any] = {"containerPort": port, "hostPort": port, "protocol": protocol}
    if ip is not None:
        entry["hostIP"] = ip
    d["spec"]["containers"][0]["ports"] = [entry]
    return d


@pytest.mark.parametrize(("case", "used", "wanted", "passes"), [
    ("a free port passes", (80, "TCP", None), (8080, "TCP", None), True),
    ("the same port and protocol conflicts", (80, "TCP", None), (80, "TCP", None), False),
    ("another protocol on the same port is free", (53, "UDP", None), (53, "TCP", None), True),
    ("a specific IP conflicts with a 0.0.0.0 binding", (80, "TCP", None), (80, "TCP", "10.0.0.1"), False),
    ("0.0.0.0 conflicts with any specific IP", (80, "TCP", "10.0.0.1"), (80, "TCP", None), False),
    ("two different specific IPs do not conflict", (80, "TCP", "10.0.0.1"), (80, "TCP", "10.0.0.2"), True),
])
def test_node_ports(case: str, used: tuple[int, str, str | None], wanted: tuple[int, str, str | None],
                    passes: bool) -> None:
    incoming = PodInfo.parse(port_pod("p", *wanted))
    status = verdicts(node_ports.NAME, [node("n")], incoming, [port_pod("q", *used, node_name="n")])["n"]
    assert status.is_success is passes, case
    if not passes:
        assert status == Status(Code.UNSCHEDULABLE, ("node(s) didn't have free ports for the requested pod ports",),
                                "NodePorts")


# -- NodeResourcesFit ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("case", "incoming", "reasons_", "allocatable_pods"), [
    ("a pod that fits passes", pod("p", cpu="1", memory="1Gi"), (), 110),
    ("too much cpu fails", pod("p", cpu="3", memory="1Gi"), ("Insufficient cpu",), 110),
    ("too much memory fails", pod("p", cpu="1", memory="15Gi"), ("Insufficient memory",), 110),
    ("every short resource is reported", pod("p", cpu="3", memory="15Gi"),
     ("Insufficient cpu", "Insufficient memory"), 110),
    ("a full pod count fails", pod("p", cpu="1"), ("Too many pods",), 1),
    ("an extended resource the node lacks fails", pod("p", extra={"nvidia.com/gpu": "1"}),
     ("Insufficient nvidia.com/gpu",), 110),
    ("exactly the free amount fits", pod("p", cpu="2", memory="8Gi"), (), 110),
])
def test_node_resources_fit(case: str, incoming: PodInfo, reasons_: tuple[str, ...], allocatable_pods: int) -> None:
    # the node has 4 cpu / 16Gi and already runs a 2 cpu / 8Gi pod
    status = verdicts(fit.NAME, [node("n", pods=allocatable_pods)], incoming,
                      [pod_dict("q", cpu="2", memory="8Gi", node_name="n")])["n"]
    assert status.reasons == reasons_, case
    assert status.code is (Code.SUCCESS if not reasons_ else Code.UNSCHEDULABLE)


def test_resources_the_pod_does_not_request_are_ignored_even_when_overcommitted() -> None:
    bound = [pod_dict("q", cpu="6", memory="1Gi", node_name="n")]  # cpu already over allocatable
    assert verdicts(fit.NAME, [node("n")], pod("p", cpu=None, memory="1Gi"), bound)["n"].is_success


# -- PodTopologySpread ---------------------------------------------------------------------------------------
def spread(max_skew: int = 1, key: str = ZONE, **extra: Any) -> dict[str, Any]:
    return {"topologySpreadConstraints": [{"maxSkew": max_skew, "topologyKey": key,
                                           "whenUnsatisfiable": "DoNotSchedule",
                                           "labelSelector": {"matchLabels": {"app": "web"}}, **extra}]}


WEB = {"app": "web"}
ZONES = [node("a1", zone="a"), node("b1", zone="b"), node("c1", zone="c")]


def web_on(*nodes: str, **kwargs: Any) -> list[dict[str, Any]]:
    return [pod_dict(f"w{i}-{n}", labels=WEB, node_name=n, **kwargs) for i, n in enumerate(nodes)]


@pytest.mark.parametrize(("case", "bound", "spec", "failing"), [
    ("balanced zones all pass", web_on("a1", "b1", "c1"), spread(), set()),
    ("the zone one ahead fails at maxSkew 1", web_on("a1"), spread(), {"a1"}),
    ("maxSkew 2 allows one zone two ahead", web_on("a1"), spread(2), set()),
    ("terminating pods are not counted", web_on("a1", deleting=True), spread(), set()),
    ("pods in other namespaces are not counted", web_on("a1", namespace="other"), spread(), set()),
    ("minDomains above the domain count makes the global minimum 0", web_on("a1", "b1", "c1"),
     spread(minDomains=4), {"a1", "b1", "c1"}),
])
def test_topology_spread(case: str, bound: list[dict[str, Any]], spec: dict[str, Any], failing: set[str]) -> None:
    out = verdicts(topology_spread.NAME, ZONES, pod("p", labels=WEB, **spec), bound)
    assert {n for n, s in out.items() if not s.is_success} == failing, case
    for n in failing:
        assert out[n] == Status(Code.UNSCHEDULABLE, ("node(s) didn't match pod topology spread constraints",),
                                "PodTopologySpread")


def test_topology_spread_rejects_nodes_without_the_key_as_unresolvable() -> None:
    out = verdicts(topology_spread.NAME, [*ZONES, node("nozone", zone=None)], pod("p", labels=WEB, **spread()))
    assert out["nozone"] == Status(
        Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
        ("node(s) didn't match pod topology spread constraints (missing required label)",), "PodTopologySpread")


def test_a_pod_not_matching_its_own_selector_does_not_count_itself() -> None:
    out = verdicts(topology_spread.NAME, ZONES, pod("p", labels={"app": "other"}, **spread()), web_on("a1"))
    assert out["a1"].is_success  # 1 + 0 − 0 ≤ 1


def test_tainted_zone_still_counts_as_a_domain_under_the_default_taints_policy() -> None:
    # zone c is tainted (e.g. its nodes are unreachable) and empty: global minimum stays 0
    nodes = [node("a1", zone="a"), node("b1", zone="b"),
             node("c1", zone="c", taints=[{"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"}])]
    bound = web_on("a1", "b1")
    ignore = verdicts(topology_spread.NAME, nodes, pod("p", labels=WEB, **spread()), bound)
    honor = verdicts(topology_spread.NAME, nodes, pod("p", labels=WEB, **spread(nodeTaintsPolicy="Honor")), bound)
    assert not ignore["a1"].is_success and not ignore["b1"].is_success
    assert honor["a1"].is_success and honor["b1"].is_success


def test_nodes_outside_the_pods_node_affinity_are_not_domains_by_default() -> None:
    spec = {**spread(), "nodeSelector": {"pool": "x"}}
    nodes = [node("a1", zone="a", labels={"pool": "x"}), node("b1", zone="b", labels={"pool": "x"}),
             node("c1", zone="c")]
    honor = verdicts(topology_spread.NAME, nodes, pod("p", labels=WEB, **spec), web_on("a1", "b1"))
    ignore = verdicts(topology_spread.NAME, nodes, pod("p", labels=WEB, **{**spec, **spread(
        nodeAffinityPolicy="Ignore")}), web_on("a1", "b1"))
    assert honor["a1"].is_success  # zone c is not a domain: min is 1
    assert not ignore["a1"].is_success  # zone c counts with 0 pods


# -- InterPodAffinity ----------------------------------------------------------------------------------------
def pod_term(key: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"labelSelector": {"matchLabels": labels}, "topologyKey": key}


def affinity(kind: str, key: str, labels: dict[str, str]) -> dict[str, Any]:
    return {kind: {"requiredDuringSchedulingIgnoredDuringExecution": [pod_term(key, labels)]}}


AFF = "podAffinity"
ANTI = "podAntiAffinity"
TWO_ZONES = [node("a1", zone="a"), node("a2", zone="a"), node("b1", zone="b")]


@pytest.mark.parametrize(("case", "bound", "incoming", "failing"), [
    ("affinity passes only in the domain of a matching pod", [pod_dict("db", labels={"app": "db"}, node_name="a1")],
     pod("p", affinity=affinity(AFF, ZONE, {"app": "db"})), {"b1": pod_affinity.REASON_AFFINITY}),
    ("affinity with no matching pod and no self-match fails everywhere", [],
     pod("p", affinity=affinity(AFF, ZONE, {"app": "db"})),
     dict.fromkeys(("a1", "a2", "b1"), pod_affinity.REASON_AFFINITY)),
    ("the first pod of a self-affine group may go anywhere", [],
     pod("p", labels={"app": "db"}, affinity=affinity(AFF, ZONE, {"app": "db"})), {}),
    ("anti-affinity fails the domain of a matching pod", [pod_dict("db", labels={"app": "db"}, node_name="a1")],
     pod("p", affinity=affinity(ANTI, ZONE, {"app": "db"})),
     dict.fromkeys(("a1", "a2"), pod_affinity.REASON_ANTI_AFFINITY)),
    ("hostname anti-affinity fails only the pod's node", [pod_dict("db", labels={"app": "db"}, node_name="a1")],
     pod("p", affinity=affinity(ANTI, HOSTNAME, {"app": "db"})), {"a1": pod_affinity.REASON_ANTI_AFFINITY}),
    ("an existing pod's anti-affinity repels a matching pod",
     [pod_dict("db", labels={"app": "db"}, node_name="b1", affinity=affinity(ANTI, ZONE, {"app": "web"}))],
     pod("p", labels={"app": "web"}), {"b1": pod_affinity.REASON_EXISTING_ANTI_AFFINITY}),
    ("an existing pod's anti-affinity ignores pods it does not select",
     [pod_dict("db", labels={"app": "db"}, node_name="b1", affinity=affinity(ANTI, ZONE, {"app": "web"}))],
     pod("p", labels={"app": "api"}), {}),
    ("terminating pods still count for anti-affinity",
     [pod_dict("db", labels={"app": "db"}, node_name="b1", deleting=True)],
     pod("p", affinity=affinity(ANTI, ZONE, {"app": "db"})), {"b1": pod_affinity.REASON_ANTI_AFFINITY}),
])
def test_inter_pod_affinity(case: str, bound: list[dict[str, Any]], incoming: PodInfo,
                            failing: dict[str, str]) -> None:
    out = verdicts(pod_affinity.NAME, TWO_ZONES, incoming, bound)
    assert {n: s.reasons[0] for n, s in out.items() if not s.is_success} == failing, case


def test_affinity_fails_nodes_without_the_topology_key_and_anti_affinity_passes_them() -> None:
    nodes = [*TWO_ZONES, node("bare", zone=None)]
    bound = [pod_dict("db", labels={"app": "db"}, node_name="a1")]
    aff = verdicts(pod_affinity.NAME, nodes, pod("p", affinity=affinity(AFF, ZONE, {"app": "db"})), bound)
    anti = verdicts(pod_affinity.NAME, nodes, pod("p", affinity=affinity(ANTI, ZONE, {"app": "db"})), bound)
    assert aff["bare"].code is Code.UNSCHEDULABLE_AND_UNRESOLVABLE
    assert anti["bare"].is_success


def test_affinity_counts_only_pods_in_the_terms_namespaces() -> None:
    bound = [pod_dict("db", labels={"app": "db"}, node_name="a1", namespace="data")]
    local = pod("p", affinity=affinity(AFF, ZONE, {"app": "db"}))
    term = {**pod_term(ZONE, {"app": "db"}), "namespaces": ["data"]}
    cross = pod("p", affinity={AFF: {"requiredDuringSchedulingIgnoredDuringExecution": [term]}})
    assert not verdicts(pod_affinity.NAME, TWO_ZONES, local, bound)["a1"].is_success
    assert verdicts(pod_affinity.NAME, TWO_ZONES, cross, bound)["a1"].is_success
