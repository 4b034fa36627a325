"""Loading, validating and converting manifests (ekstwin.model.manifests)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ekstwin.errors import InvalidScenario
from ekstwin.model import schema
from ekstwin.model.manifests import (
    ORIGINAL_API_VERSION_ANNOTATION,
    V1BETA1_KUBELET_ANNOTATION,
    Document,
    ManifestErrors,
    Report,
    load_file,
    load_manifests,
    load_text,
    to_storage_version,
    validate,
)

FIXTURES = Path(__file__).parent / "fixtures"
SEED = [FIXTURES / "seed-nodepool.yaml", FIXTURES / "seed-inflate.yaml"]


def _report(text: str, file: str = "t.yaml") -> Report:
    docs = load_text(textwrap.dedent(text), file)
    assert len(docs) == 1
    return validate(docs[0])


def _messages(report: Report) -> list[str]:
    return [str(e) for e in report.errors]


NODEPOOL_V1 = """
    apiVersion: karpenter.sh/v1
    kind: NodePool
    metadata: {name: p}
    spec:
      template:
        spec:
          nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
          requirements:
            - {key: %s, operator: In, values: ["x"]}
"""


# --- the seed article ---------------------------------------------------------------------------------


def test_seed_manifests_load_verbatim_with_no_errors_and_no_unknown_fields() -> None:
    docs = [doc for path in SEED for doc in load_file(path)]
    assert [d.obj["kind"] for d in docs] == ["NodePool", "EC2NodeClass", "Deployment"]
    for doc in docs:
        report = validate(doc)
        assert report.errors == [] and report.unknown == [] and report.ignored == []
    objects, warnings = load_manifests(SEED)
    assert len(objects) == 3 and warnings == []


def test_seed_nodepool_converts_to_v1_with_when_empty_or_underutilized() -> None:
    objects, _ = load_manifests(SEED)
    pool = objects[0]
    assert pool["apiVersion"] == "karpenter.sh/v1"
    assert pool["spec"]["disruption"] == {"consolidationPolicy": "WhenEmptyOrUnderutilized",
                                          "consolidateAfter": "0s"}
    assert pool["spec"]["template"]["spec"]["nodeClassRef"] == {
        "group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"}
    assert pool["metadata"]["annotations"][ORIGINAL_API_VERSION_ANNOTATION] == "karpenter.sh/v1beta1"
    assert pool["spec"]["limits"] == {"cpu": 100, "memory": "100Gi"}


def test_converted_seed_objects_are_valid_v1_objects() -> None:
    objects, _ = load_manifests(SEED)
    for obj in objects:
        report = validate(Document(obj, "converted", 0))
        assert report.errors == [] and report.unknown == []


def test_seed_ec2nodeclass_gets_an_alias_and_keeps_its_ami_family() -> None:
    objects, _ = load_manifests(SEED)
    node_class = objects[1]
    assert node_class["apiVersion"] == "karpenter.k8s.aws/v1"
    assert node_class["spec"]["amiSelectorTerms"] == [{"alias": "bottlerocket@latest"}]
    assert node_class["spec"]["amiFamily"] == "Bottlerocket"


def test_a_v1_nodepool_and_ec2nodeclass_of_the_same_shape_load_unchanged() -> None:
    path = FIXTURES / "v1-nodepool.yaml"
    objects, warnings = load_manifests([path])
    assert warnings == []
    assert objects == [doc.obj for doc in load_file(path)]  # nothing converted, nothing annotated


def test_storage_version_objects_are_returned_as_equal_copies() -> None:
    doc = load_file(FIXTURES / "v1-nodepool.yaml")[0]
    converted = to_storage_version(doc.obj)
    assert converted == doc.obj and converted is not doc.obj


# --- loading ------------------------------------------------------------------------------------------


def test_kind_list_is_flattened_and_empty_documents_are_skipped() -> None:
    docs = load_file(FIXTURES / "list.yaml")
    assert [(d.obj["kind"], d.index) for d in docs] == [("Namespace", 0), ("PriorityClass", 1), ("Pod", 2)]
    assert docs[1].line == 7
    assert docs[1].lines["value"] == 10  # field lines are relative to the item, not to "items[1]"


def test_yaml_syntax_error_names_the_file_and_line() -> None:
    with pytest.raises(InvalidScenario) as err:
        load_file(FIXTURES / "syntax-error.yaml")
    assert err.value.file == f"{FIXTURES / 'syntax-error.yaml'}:5"
    assert "YAML syntax error" in str(err.value)


def test_duplicate_yaml_keys_are_refused_with_both_lines() -> None:
    with pytest.raises(InvalidScenario, match=r"x.yaml:3: duplicate key 'kind' \(first set on line 2\)"):
        load_text("apiVersion: v1\nkind: Pod\nkind: Node\n", "x.yaml")


def test_a_document_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(InvalidScenario, match="must be an object with apiVersion and kind, got a list"):
        load_text("- a\n- b\n", "x.yaml")


def test_json_manifests_load_including_a_top_level_array(tmp_path: Path) -> None:
    path = tmp_path / "objs.json"
    path.write_text(json.dumps([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}},
                                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "b"}}]))
    assert [d.obj["metadata"]["name"] for d in load_file(path)] == ["a", "b"]


def test_json_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{\n  "kind": "Pod",\n  oops\n}')
    with pytest.raises(InvalidScenario) as err:
        load_file(path)
    assert err.value.file == f"{path}:3"


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidScenario, match="cannot read manifest file"):
        load_file(tmp_path / "nope.yaml")


# --- validation ---------------------------------------------------------------------------------------


def test_a_typo_field_is_reported_with_file_object_and_path() -> None:
    report = validate(load_file(FIXTURES / "typo-deployment.yaml")[0])
    assert report.errors == []
    assert report.unknown == [f"{FIXTURES / 'typo-deployment.yaml'}:5: Deployment/apps/inflate: spec.replicass: "
                              "unknown field (did you mean 'replicas'?)"]


def test_unknown_fields_become_errors_when_the_caller_asks() -> None:
    doc = load_file(FIXTURES / "typo-deployment.yaml")[0]
    report = validate(doc, unknown_fields_are_errors=True)
    assert [(e.obj, e.field) for e in report.errors] == [("Deployment/apps/inflate", "spec.replicass")]


def test_a_bad_quantity_names_the_container_request_path() -> None:
    report = validate(load_file(FIXTURES / "bad-quantity.yaml")[0])
    [error] = report.errors
    assert error.field == "spec.template.spec.containers[0].resources.requests.cpu"
    assert error.obj == "Deployment/default/inflate"
    assert error.file == f"{FIXTURES / 'bad-quantity.yaml'}:14"
    assert "'1x'" in error.reason and "suffix" in error.reason


def test_an_unknown_kind_error_lists_the_known_kinds() -> None:
    report = _report("""
        apiVersion: v1
        kind: Service
        metadata: {name: s}
    """)
    [error] = report.errors
    assert error.field == "kind" and "unknown kind 'Service'" in error.reason
    for known in ("apps/v1 Deployment", "karpenter.sh/v1 NodePool", "karpenter.k8s.aws/v1 EC2NodeClass"):
        assert known in error.reason


def test_a_known_kind_under_a_retired_api_version_names_the_served_ones() -> None:
    report = _report("""
        apiVersion: policy/v1beta1
        kind: PodDisruptionBudget
        metadata: {name: p}
    """)
    [error] = report.errors
    assert error.field == "apiVersion" and "policy/v1" in error.reason


def test_missing_kind_api_version_and_name_are_required() -> None:
    report = _report("metadata: {labels: {a: b}}\n")
    assert {e.field for e in report.errors} == {"apiVersion", "kind"}
    report = _report("apiVersion: v1\nkind: Namespace\nmetadata: {labels: {a: b}}\n")
    assert [e.field for e in report.errors] == ["metadata.name"]


def test_a_number_where_a_label_value_string_is_needed_is_a_type_error() -> None:
    report = _report("""
        apiVersion: v1
        kind: Namespace
        metadata: {name: a, labels: {version: 1.5}}
    """)
    [error] = report.errors
    assert error.field == "metadata.labels.version"
    assert error.reason == "must be a string, got number 1.5 (quote it)"


def test_a_bad_enum_value_lists_the_supported_values() -> None:
    report = _report("""
        apiVersion: v1
        kind: Pod
        metadata: {name: p}
        spec:
          restartPolicy: Sometimes
          containers: [{name: c, image: pause}]
    """)
    [error] = report.errors
    assert error.field == "spec.restartPolicy"
    assert '"Always", "OnFailure", "Never"' in error.reason


def test_a_deployment_selector_must_match_its_template_labels() -> None:
    report = _report("""
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: d}
        spec:
          selector: {matchLabels: {app: a}}
          template:
            metadata: {labels: {app: b}}
            spec: {containers: [{name: c, image: pause}]}
    """)
    assert [e.field for e in report.errors] == ["spec.template.metadata.labels"]


def test_a_topology_spread_constraint_needs_when_unsatisfiable() -> None:
    report = _report("""
        apiVersion: v1
        kind: Pod
        metadata: {name: p}
        spec:
          containers: [{name: c, image: pause}]
          topologySpreadConstraints:
            - {maxSkew: 1, topologyKey: topology.kubernetes.io/zone}
    """)
    assert [e.field for e in report.errors] == ["spec.topologySpreadConstraints[0].whenUnsatisfiable"]


def test_opaque_fields_are_listed_as_ignored_once_per_path() -> None:
    report = _report("""
        apiVersion: v1
        kind: Pod
        metadata: {name: p}
        spec:
          volumes: [{name: v, emptyDir: {}}]
          containers:
            - {name: a, image: pause, env: [{name: X, value: "1"}]}
            - {name: b, image: pause, env: [{name: Y, value: "2"}]}
    """)
    assert report.errors == [] and report.unknown == []
    assert [line.split(": ", 2)[2] for line in report.ignored] == [
        "spec.volumes: ignored (volumes are not simulated)",
        "spec.containers[*].env: ignored (environment variables are not simulated)",
    ]


def test_requests_above_limits_are_rejected() -> None:
    report = _report("""
        apiVersion: v1
        kind: Pod
        metadata: {name: p}
        spec:
          containers:
            - {name: c, image: pause, resources: {requests: {cpu: "2"}, limits: {cpu: 1500m}}}
    """)
    assert [e.field for e in report.errors] == ["spec.containers[0].resources.requests.cpu"]


# --- Karpenter rules ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "message"), [
    ("kubernetes.io/hostname", 'label "kubernetes.io/hostname" is restricted'),
    ("karpenter.sh/nodepool", 'label "karpenter.sh/nodepool" is restricted'),
    ("karpenter.sh/custom", 'label domain "karpenter.sh" is restricted'),
    ("karpenter.k8s.aws/anything", 'label domain "karpenter.k8s.aws" is restricted'),
    ("node-role.kubernetes.io/worker", 'label domain "kubernetes.io" is restricted'),
    ("example.k8s.io/x", 'label domain "k8s.io" is restricted'),
])
def test_a_restricted_requirement_key_is_rejected(key: str, message: str) -> None:
    report = _report(NODEPOOL_V1 % key)
    [error] = report.errors
    assert error.field == "spec.template.spec.requirements[0].key"
    assert error.reason == message
    assert error.obj == "NodePool/p"


@pytest.mark.parametrize("key", ["karpenter.k8s.aws/instance-family", "karpenter.sh/capacity-type",
                                 "node.kubernetes.io/instance-type", "topology.kubernetes.io/zone",
                                 "company.com/team", "kops.k8s.io/instancegroup",
                                 "failure-domain.beta.kubernetes.io/zone"])
def test_well_known_and_custom_requirement_keys_are_allowed(key: str) -> None:
    assert _report(NODEPOOL_V1 % key).errors == []


def test_restricted_nodepool_template_labels_are_rejected_at_their_key() -> None:
    labels = "        metadata: {labels: {karpenter.sh/custom: x, team: a}}\n"
    text = (NODEPOOL_V1 % "a").replace("      template:\n", "      template:\n" + labels)
    [error] = _report(text).errors
    assert error.field == "spec.template.metadata.labels[karpenter.sh/custom]"
    assert error.reason == 'label domain "karpenter.sh" is restricted'


@pytest.mark.parametrize(("terms", "family", "message"), [
    ("[{alias: windows2022@v1}]", None, "windows families may only specify version 'latest'"),
    ("[{alias: ubuntu@latest}]", None, "family is not supported"),
    ("[{alias: al2023@latest}, {id: ami-1}]", None, "'alias' is mutually exclusive"),
    ("[{alias: al2023@latest}]", "Bottlerocket", "amiFamily must be 'AL2023' or 'Custom'"),
    ("[{id: ami-1}]", None, "must specify amiFamily if amiSelectorTerms does not contain an alias"),
])
def test_v1_ami_selector_rules(terms: str, family: str | None, message: str) -> None:
    text = (FIXTURES / "v1-nodepool.yaml").read_text().split("---")[1]
    text = text.replace("[{alias: bottlerocket@latest}]", terms)
    if family:
        text = text.replace("spec:\n", f"spec:\n  amiFamily: {family}\n")
    report = _report(text)
    assert any(message in e.reason for e in report.errors), _messages(report)


def _requirement_report(requirement: str) -> Report:
    text = (NODEPOOL_V1 % "k").replace('{key: k, operator: In, values: ["x"]}', requirement)
    return _report(text)


@pytest.mark.parametrize(("requirement", "message"), [
    ("{key: a, operator: In, values: []}", "requirements with operator 'In' must have a value defined"),
    ("{key: a, operator: Gt, values: ['1', '2']}", "must have a single positive integer value"),
    ("{key: a, operator: Lt, values: ['x']}", "must have a single positive integer value"),
    ("{key: a, operator: In, values: ['x'], minValues: 2}", "must have at least that many values"),
])
def test_requirement_values_follow_the_nodepool_cel_rules(requirement: str, message: str) -> None:
    [error] = _requirement_report(requirement).errors
    assert error.field == "spec.template.spec.requirements[0].values"
    assert message in error.reason


def test_min_values_is_bounded_1_to_50() -> None:
    [error] = _requirement_report("{key: a, operator: Exists, minValues: 51}").errors
    assert error.field == "spec.template.spec.requirements[0].minValues"


@pytest.mark.parametrize(("budget", "field"), [
    ('{nodes: "10%", schedule: "@daily"}', "spec.disruption.budgets[0]"),
    ('{nodes: "10%", duration: 10m}', "spec.disruption.budgets[0]"),
    ('{nodes: "101%"}', "spec.disruption.budgets[0].nodes"),
    ('{nodes: "10%", schedule: "@daily", duration: 10s}', "spec.disruption.budgets[0].duration"),
])
def test_budget_schedule_needs_duration_and_nodes_needs_the_pattern(budget: str, field: str) -> None:
    text = NODEPOOL_V1 % "a" + f"      disruption: {{consolidateAfter: 30s, budgets: [{budget}]}}\n"
    assert [e.field for e in _report(text).errors] == [field]


def test_a_v1_disruption_block_must_set_consolidate_after() -> None:
    text = NODEPOOL_V1 % "a" + "      disruption: {consolidationPolicy: WhenEmpty}\n"
    [error] = _report(text).errors
    assert error.field == "spec.disruption.consolidateAfter" and error.reason == "required field is missing"


def test_nodepool_weight_must_be_1_to_100() -> None:
    [error] = _report(NODEPOOL_V1 % "a" + "      weight: 0\n").errors
    assert error.field == "spec.weight"


def test_v1beta1_consolidate_after_cannot_go_with_when_underutilized() -> None:
    text = (FIXTURES / "seed-nodepool.yaml").read_text().split("---")[0].replace(
        "{consolidationPolicy: WhenUnderutilized}", "{consolidationPolicy: WhenUnderutilized, consolidateAfter: 30s}")
    [error] = _report(text).errors
    assert error.field == "spec.disruption.consolidateAfter"
    assert "cannot be combined with consolidationPolicy=WhenUnderutilized" in error.reason


def test_ec2nodeclass_needs_exactly_one_of_role_and_instance_profile() -> None:
    text = (FIXTURES / "v1-nodepool.yaml").read_text().split("---")[1].replace(
        'role: "KarpenterNodeRole-my-cluster"', "instanceProfile: p\n  role: r")
    [error] = _report(text).errors
    assert error.field == "spec" and "exactly one of ['role', 'instanceProfile']" in error.reason


def test_kubelet_reserved_keys_are_checked() -> None:
    text = (FIXTURES / "v1-nodepool.yaml").read_text().split("---")[1].replace("cpu: 100m", "gpu: \"1\"")
    [error] = _report(text).errors
    assert error.field == "spec.kubelet.kubeReserved.gpu"
    assert "valid keys for kubeReserved" in error.reason


# --- conversion ---------------------------------------------------------------------------------------


def _v1beta1_pool(disruption: dict[str, Any], **template_spec: Any) -> dict[str, Any]:
    return {"apiVersion": "karpenter.sh/v1beta1", "kind": "NodePool", "metadata": {"name": "p"},
            "spec": {"template": {"spec": {"nodeClassRef": {"name": "nc"}, "requirements": [], **template_spec}},
                     "disruption": disruption}}


def test_v1beta1_kubelet_is_kept_in_an_annotation_and_expire_after_moves_into_the_template() -> None:
    pool = to_storage_version(_v1beta1_pool({"consolidationPolicy": "WhenEmpty", "consolidateAfter": "30s",
                                             "expireAfter": "Never", "budgets": [{"nodes": "0"}]},
                                            kubelet={"maxPods": 20, "clusterDNS": ["10.0.0.10"]}))
    spec = pool["spec"]
    assert spec["disruption"] == {"consolidationPolicy": "WhenEmpty", "consolidateAfter": "30s",
                                  "budgets": [{"nodes": "0"}]}
    assert spec["template"]["spec"]["expireAfter"] == "Never"
    assert "kubelet" not in spec["template"]["spec"]
    assert json.loads(pool["metadata"]["annotations"][V1BETA1_KUBELET_ANNOTATION]) == {
        "maxPods": 20, "clusterDNS": ["10.0.0.10"]}


def test_a_v1beta1_pool_without_disruption_gets_the_v1_equivalent_of_its_defaults() -> None:
    pool = _v1beta1_pool({})
    del pool["spec"]["disruption"]
    converted = to_storage_version(pool)
    assert converted["spec"]["disruption"] == {"consolidationPolicy": "WhenEmptyOrUnderutilized",
                                               "consolidateAfter": "0s"}


def test_v1beta1_consolidate_after_never_is_kept() -> None:
    converted = to_storage_version(_v1beta1_pool({"consolidateAfter": "Never"}))
    assert converted["spec"]["disruption"]["consolidateAfter"] == "Never"


def test_v1beta1_node_class_ref_api_version_becomes_a_group() -> None:
    pool = _v1beta1_pool({})
    pool["spec"]["template"]["spec"]["nodeClassRef"] = {"apiVersion": "example.com/v1", "kind": "X", "name": "n"}
    ref = to_storage_version(pool)["spec"]["template"]["spec"]["nodeClassRef"]
    assert ref == {"group": "example.com", "kind": "X", "name": "n"}


def test_a_v1beta1_nodeclaim_takes_expire_after_from_its_nodepool() -> None:
    claim = {"apiVersion": "karpenter.sh/v1beta1", "kind": "NodeClaim",
             "metadata": {"name": "c", "labels": {"karpenter.sh/nodepool": "p"}},
             "spec": {"requirements": [], "nodeClassRef": {"name": "nc"}, "kubelet": {"maxPods": 8}},
             "status": {"conditions": [{"type": "Ready", "status": "True", "severity": "Info"}]}}
    pool = {"spec": {"template": {"spec": {"expireAfter": "48h"}}}}
    converted = to_storage_version(claim, nodepools={"p": pool})
    assert converted["apiVersion"] == "karpenter.sh/v1"
    assert converted["spec"]["expireAfter"] == "48h"
    assert converted["spec"]["nodeClassRef"]["group"] == "karpenter.k8s.aws"
    assert converted["status"]["conditions"] == [{"type": "Ready", "status": "True"}]
    assert json.loads(converted["metadata"]["annotations"][V1BETA1_KUBELET_ANNOTATION]) == {"maxPods": 8}


def test_ubuntu_without_ami_selector_terms_has_no_v1_equivalent() -> None:
    node_class: dict[str, Any] = {"apiVersion": "karpenter.k8s.aws/v1beta1", "kind": "EC2NodeClass",
                                  "metadata": {"name": "u"}, "spec": {"amiFamily": "Ubuntu"}}
    with pytest.raises(InvalidScenario) as err:
        to_storage_version(node_class)
    assert err.value.field == "spec.amiFamily" and err.value.obj == "EC2NodeClass/u"
    node_class["spec"]["amiSelectorTerms"] = [{"id": "ami-123"}]
    converted = to_storage_version(node_class)
    assert converted["spec"]["amiFamily"] == "AL2"
    assert converted["spec"]["blockDeviceMappings"][0]["rootVolume"] is True


# --- load_manifests -----------------------------------------------------------------------------------


def test_load_manifests_raises_the_first_error_and_summarises_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(textwrap.dedent("""
        apiVersion: v1
        kind: Pod
        metadata: {name: p}
        spec:
          containers: [{name: c, image: pause, resources: {requests: {cpu: 1x, memory: 2y}}}]
    """))
    with pytest.raises(ManifestErrors) as err:
        load_manifests([path])
    assert err.value.field == "spec.containers[0].resources.requests.cpu"
    assert len(err.value.errors) == 2
    assert "1 more error(s)" in str(err.value) and "requests.memory" in str(err.value)


def test_the_same_object_in_two_files_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "again.yaml"
    path.write_text((FIXTURES / "v1-nodepool.yaml").read_text())
    with pytest.raises(ManifestErrors, match="duplicate object; first defined at") as err:
        load_manifests([*SEED, path])
    assert err.value.obj == "NodePool/default"


def test_load_manifests_returns_unknown_and_ignored_fields_as_warnings(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p, colour: red}\n"
                    "spec: {containers: [{name: c, image: pause, env: [{name: A}]}], status: x}\n")
    objects, warnings = load_manifests([path])
    assert len(objects) == 1
    assert [w.split(": ", 2)[2] for w in warnings] == [
        "metadata.colour: unknown field", "spec.status: unknown field",
        "spec.containers[*].env: ignored (environment variables are not simulated)"]


def test_every_known_kind_has_a_schema_whose_root_requires_api_version_and_kind() -> None:
    for key, kind_schema in schema.KINDS.items():
        assert {"apiVersion", "kind"} <= kind_schema.root.required, key


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
    | st.sampled_from(["In", "1x", "10%", "720h", "Never", "Always", "cpu", "a/b"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["spec", "template", "containers", "resources", "requests", "requirements", "values",
                         "operator", "key", "disruption", "budgets", "metadata", "labels", "name", "x"]),
        inner, max_size=4),
    max_leaves=25)


@settings(max_examples=500, deadline=None)
@given(kind=st.sampled_from(sorted(schema.KINDS)), body=st.dictionaries(
    st.sampled_from(["metadata", "spec", "status", "value", "data", "extra"]), _JSON, max_size=4))
def test_validate_reports_instead_of_raising_whatever_the_content(kind: tuple[str, str], body: dict[str, Any]) -> None:
    obj = {"apiVersion": kind[0], "kind": kind[1], **body}
    report = validate(Document(obj, "fuzz.yaml", 0))
    assert all(isinstance(e, InvalidScenario) and e.obj for e in report.errors)
